package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/engine"
)

// farFuture is 9999-12-31T00:00:00Z, the date of the record issue 13
// found firing every timer of its partition at once.
var farFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli()

// rejecting is a Source that records what the Driver rejects.
type rejecting struct {
	lines
	rejected []error
	at       []int // input positions (0-based)
}

func (r *rejecting) Reject(err error) {
	r.rejected = append(r.rejected, err)
	r.at = append(r.at, r.i-1)
}

// aheadJourneys is 40 customers who sign up and buy in the first days of
// the input, and a third of whom keep engaging: the rest fall silent (a
// silent-customer alert due 14 days after their purchase), and everyone
// is in conversion or later (churn due after 60 quiet days). A daily
// heartbeat customer moves the watermark forward for 90 days, so timers
// fall due one by one, by event time.
func aheadJourneys() []engine.Event {
	var evs []engine.Event
	for i := range 40 {
		c := fmt.Sprintf("c%02d", i)
		at := t0 + int64(i)*hour
		evs = append(evs, ev(c, "Signed Up", at, c+"-s"), purchase(c, at+day, c+"-p", 49))
	}
	for d := int64(2); d < 90; d++ {
		evs = append(evs, ev("heartbeat", "Signed In", t0+d*day, fmt.Sprintf("hb%d", d)))
		for i := 0; i < 40; i += 3 {
			c := fmt.Sprintf("c%02d", i)
			evs = append(evs, ev(c, "Signed In", t0+d*day+int64(i)*time.Minute.Milliseconds(), fmt.Sprintf("%s-e%d", c, d)))
		}
	}
	return evs
}

// runEvents runs evs through a fresh partition with opts (and the clock
// now, when non-zero) and returns the output records and what the source
// rejected.
func runEvents(t *testing.T, evs []engine.Event, opts engine.Options, now int64) ([]string, *rejecting, engine.Stats) {
	t.Helper()
	_, p := openPartition(t, t.TempDir(), opts)
	src := &rejecting{lines: lines{evs: eventsOf(evs...)}}
	d := engine.NewDriver(p)
	d.SetNow(now)
	var out []string
	st, err := d.Run(context.Background(), src, engine.RunOptions{BatchSize: 100}, func(o *engine.Outputs) error {
		for _, r := range o.Records {
			out = append(out, string(r.Value))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, src, st
}

func countContaining(recs []string, sub string) int {
	n := 0
	for _, r := range recs {
		if strings.Contains(r, sub) {
			n++
		}
	}
	return n
}

// TestFarFutureEventDoesNotFireTimers is issue 13's first bad input: one
// event dated 9999-12-31 among ordinary journeys. Without a bound it fires
// every due timer of the partition at once (premature silence and churn),
// and then holds the watermark there, so no timer fires again. With
// MaxEventAhead it is rejected, reported to the source with its reason,
// and the outputs are those of the input without it, record for record.
func TestFarFutureEventDoesNotFireTimers(t *testing.T) {
	clean := aheadJourneys()
	bad := ev("c05", "Signed In", farFuture, "c05-future")
	const at = 200 // a few days into the input
	dirty := append(append(append([]engine.Event{}, clean[:at]...), bad), clean[at:]...)

	want, _, _ := runEvents(t, clean, engine.Options{}, 0)
	if n := countContaining(want, `"to":"churned"`); n == 0 {
		t.Fatal("the clean input churns nobody: the test does not test what it means to")
	}

	// The bug, kept visible: without a bound the outputs differ.
	broken, _, _ := runEvents(t, dirty, engine.Options{}, 0)
	if strings.Join(broken, "\n") == strings.Join(want, "\n") {
		t.Fatal("without a bound the far-future event changed nothing: the test does not reproduce the bug")
	}

	for _, tc := range []struct {
		name  string
		now   int64
		refIs string
	}{
		{"input progress", 0, "newest event"},
		{"wall clock", t0 + 91*day, "clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, src, st := runEvents(t, dirty, engine.Options{MaxEventAhead: 24 * time.Hour}, tc.now)
			if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
				t.Errorf("outputs differ from the input without the far-future event (%d records, want %d; churned %d, want %d)",
					len(got), len(want), countContaining(got, `"to":"churned"`), countContaining(want, `"to":"churned"`))
			}
			if st.Ahead != 1 || len(src.rejected) != 1 || src.at[0] != at {
				t.Fatalf("rejected %d events at %v (stats %d), want 1 at position %d", len(src.rejected), src.at, st.Ahead, at)
			}
			var ae *engine.AheadError
			if !errors.As(src.rejected[0], &ae) || ae.Time != farFuture || ae.RefIs != tc.refIs {
				t.Fatalf("rejection %v, want an AheadError for %d against the %s", src.rejected[0], farFuture, tc.refIs)
			}
			msg := ae.Error()
			for _, s := range []string{engine.ReasonEventAhead, "9999-12-31T00:00:00.000Z", "1d", tc.refIs} {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
			if st.Records() != int64(len(dirty)) {
				t.Errorf("stats cover %d records, want %d", st.Records(), len(dirty))
			}
		})
	}
}

// TestMaxEventAheadBoundary: an event exactly MaxEventAhead ahead of the
// reference is applied, one a millisecond later is not; against the
// input's progress the reference is the newest applied event (not the
// rejected one), and the first event of a partition is not judged.
func TestMaxEventAheadBoundary(t *testing.T) {
	const bound = 24 * time.Hour
	b := bound.Milliseconds()
	for _, tc := range []struct {
		name   string
		now    int64
		evs    []engine.Event
		reject []int // positions rejected
	}{
		{"progress: at the bound applied, just over rejected", 0, []engine.Event{
			ev("a", "Signed Up", t0, "1"),
			ev("b", "Signed Up", t0+b+1, "2"),
			ev("c", "Signed Up", t0+b, "3"),
			ev("d", "Signed Up", t0+2*b+1, "4"), // the newest is t0+b now
			ev("e", "Signed Up", t0+2*b, "5"),
		}, []int{1, 3}},
		{"progress: the first event is not judged", 0, []engine.Event{
			ev("a", "Signed Up", farFuture, "1"),
			ev("b", "Signed Up", t0, "2"),
		}, nil},
		{"progress: late events are fine", 0, []engine.Event{
			ev("a", "Signed Up", t0+10*b, "1"),
			ev("b", "Signed Up", t0, "2"),
		}, nil},
		{"clock: at the bound applied, just over rejected", t0, []engine.Event{
			ev("a", "Signed Up", t0+b, "1"),
			ev("b", "Signed Up", t0+b+1, "2"),
			ev("c", "Signed Up", farFuture, "3"),
			ev("d", "Signed Up", t0-100*b, "4"),
		}, []int{1, 2}},
		{"clock: the first event is judged", t0, []engine.Event{
			ev("a", "Signed Up", farFuture, "1"),
		}, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, src, st := runEvents(t, tc.evs, engine.Options{MaxEventAhead: bound}, tc.now)
			if fmt.Sprint(src.at) != fmt.Sprint(tc.reject) && !(len(src.at) == 0 && len(tc.reject) == 0) {
				t.Errorf("rejected positions %v, want %v (%v)", src.at, tc.reject, src.rejected)
			}
			if st.Ahead != int64(len(tc.reject)) || st.Applied != int64(len(tc.evs)-len(tc.reject)) {
				t.Errorf("stats %+v, want %d ahead", st, len(tc.reject))
			}
		})
	}
}

// TestMaxEventAheadResumes: judged against the input's progress, a run
// resumed on the same store judges as one uninterrupted run would (the
// newest event time is in the checkpoint), and the watermark never passes
// the newest applied event.
func TestMaxEventAheadResumes(t *testing.T) {
	dir := t.TempDir()
	opts := engine.Options{MaxEventAhead: 24 * time.Hour}
	eng, p := openPartition(t, dir, opts)
	if _, err := engine.NewDriver(p).Run(context.Background(), &lines{evs: eventsOf(ev("a", "Signed Up", t0, "1"))}, engine.RunOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	eng.Release(p)
	eng.Close()
	_, p = openPartition(t, dir, opts)
	src := &rejecting{lines: lines{evs: eventsOf(ev("a", "Signed Up", t0, "1"), ev("b", "Signed Up", farFuture, "2"))}}
	st, err := engine.NewDriver(p).Run(context.Background(), src, engine.RunOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ahead != 1 || st.Stale != 1 || len(src.at) != 1 || src.at[0] != 1 {
		t.Fatalf("stats %+v, rejected %v: want the far-future event rejected after the resume", st, src.at)
	}
	if wm := p.Watermark(); wm > t0 {
		t.Errorf("watermark %s, beyond the newest applied event", time.UnixMilli(wm).UTC())
	}
	if p.Next() != 2 {
		t.Errorf("next position %d, want 2: the rejected record is consumed", p.Next())
	}
}
