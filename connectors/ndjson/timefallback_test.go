package ndjson_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/ndjson"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// stagesAt returns the time of each customer's first stage record.
func stagesAt(t *testing.T, out []byte) map[string]string {
	t.Helper()
	at := map[string]string{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var rec struct {
			Kind       string `json:"kind"`
			CustomerID string `json:"customer_id"`
			At         string `json:"at"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("output %q: %v", line, err)
		}
		if _, seen := at[rec.CustomerID]; rec.Kind == "stage" && !seen {
			at[rec.CustomerID] = rec.At
		}
	}
	return at
}

// TestReplayTimeFallback is replay's documented rule for lines without
// any time of their own: such a line takes the time of the previous line
// that became an event, or --now (Options.Now) when none did; without
// --now the first is a bad line (no_timestamp). A Segment message with
// only sentAt is dated by it. The summary counts the fallbacks.
func TestReplayTimeFallback(t *testing.T) {
	input := []byte(strings.Join([]string{
		`{"type":"track","event":"Signed Up","userId":"a"}`,
		`{"type":"track","event":"Signed Up","userId":"b","timestamp":"2026-03-01T10:00:00Z"}`,
		`{"type":"track","event":"Signed Up","userId":"d"}`,
		`{"type":"track","event":"Signed Up","userId":"c","sentAt":"2026-03-02T00:00:00Z"}`,
		`{"type":"track","event":"Signed In","userId":"e"}`,
	}, "\n") + "\n")

	out, sum := replay(t, input, ndjson.Options{}, engine.Options{})
	if sum.BadCount != 1 || sum.Bad[0].Line != 1 || sum.Bad[0].Reason != decode.ReasonNoTimestamp {
		t.Errorf("bad lines %+v, want line 1 as no_timestamp", sum.Bad)
	}
	at := stagesAt(t, out)
	for customer, want := range map[string]string{
		"b": "2026-03-01T10:00:00.000Z",
		"d": "2026-03-01T10:00:00.000Z", // the previous line's
		"c": "2026-03-02T00:00:00.000Z", // sentAt
	} {
		if at[customer] != want {
			t.Errorf("without --now: %s's first stage at %q, want %s", customer, at[customer], want)
		}
	}
	if _, ok := at["a"]; ok {
		t.Errorf("without --now, line 1 (no time, nothing before it) became an event")
	}
	if sum.TimeFallbacks[decode.FallbackRecord] != 2 || sum.TimeFallbacks[decode.FallbackSentAt] != 1 {
		t.Errorf("fallbacks %v, want record 2 and sentAt 1", sum.TimeFallbacks)
	}
	var text bytes.Buffer
	sum.Format(&text)
	if !strings.Contains(text.String(), "dated by: sentAt 1, newest event or --now 2") {
		t.Errorf("summary does not tell the fallbacks:\n%s", text.String())
	}

	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	out, sum = replay(t, input, ndjson.Options{Now: now}, engine.Options{})
	if sum.BadCount != 0 {
		t.Errorf("with --now: bad lines %+v, want none", sum.Bad)
	}
	if got := stagesAt(t, out)["a"]; got != "2026-02-01T00:00:00.000Z" {
		t.Errorf("with --now: a's first stage at %q, want --now's 2026-02-01T00:00:00.000Z", got)
	}
	if got := stagesAt(t, out)["d"]; got != "2026-03-01T10:00:00.000Z" {
		t.Errorf("with --now: d's first stage at %q, want the previous line's time, not --now", got)
	}
}

// TestReplayTimeFallbackResume: a replay resumed from its state directory
// dates a line without a time of its own as the whole run did, by the
// line before it even when that line was applied by the earlier run.
func TestReplayTimeFallbackResume(t *testing.T) {
	first := []byte(`{"type":"track","event":"Signed Up","userId":"b","timestamp":"2026-03-01T10:00:00Z"}` + "\n")
	all := append(append([]byte{}, first...), `{"type":"track","event":"Signed Up","userId":"d"}`+"\n"...)
	whole, _ := replay(t, all, ndjson.Options{BatchSize: 1}, engine.Options{})

	dir := t.TempDir()
	run := func(input []byte) []byte {
		eng, err := engine.Open(dir, rules.Default(), engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		p, err := eng.Partition(0)
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Release(p)
		var out bytes.Buffer
		if _, err := ndjson.Replay(context.Background(), bytes.NewReader(input), p, &out, ndjson.Options{BatchSize: 1}); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	resumed := append(run(first), run(all)...)
	if !bytes.Equal(resumed, whole) {
		t.Errorf("resumed replay:\n%s\nwhole replay:\n%s", resumed, whole)
	}
	if got := stagesAt(t, resumed)["d"]; got != "2026-03-01T10:00:00.000Z" {
		t.Errorf("d's first stage at %q after the resume, want the skipped line's time", got)
	}
}
