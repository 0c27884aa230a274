package engine_test

import (
	"slices"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// timeline reads a customer's stored timeline as raw record texts.
func (h *harness) timeline(customer string) []string {
	h.t.Helper()
	recs, _, err := h.eng.Timeline(0, customer)
	if err != nil {
		h.t.Fatalf("timeline of %s: %v", customer, err)
	}
	var s []string
	for _, r := range recs {
		s = append(s, string(r))
	}
	return s
}

// A customer's timeline is its last TimelineRecords output records, in
// order, written with the checkpoint: another customer's records, an
// aborted batch's and a failed checkpoint's are not lost or mixed in, and
// it survives a restart.
func TestTimelineKeepsTheLastRecords(t *testing.T) {
	h := newHarness(t, engine.Options{TimelineRecords: 4})
	steps := []engine.Event{
		ev("ann", "Signed Up", t0, "a1"),
		ev("bob", "Signed Up", t0+hour, "b1"),
		purchase("ann", t0+day, "a2", 100),
		nps("ann", t0+2*day, "a3", 2),
		purchase("ann", t0+3*day, "a4", 50),
		nps("ann", t0+4*day, "a5", 10),
	}
	for _, e := range steps {
		h.apply(e)
		h.commit()
	}
	all := raws(h.of("ann", true))
	if len(all) <= 4 {
		t.Fatalf("ann has %d records: the test needs more than the 4 kept: %v", len(all), summary(h.of("ann", true)))
	}
	if got := h.timeline("ann"); !slices.Equal(got, all[len(all)-4:]) {
		t.Errorf("ann's timeline:\n%v\nwant her last 4 records:\n%v", got, all[len(all)-4:])
	}
	if got := h.timeline("bob"); !slices.Equal(got, raws(h.of("bob", true))) || len(got) == 0 {
		t.Errorf("bob's timeline %v, want his records %v", got, raws(h.of("bob", true)))
	}

	// An aborted batch leaves no trace.
	before, n := h.timeline("ann"), len(h.recs)
	h.apply(nps("ann", t0+5*day, "a6", 1))
	if _, err := h.d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Abort(); err != nil {
		t.Fatal(err)
	}
	h.recs, h.drained = h.recs[:n], 0
	if got := h.timeline("ann"); !slices.Equal(got, before) {
		t.Errorf("after an aborted batch, ann's timeline changed:\n%v\nwant\n%v", got, before)
	}

	h.reopen()
	if got := h.timeline("ann"); !slices.Equal(got, before) {
		t.Errorf("after a restart, ann's timeline:\n%v\nwant\n%v", got, before)
	}

	// Fewer records kept after a restart: the newest of them.
	h.close()
	h.opts.TimelineRecords = 2
	h.open()
	if got := h.timeline("ann"); !slices.Equal(got, before[2:]) {
		t.Errorf("kept 2 after 4, ann's timeline:\n%v\nwant her last 2 records:\n%v", got, before[2:])
	}
}

// With deferred checkpoints the timeline is written by the checkpoint
// (and read from the commits before it), and a failed checkpoint keeps its
// records for the retry, once each.
func TestTimelineFailedCheckpointRetried(t *testing.T) {
	h := newHarness(t, engine.Options{TimelineRecords: 10, CheckpointEvents: 1000})
	h.apply(ev("ann", "Signed Up", t0, "a1"))
	h.commit()
	h.apply(purchase("ann", t0+day, "a2", 100))
	h.commit()
	// Committed, not yet checkpointed: read as Lookup reads states.
	if got, want := h.timeline("ann"), raws(h.of("ann", true)); !slices.Equal(got, want) {
		t.Errorf("timeline before the checkpoint:\n%v\nwant the committed records:\n%v", got, want)
	}
	h.eng.FailNextCheckpoint()
	if err := h.p.Checkpoint(); err == nil {
		t.Fatal("the injected checkpoint failure was not reported")
	}
	if err := h.p.Checkpoint(); err != nil {
		t.Fatalf("retry: %v", err)
	}
	h.close()
	h.open()
	if got, want := h.timeline("ann"), raws(h.of("ann", true)); !slices.Equal(got, want) || len(want) < 3 {
		t.Errorf("after a failed checkpoint, its retry and a restart, ann's timeline:\n%v\nwant her records once each:\n%v", got, want)
	}
}

// Without TimelineRecords no timeline is kept.
func TestTimelineOff(t *testing.T) {
	h := newHarness(t, engine.Options{})
	h.apply(ev("ann", "Signed Up", t0, "a1"))
	h.commit()
	if recs, found, err := h.eng.Timeline(0, "ann"); found || len(recs) != 0 || err != nil {
		t.Errorf("timeline with TimelineRecords 0: %d records, found %v, %v; want none", len(recs), found, err)
	}
	if _, err := engine.Open(t.TempDir(), rules.Default(), engine.Options{TimelineRecords: engine.MaxTimelineRecords + 1}); err == nil {
		t.Error("Open took TimelineRecords over the maximum")
	}
}
