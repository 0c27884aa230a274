package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// lifeline runs the command in-process and returns its exit code, stdout
// and stderr.
func lifeline(t *testing.T, stdin []byte, args ...string) (int, []byte, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, bytes.NewReader(stdin), &stdout, &stderr)
	return code, stdout.Bytes(), stderr.String()
}

// workloadFile writes `lifeline gen` output to a file and returns its path
// and lines.
func workloadFile(t *testing.T, args ...string) (string, [][]byte) {
	t.Helper()
	code, out, errs := lifeline(t, nil, append([]string{"gen"}, args...)...)
	if code != 0 {
		t.Fatalf("gen: exit %d: %s", code, errs)
	}
	path := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, bytes.SplitAfter(out, []byte("\n"))
}

// TestReplayResume: replaying the first half of a file into a state
// directory, then the whole file into the same directory, gives the output
// of one uninterrupted replay of the whole file, split at the half: the
// second run skips what the first applied and repeats nothing.
func TestReplayResume(t *testing.T) {
	full, lines := workloadFile(t, "--customers", "150", "--days", "60", "--seed", "3")
	n := len(lines) / 2
	half := filepath.Join(t.TempDir(), "half.ndjson")
	if err := os.WriteFile(half, bytes.Join(lines[:n], nil), 0o644); err != nil {
		t.Fatal(err)
	}

	code, ref, errs := lifeline(t, nil, "replay", "--in", full, "--batch", "97")
	if code != 0 {
		t.Fatalf("uninterrupted replay: exit %d: %s", code, errs)
	}
	state := t.TempDir()
	code, first, errs := lifeline(t, nil, "replay", "--state-dir", state, "--in", half, "--batch", "97")
	if code != 0 {
		t.Fatalf("replay of the first half: exit %d: %s", code, errs)
	}
	code, second, errs := lifeline(t, nil, "replay", "--state-dir", state, "--in", full, "--batch", "97")
	if code != 0 {
		t.Fatalf("replay of the whole file on the same state: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, strconv.Itoa(n)+" lines skipped") {
		t.Errorf("second run's summary does not report the %d lines it skipped:\n%s", n, errs)
	}
	if len(first) == 0 || len(second) == 0 {
		t.Fatalf("both runs should produce records: %d and %d bytes", len(first), len(second))
	}
	if !bytes.HasSuffix(ref, second) {
		t.Errorf("second run's output (%d bytes) is not the tail of the uninterrupted output (%d bytes)", len(second), len(ref))
	}
	if got := append(append([]byte(nil), first...), second...); !bytes.Equal(got, ref) {
		t.Errorf("first + second run outputs (%d bytes) differ from the uninterrupted output (%d bytes)", len(got), len(ref))
	}

	// A third run over the same file finds everything applied.
	code, third, errs := lifeline(t, nil, "replay", "--state-dir", state, "--in", full)
	if code != 0 || len(third) != 0 || !strings.Contains(errs, "0 events applied") {
		t.Errorf("replaying an applied file again: exit %d, %d bytes of output, summary:\n%s", code, len(third), errs)
	}
}

// TestReplayCommandErrors: bad flags fail with a message naming the flag,
// before any work.
func TestReplayCommandErrors(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.ndjson")
	if err := os.WriteFile(in, []byte(`{"type":"track","event":"Signed Up","userId":"u1","timestamp":"2026-03-02T08:00:00Z"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"batch zero", []string{"replay", "--in", in, "--batch", "0"}, "--batch"},
		{"until not RFC 3339", []string{"replay", "--in", in, "--until", "tomorrow"}, "--until"},
		{"missing input", []string{"replay", "--in", filepath.Join(t.TempDir(), "nope.ndjson")}, "--in"},
		{"now not RFC 3339", []string{"replay", "--in", in, "--now", "today"}, "--now"},
		{"negative max event ahead", []string{"replay", "--in", in, "--max-event-ahead", "-1h"}, "--max-event-ahead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := lifeline(t, nil, tc.args...)
			if code == 0 || len(out) != 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want a failure naming %s", code, out, errs, tc.want)
			}
		})
	}
}

// TestReplayStdinAndUntil: events from stdin; --until fires the timers due
// by then (a sign-up abandoned for 30 days), and not before.
func TestReplayStdinAndUntil(t *testing.T) {
	in := []byte(`{"type":"track","event":"Signed Up","userId":"jane","messageId":"m1","timestamp":"2026-03-02T08:00:00Z"}` + "\n" +
		"not json\n")
	for _, tc := range []struct {
		until     string
		abandoned bool
	}{
		{"", false},
		{"2026-04-01T07:59:59Z", false},
		{"2026-04-01T08:00:00Z", true},
	} {
		args := []string{"replay", "--in", "-"}
		if tc.until != "" {
			args = append(args, "--until", tc.until)
		}
		code, out, errs := lifeline(t, in, args...)
		if code != 0 {
			t.Fatalf("until %q: exit %d: %s", tc.until, code, errs)
		}
		got := bytes.Contains(out, []byte(`"rule":"abandoned-signup","severity":"info","status":"firing"`))
		if got != tc.abandoned {
			t.Errorf("until %q: abandoned-signup fired %v, want %v:\n%s", tc.until, got, tc.abandoned, out)
		}
		if !strings.Contains(errs, "line 2: malformed_json") {
			t.Errorf("until %q: the bad line is not reported with its line number:\n%s", tc.until, errs)
		}
	}
}

// TestFlagVocabulary: the flags speak the config's language: --state-dir
// everywhere, --allowed-lateness and --max-event-ahead for
// engine.allowed_lateness and engine.max_event_ahead with their duration
// syntax (days included), --version, and run --help lists the
// environment variables.
func TestFlagVocabulary(t *testing.T) {
	in := []byte(`{"type":"track","event":"Signed Up","userId":"jane","messageId":"m1","timestamp":"2026-03-02T08:00:00Z"}` + "\n" +
		`{"type":"track","event":"Signed In","userId":"jane","messageId":"m2","timestamp":"2026-03-05T08:00:00Z"}` + "\n" +
		`{"type":"track","event":"Order Completed","userId":"jane","messageId":"m3","timestamp":"2026-03-03T08:00:00Z"}` + "\n")
	state := t.TempDir()
	// jane's 03-05 event is three days past the newest before it: more
	// than the default --max-event-ahead of 1d.
	code, _, errs := lifeline(t, in, "replay", "--in", "-", "--state-dir", state, "--allowed-lateness", "1d", "--max-event-ahead", "3d")
	if code != 0 || !strings.Contains(errs, "0 bad records") {
		t.Fatalf("replay --state-dir --allowed-lateness 1d --max-event-ahead 3d: exit %d: %s", code, errs)
	}
	// The state went to --state-dir, with the lateness: the watermark
	// trails the newest event (03-05) by a day.
	eng, err := engine.Open(state, rules.Default(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := eng.StoredMeta(0)
	eng.Close()
	if err != nil || m.Watermark != time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("watermark %v (%v), want 2026-03-04T08:00Z", time.UnixMilli(m.Watermark).UTC(), err)
	}
	if code, _, errs := lifeline(t, in, "replay", "--in", "-", "--allowed-lateness", "soon"); code == 0 || !strings.Contains(errs, "--allowed-lateness") {
		t.Errorf("a bad duration: exit %d, %s", code, errs)
	}
	// The old names still work, with a warning.
	old := t.TempDir()
	if code, _, errs := lifeline(t, in, "replay", "--in", "-", "--state", old, "--lateness", "1d"); code != 0 || !strings.Contains(errs, "--state is now --state-dir") || !strings.Contains(errs, "--lateness is now --allowed-lateness") {
		t.Errorf("replay --state --lateness: exit %d, %s", code, errs)
	}
	if m, _ := filepath.Glob(filepath.Join(old, "MANIFEST-*")); len(m) == 0 {
		t.Errorf("--state DIR did not put the store in DIR")
	}
	if code, out, _ := lifeline(t, nil, "--version"); code != 0 || !strings.HasPrefix(string(out), "lifeline ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	code, out, _ := lifeline(t, nil, "run", "--help")
	for _, want := range []string{"LIFELINE_SASL_PASSWORD", "sasl.password", "LIFELINE_ENGINE_ALLOWED_LATENESS", "--state-dir"} {
		if code != 0 || !strings.Contains(string(out), want) {
			t.Errorf("run --help (exit %d) lacks %s", code, want)
		}
	}
}

// TestReplayEventAhead: by default replay lists a line dated more than a
// day past the newest event before it as bad (event_time_ahead, with its
// line number and a hint), applies the rest, and its outputs are those of
// the input without it; --max-event-ahead 0 applies it; --now judges
// against that time, the first line too; replay --help documents the rule.
func TestReplayEventAhead(t *testing.T) {
	_, lines := workloadFile(t, "--customers", "100", "--days", "60", "--seed", "5")
	at := len(lines) / 2
	far := []byte(`{"type":"track","event":"Signed In","userId":"cus_000003","messageId":"far","timestamp":"9999-12-31T00:00:00Z"}` + "\n")
	clean := bytes.Join(lines, nil)
	dirty := bytes.Join(append(append(append([][]byte{}, lines[:at]...), far), lines[at:]...), nil)

	code, want, errs := lifeline(t, clean, "replay", "--in", "-")
	if code != 0 || strings.Contains(errs, "event_time_ahead") {
		t.Fatalf("clean replay: exit %d: %s", code, errs)
	}
	code, got, errs := lifeline(t, dirty, "replay", "--in", "-")
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errs)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("outputs (%d bytes) differ from the replay without the far-future line (%d bytes)", len(got), len(want))
	}
	for _, s := range []string{"event_time_ahead 1", "line " + strconv.Itoa(at+1) + ": event_time_ahead: event time 9999-12-31T00:00:00.000Z", "raise --max-event-ahead"} {
		if !strings.Contains(errs, s) {
			t.Errorf("summary lacks %q:\n%s", s, errs)
		}
	}
	if code, got, errs := lifeline(t, dirty, "replay", "--in", "-", "--max-event-ahead", "0"); code != 0 || bytes.Equal(got, want) || strings.Contains(errs, "event_time_ahead") {
		t.Errorf("--max-event-ahead 0: exit %d, the far-future line should be applied (and change the outputs): %s", code, errs)
	}
	first := []byte(`{"type":"track","event":"Signed Up","userId":"u1","messageId":"m1","timestamp":"2026-03-03T00:00:00.001Z"}` + "\n")
	if code, _, errs := lifeline(t, first, "replay", "--in", "-", "--now", "2026-03-02T00:00:00Z"); code != 0 || !strings.Contains(errs, "line 1: event_time_ahead") || !strings.Contains(errs, "ahead of the clock (2026-03-02T00:00:00.000Z)") {
		t.Errorf("--now: exit %d, want line 1 judged against it:\n%s", code, errs)
	}
	if code, _, errs := lifeline(t, first, "replay", "--in", "-"); code != 0 || strings.Contains(errs, "event_time_ahead") {
		t.Errorf("without --now the first line cannot be judged: exit %d:\n%s", code, errs)
	}
	code, out, _ := lifeline(t, nil, "replay", "--help")
	help := strings.Join(strings.Fields(string(out)), " ") // unwrapped
	for _, s := range []string{"--max-event-ahead", "--now", "newest event applied before it", "first line cannot be judged"} {
		if code != 0 || !strings.Contains(help, s) {
			t.Errorf("replay --help (exit %d) lacks %q", code, s)
		}
	}
}

// TestReplayConfigInput: --config gives replay run's input keys: a Stripe
// event keyed by the team's own user id in metadata is applied when
// input.customer_paths.stripe names it, and is a bad line (no customer)
// without.
func TestReplayConfigInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ndjson")
	stripe := `{"object":"event","id":"evt_1","type":"customer.subscription.created","created":1767261600,` +
		`"data":{"object":{"object":"subscription","metadata":{"user_id":"u-9"}}}}`
	if err := os.WriteFile(in, []byte(stripe+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "lifeline.yaml")
	if err := os.WriteFile(cfgFile, []byte("input:\n  customer_paths:\n    stripe: [data.object.metadata.user_id, data.object.customer]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := lifeline(t, nil, "replay", "--in", in, "--config", cfgFile)
	if code != 0 || !strings.Contains(errs, "1 events applied") {
		t.Fatalf("exit %d, stderr %q; want the Stripe event applied", code, errs)
	}
	code, _, errs = lifeline(t, nil, "replay", "--in", in)
	if code != 0 || !strings.Contains(errs, "0 events applied") || !strings.Contains(errs, "stripe event customer.subscription.created without data.object.customer") {
		t.Fatalf("without --config: exit %d, stderr %q; want the line bad for want of data.object.customer", code, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("input:\n  max_values: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = lifeline(t, nil, "replay", "--in", in, "--config", bad)
	if code == 0 || !strings.Contains(errs, "input.max_values") {
		t.Errorf("exit %d, stderr %q; want a failure naming input.max_values", code, errs)
	}
}
