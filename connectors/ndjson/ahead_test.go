package ndjson_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/ndjson"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
)

// generated is a `lifeline gen` workload as NDJSON lines.
func generated(t *testing.T, cfg journey.Config) [][]byte {
	t.Helper()
	g, err := journey.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for r, ok := g.Next(); ok; r, ok = g.Next() {
		lines = append(lines, bytes.Clone(r.Value))
	}
	return lines
}

func joinLines(lines ...[]byte) []byte { return append(bytes.Join(lines, []byte("\n")), '\n') }

// TestReplayFarFutureEvent is issue 13's first bad input in replay: 200
// generated customers over 90 days, and one event dated 9999-12-31 a third
// of the way in. Without a bound it churns customers early by the dozen
// and then no timer fires again; with the bound judged against the
// input's progress the line is listed as bad (event_time_ahead, with its
// line number) and the outputs are byte for byte those of the input
// without it.
func TestReplayFarFutureEvent(t *testing.T) {
	lines := generated(t, journey.Config{Customers: 200, Days: 90, Seed: 3})
	at := len(lines) / 3
	bad := []byte(`{"type":"track","event":"Signed In","userId":"cus_000007","messageId":"far","timestamp":"9999-12-31T00:00:00Z"}`)
	clean := joinLines(lines...)
	dirty := joinLines(append(append(append([][]byte{}, lines[:at]...), bad), lines[at:]...)...)
	bounded := engine.Options{MaxEventAhead: 24 * time.Hour}

	want, wantSum := replay(t, clean, ndjson.Options{}, bounded)
	if n := wantSum.BadReasons[ndjson.ReasonEventAhead]; n != 0 {
		t.Fatalf("the generated input has %d lines judged too far ahead: the bound would reject real journeys", n)
	}
	broken, _ := replay(t, dirty, ndjson.Options{}, engine.Options{})
	churned := func(out []byte) int { return bytes.Count(out, []byte(`"to":"churned"`)) }
	t.Logf("churn transitions: %d without the far-future event, %d with it and no bound", churned(want), churned(broken))
	if bytes.Equal(broken, want) {
		t.Fatal("without a bound the far-future event changed nothing: the test does not reproduce the bug")
	}

	got, sum := replay(t, dirty, ndjson.Options{}, bounded)
	if !bytes.Equal(got, want) {
		t.Errorf("outputs differ from the replay without the far-future line:%s", lineDiff(want, got))
	}
	if sum.BadCount != wantSum.BadCount+1 || sum.BadReasons[ndjson.ReasonEventAhead] != 1 {
		t.Fatalf("%d bad lines (%v), want the clean input's %d and one event_time_ahead", sum.BadCount, sum.BadReasons, wantSum.BadCount)
	}
	var listed *ndjson.BadRecord
	for i := range sum.Bad {
		if sum.Bad[i].Reason == ndjson.ReasonEventAhead {
			listed = &sum.Bad[i]
		}
	}
	if listed == nil || listed.Line != int64(at+1) {
		t.Fatalf("bad lines %+v: want line %d listed as event_time_ahead", sum.Bad, at+1)
	}
	var text strings.Builder
	sum.Format(&text)
	for _, s := range []string{"event_time_ahead 1", "9999-12-31T00:00:00.000Z", "1d ahead of the newest event"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("summary does not say %q:\n%s", s, text.String())
		}
	}
}

// TestReplayNow: with Options.Now the bound is judged against that time,
// as the Kafka runtime judges it against its clock: exactly at the bound
// applied, a millisecond over rejected, the first line judged too.
func TestReplayNow(t *testing.T) {
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	line := func(user, ts string) []byte {
		return []byte(`{"type":"track","event":"Signed Up","userId":"` + user + `","messageId":"` + user + `","timestamp":"` + ts + `"}`)
	}
	in := joinLines(
		line("over", "2026-03-11T00:00:00.001Z"),
		line("at", "2026-03-11T00:00:00Z"),
		line("past", "2026-01-01T00:00:00Z"),
	)
	out, sum := replay(t, in, ndjson.Options{Now: now.UnixMilli()}, engine.Options{MaxEventAhead: 24 * time.Hour})
	if sum.Events != 2 || sum.BadCount != 1 || len(sum.Bad) != 1 || sum.Bad[0].Line != 1 || sum.Bad[0].Reason != ndjson.ReasonEventAhead {
		t.Fatalf("summary %+v: want line 1 rejected, lines 2 and 3 applied", sum)
	}
	if !strings.Contains(sum.Bad[0].Msg, "ahead of the clock (2026-03-10T00:00:00.000Z)") {
		t.Errorf("message %q does not name the clock", sum.Bad[0].Msg)
	}
	if bytes.Contains(out, []byte(`"customer_id":"over"`)) {
		t.Error("the rejected event has outputs")
	}
}

// TestReplayQuietSpell: judged against the input's own progress, a quiet
// spell longer than the bound (a weekend with no events in a small
// partition) must not turn the rest of the input away: CI's kill -9 test
// found a partition whose events paused 25 hours on day two, after which
// replay rejected all 4173 lines. The lines after a gap confirm its time;
// outliers, alone, in a pair, or last, are still rejected.
func TestReplayQuietSpell(t *testing.T) {
	n := 0
	line := func(ts string) []byte {
		n++
		return []byte(`{"type":"track","event":"Signed In","userId":"cus_1","messageId":"m` + string(rune('a'+n)) + `","timestamp":"` + ts + `"}`)
	}
	far := func() []byte { return line("9999-12-31T00:00:00Z") }
	in := joinLines(
		line("2026-03-01T00:00:00Z"),
		line("2026-03-01T10:00:00Z"),
		line("2026-03-04T09:00:00Z"), // 3 quiet days: applied, the next two confirm it
		line("2026-03-04T09:05:00Z"),
		[]byte(""),
		[]byte("not json"),
		line("2026-03-04T09:06:00Z"),
		far(), // line 8: one outlier
		line("2026-03-04T10:00:00Z"),
		far(), far(), // lines 10-11: a pair, confirmed by nothing after
		line("2026-03-04T11:00:00Z"),
		line("2026-03-04T12:00:00Z"),
		line("2026-03-09T00:00:00Z"), // line 14: a gap, then the end: nothing confirms it
	)
	_, sum := replay(t, in, ndjson.Options{}, engine.Options{MaxEventAhead: 24 * time.Hour})
	var ahead []int64
	for _, b := range sum.Bad {
		if b.Reason == ndjson.ReasonEventAhead {
			ahead = append(ahead, b.Line)
		}
	}
	if fmt.Sprint(ahead) != "[8 10 11 14]" || sum.Events != 8 {
		t.Fatalf("%d events applied, lines rejected as too far ahead %v: want 8 applied and lines [8 10 11 14] rejected (bad: %+v)", sum.Events, ahead, sum.Bad)
	}
}
