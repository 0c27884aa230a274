package engine_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
)

// lines is a Source of events where some positions carry none (nil).
type lines struct {
	evs []*engine.Event
	i   int
}

func (l *lines) Next() (int64, error) {
	if l.i >= len(l.evs) {
		return 0, io.EOF
	}
	l.i++
	return int64(l.i - 1), nil
}

func (l *lines) Event(ev *engine.Event) bool {
	if e := l.evs[l.i-1]; e != nil {
		*ev = *e
		return true
	}
	return false
}

func eventsOf(evs ...engine.Event) []*engine.Event {
	out := make([]*engine.Event, len(evs))
	for i := range evs {
		out[i] = &evs[i]
	}
	return out
}

// TestDriverRun: Run cuts the input into batches, hands each batch's
// outputs to emit before it commits the batch (so emit's failure leaves the
// batch uncommitted), raises the watermark to Until after the input, and
// counts what it did; a second Run over the same input on the same store
// skips what the first committed.
func TestDriverRun(t *testing.T) {
	dir := t.TempDir()
	input := eventsOf(
		ev("ann", "Signed Up", t0, "a1"),
		ev("ann", "Signed Up", t0, "a1"), // a duplicate
		ev("bob", "Signed Up", t0+hour, "b1"),
		ev("ann", "Order Completed", t0+2*hour, "a2"),
		ev("cy", "Email Opened", t0+3*hour, "c1"),
	)
	input = append(input[:2], append([]*engine.Event{nil}, input[2:]...)...) // position 2 carries no event

	eng, p := openPartition(t, dir, engine.Options{})
	var batches []int
	var emitted int
	var nextAtEmit []int64
	st, err := engine.NewDriver(p).Run(context.Background(), &lines{evs: input}, engine.RunOptions{BatchSize: 4, Until: t0 + 31*day},
		func(out *engine.Outputs) error {
			batches = append(batches, len(out.Records))
			emitted += len(out.Records)
			m, _, err := eng.StoredMeta(0)
			nextAtEmit = append(nextAtEmit, m.Next)
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	want := engine.Stats{Applied: 4, Duplicates: 1, NoEvent: 1}
	st.TimerRuns = 0
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if len(batches) != 2 {
		t.Fatalf("emit called %d times (records %v), want 2 batches of at most 4 records", len(batches), batches)
	}
	// The store had not moved when emit ran: outputs first, then commit.
	if nextAtEmit[0] != 0 || nextAtEmit[1] != 4 {
		t.Errorf("the stored position when emit ran: %v, want [0 4]", nextAtEmit)
	}
	m, _, _ := eng.StoredMeta(0)
	if m.Next != int64(len(input)) || m.Watermark != t0+31*day {
		t.Errorf("after Run: next %d, watermark %d; want %d and Until", m.Next, m.Watermark, len(input))
	}
	// Until fired bob's abandoned sign-up (30 days in acquisition).
	st2, _, _ := eng.Lookup(0, "bob")
	if len(st2.Alerts) != 1 || st2.Alerts[0].Rule != "abandoned-signup" {
		t.Errorf("bob's open alerts after Until: %+v", st2.Alerts)
	}
	eng.Release(p)
	eng.Close()

	// Again on the same store: everything is stale, nothing is emitted.
	eng, p = openPartition(t, dir, engine.Options{})
	defer eng.Close()
	defer eng.Release(p)
	again, err := engine.NewDriver(p).Run(context.Background(), &lines{evs: input}, engine.RunOptions{BatchSize: 4}, func(out *engine.Outputs) error {
		if len(out.Records) > 0 {
			t.Errorf("a second run emitted %d records", len(out.Records))
		}
		return nil
	})
	if err != nil || again != (engine.Stats{Stale: int64(len(input))}) {
		t.Errorf("second run: %+v, %v; want every record stale", again, err)
	}
}

// TestDriverEmitFailure: when emit fails, Run stops and the batch is not
// committed: a restart resumes before it.
func TestDriverEmitFailure(t *testing.T) {
	dir := t.TempDir()
	eng, p := openPartition(t, dir, engine.Options{})
	defer eng.Close()
	defer eng.Release(p)
	boom := errors.New("disk full")
	calls := 0
	_, err := engine.NewDriver(p).Run(context.Background(), &lines{evs: eventsOf(
		ev("ann", "Signed Up", t0, "a1"), ev("bob", "Signed Up", t0, "b1"), ev("cy", "Signed Up", t0, "c1"),
	)}, engine.RunOptions{BatchSize: 2}, func(*engine.Outputs) error {
		if calls++; calls == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want the emit error", err)
	}
	if m, _, _ := eng.StoredMeta(0); m.Next != 2 {
		t.Errorf("stored position %d after the second batch failed to emit, want 2 (the first batch only)", m.Next)
	}
}

// TestDriverBatchOrder: nothing may be applied to a flushed batch; Abort
// takes a batch back, and processing it again gives the same outputs.
func TestDriverBatchOrder(t *testing.T) {
	h := newHarness(t, engine.Options{})
	src := func() engine.Source {
		return &engine.Events{List: []engine.Event{ev("ann", "Signed Up", t0, "a1"), purchase("ann", t0+hour, "a2", 30)}}
	}
	if err := h.d.Process(src()); err != nil {
		t.Fatal(err)
	}
	first, err := h.d.Flush()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, o := range first.Records {
		want = append(want, string(o.Value))
	}
	if err := h.d.Process(src()); err == nil {
		t.Error("Process after Flush: no error")
	}
	if err := h.d.Advance(t0 + day); err == nil {
		t.Error("Advance after Flush: no error")
	}
	if err := h.d.Abort(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.d.Outputs().Records); n != 0 || h.d.Stats() != (engine.Stats{}) {
		t.Fatalf("after Abort: %d records, stats %+v", n, h.d.Stats())
	}
	if err := h.d.Process(src()); err != nil {
		t.Fatal(err)
	}
	again, err := h.d.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Records) != len(want) {
		t.Fatalf("after Abort the batch gave %d records, first %d", len(again.Records), len(want))
	}
	for i, o := range again.Records {
		if string(o.Value) != want[i] {
			t.Errorf("record %d differs after Abort:\n got %s\nwant %s", i, o.Value, want[i])
		}
	}
	if err := h.d.Commit(0); err != nil {
		t.Fatal(err)
	}
	if st := h.state("ann"); st.Stage != "conversion" || st.Purchases != 1 {
		t.Errorf("ann after the committed batch: stage %q, purchases %d", st.Stage, st.Purchases)
	}
}

// TestDriverCountsTimerRuns: Stats count the evaluations timers cause.
func TestDriverCountsTimerRuns(t *testing.T) {
	h := newHarness(t, engine.Options{})
	h.apply(ev("ann", "Signed Up", t0, "a1"))
	h.commit()
	h.advance(t0 + 31*day) // abandoned-signup falls due
	if n := h.d.Stats().TimerRuns; n != 1 {
		t.Errorf("TimerRuns %d after one timer fired, want 1", n)
	}
	h.commit()
	if n := h.d.Stats().TimerRuns; n != 0 {
		t.Errorf("TimerRuns %d after Commit, want 0 (per batch)", n)
	}
}
