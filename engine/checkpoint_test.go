package engine_test

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
)

// journeyStream generates a workload (skewed activity, every touchpoint
// kind, timers falling due): the Segment records and the customer ids.
func journeyStream(t *testing.T, customers, days int) ([][]byte, []string) {
	t.Helper()
	g, err := journey.New(journey.Config{Customers: customers, Days: days, Seed: 11, BadRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	ids := map[string]bool{}
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		recs = append(recs, bytes.Clone(r.Value))
		ids[r.Key] = true
	}
	var all []string
	for id := range ids {
		all = append(all, id)
	}
	return recs, all
}

// records is a Source of encoded events: records from..to of vals, each
// at its index.
type records struct {
	t     *testing.T
	dec   *decode.Decoder
	vals  [][]byte
	i, to int
	curr  int
}

func newRecords(t *testing.T, vals [][]byte, from, to int) *records {
	return &records{t: t, dec: decode.New(decode.Options{}), vals: vals, i: from, to: to}
}

func (r *records) Next() (int64, error) {
	if r.i >= r.to {
		return 0, io.EOF
	}
	r.curr = r.i
	r.i++
	return int64(r.curr), nil
}

func (r *records) Event(ev *engine.Event) bool {
	if err := r.dec.Decode(r.vals[r.curr], nil, ev); err != nil {
		r.t.Fatalf("decode %s: %v", r.vals[r.curr], err)
	}
	return true
}

// openPartition opens an engine on dir and its partition 0; the caller
// releases and closes them (or drops them, to die without a checkpoint).
func openPartition(t *testing.T, dir string, opts engine.Options) (*engine.Engine, *engine.Partition) {
	t.Helper()
	eng, err := engine.Open(dir, rules.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := eng.Partition(0)
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	return eng, p
}

// checkpointIfDue does what a runtime deferring checkpoints does after
// each commit.
func checkpointIfDue(t *testing.T, p *engine.Partition) {
	t.Helper()
	if p.CheckpointDue() {
		if err := p.Checkpoint(); err != nil {
			t.Fatal(err)
		}
	}
}

// runBatches applies evs in batches of n on a fresh engine with opts,
// aborting every abortEvery-th batch once before applying it again (a
// Kafka transaction that failed), and returns the committed outputs in
// order, the engine and its partition.
func runBatches(t *testing.T, evs [][]byte, n, abortEvery int, opts engine.Options) ([]string, *engine.Engine, *engine.Partition) {
	t.Helper()
	eng, p := openPartition(t, t.TempDir(), opts)
	t.Cleanup(func() {
		eng.Release(p)
		eng.Close()
	})
	var recs []string
	d := engine.NewDriver(p)
	apply := func(from, to int) *engine.Outputs {
		if err := d.Process(newRecords(t, evs, from, to)); err != nil {
			t.Fatal(err)
		}
		out, err := d.Flush()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for b, from := 0, 0; from < len(evs); b, from = b+1, from+n {
		to := min(from+n, len(evs))
		if abortEvery > 0 && b%abortEvery == abortEvery-1 {
			apply(from, to)
			if err := d.Abort(); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range apply(from, to).Records {
			recs = append(recs, string(o.Value))
		}
		if err := d.Commit(int64(to)); err != nil {
			t.Fatal(err)
		}
		checkpointIfDue(t, p)
	}
	return recs, eng, p
}

// TestDeferredCheckpointsMatchEveryCommit runs the same journeys with a
// checkpoint at every commit and with checkpoints every few thousand
// events, a small state cache (so pending states force checkpoints and
// eviction skips them) and aborted batches in between: the outputs, and
// after a final checkpoint every stored state and the meta, must be the
// same.
func TestDeferredCheckpointsMatchEveryCommit(t *testing.T) {
	evs, customers := journeyStream(t, 300, 60)
	if len(evs) < 5000 {
		t.Fatalf("workload too small: %d events", len(evs))
	}
	want, refEng, _ := runBatches(t, evs, 150, 0, engine.Options{})
	for _, tc := range []struct {
		name string
		opts engine.Options
	}{
		// Pending states reach half the cache within a batch or two:
		// checkpoints come from that bound, and eviction must skip them.
		{"small cache", engine.Options{CheckpointEvents: 4000, CacheStates: 120}},
		// Every customer fits: checkpoints every 4000 events, aborts in
		// between undo timer changes over uncheckpointed ones.
		{"large cache", engine.Options{CheckpointEvents: 4000, CacheStates: 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, eng, p := runBatches(t, evs, 150, 7, tc.opts)
			if len(got) != len(want) {
				t.Fatalf("deferred checkpoints produced %d records, every-commit %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("record %d differs:\n got %s\nwant %s", i, got[i], want[i])
				}
			}
			compare := func(when string) {
				t.Helper()
				for _, c := range customers {
					ws, wok, werr := refEng.Lookup(0, c)
					gs, gok, gerr := eng.Lookup(0, c)
					if werr != nil || gerr != nil || wok != gok || !reflect.DeepEqual(gs, ws) {
						t.Fatalf("%s: customer %s: got %+v (%v, %v), want %+v (%v, %v)", when, c, gs, gok, gerr, ws, wok, werr)
					}
				}
			}
			// Lookup answers with the last commit, checkpointed or not.
			compare(fmt.Sprintf("before the final checkpoint (pending %v)", p.Pending()))
			if err := p.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			compare("after the final checkpoint")
			wm, _, _ := refEng.StoredMeta(0)
			gm, _, err := eng.StoredMeta(0)
			if err != nil || !reflect.DeepEqual(gm, wm) {
				t.Fatalf("stored meta after checkpoint:\n got %+v (%v)\nwant %+v", gm, err, wm)
			}
		})
	}
}

// TestStoreLagsUntilCheckpoint: between checkpoints the store holds the
// last checkpoint, whole, so a process that dies then restarts from it;
// applying the input again from its position reaches the same states as
// a run that never stopped.
func TestStoreLagsUntilCheckpoint(t *testing.T) {
	evs, customers := journeyStream(t, 80, 40)
	dir := t.TempDir()
	opts := engine.Options{CheckpointEvents: 1000}
	eng, p := openPartition(t, dir, opts)
	d := engine.NewDriver(p)
	commitUpTo := func(from, to int) {
		t.Helper()
		if err := d.Process(newRecords(t, evs, from, to)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(0); err != nil {
			t.Fatal(err)
		}
		checkpointIfDue(t, p)
	}
	commitUpTo(0, 1200) // checkpoints: 1200 events ≥ 1000
	if p.Pending() {
		t.Fatal("a commit past CheckpointEvents left changes pending")
	}
	commitUpTo(1200, 1500)
	if !p.Pending() {
		t.Fatal("300 events committed under CheckpointEvents 1000 were checkpointed at once")
	}
	m, _, err := eng.StoredMeta(0)
	if err != nil || m.Next != 1200 {
		t.Fatalf("store meta Next = %d (%v), want the checkpoint's 1200", m.Next, err)
	}
	// Lookup answers with the commit, not the checkpoint.
	_, at1500, _ := runBatches(t, evs[:1500], 250, 0, engine.Options{})
	for _, c := range customers {
		ws, wok, _ := at1500.Lookup(0, c)
		gs, gok, err := eng.Lookup(0, c)
		if err != nil || wok != gok || !reflect.DeepEqual(gs, ws) {
			t.Fatalf("customer %s between checkpoints: got %+v (%v, %v), want %+v", c, gs, gok, err, ws)
		}
	}
	// Die here: no checkpoint, no release.
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}

	eng, p = openPartition(t, dir, opts)
	defer eng.Close()
	defer eng.Release(p)
	d = engine.NewDriver(p)
	if p.Next() != 1200 {
		t.Fatalf("restarted at %d, want 1200", p.Next())
	}
	for from := 1200; from < len(evs); from += 250 {
		commitUpTo(from, min(from+250, len(evs)))
	}
	if err := p.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	_, ref, _ := runBatches(t, evs, 250, 0, engine.Options{})
	for _, c := range customers {
		ws, _, _ := ref.Lookup(0, c)
		gs, _, err := eng.Lookup(0, c)
		if err != nil || !reflect.DeepEqual(gs, ws) {
			t.Fatalf("customer %s after restart: got %+v (%v), want %+v", c, gs, err, ws)
		}
	}
	wm, _, _ := ref.StoredMeta(0)
	gm, _, _ := eng.StoredMeta(0)
	// The reference committed with changelog positions; this run without.
	wm.ChangelogNext = 0
	if !reflect.DeepEqual(gm, wm) {
		t.Fatalf("meta after restart:\n got %+v\nwant %+v", gm, wm)
	}
}

// TestCheckpointRefusedMidBatch: a checkpoint between Apply and Commit
// would write a half-applied batch.
func TestCheckpointRefusedMidBatch(t *testing.T) {
	h := newHarness(t, engine.Options{CheckpointEvents: 100})
	h.apply(ev("cus_1", "Signed Up", t0, "e1"))
	err := h.p.Checkpoint()
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("during a batch")) {
		t.Fatalf("Checkpoint mid-batch: err = %v, want a refusal", err)
	}
	h.commit()
	if err := h.p.Checkpoint(); err != nil {
		t.Fatalf("Checkpoint after commit: %v", err)
	}
	if _, ok, _ := h.eng.Lookup(0, "cus_1"); !ok {
		t.Fatal("cus_1 not stored after the checkpoint")
	}
}

// TestFailedCheckpointRetried: a checkpoint whose commit fails changes
// nothing, so the next one (a runtime retries when it stops the worker)
// writes the states with the meta, never the meta alone.
func TestFailedCheckpointRetried(t *testing.T) {
	h := newHarness(t, engine.Options{CheckpointEvents: 1000})
	h.apply(ev("cus_1", "Signed Up", t0, "e1"))
	h.commit()
	h.eng.FailNextCheckpoint()
	if err := h.p.Checkpoint(); err == nil {
		t.Fatal("the injected checkpoint failure was not reported")
	}
	if !h.p.Pending() {
		t.Fatal("a failed checkpoint dropped the pending changes")
	}
	if err := h.p.Checkpoint(); err != nil {
		t.Fatalf("retry: %v", err)
	}
	h.close() // no checkpoint on the way out: what is stored is the retry's
	h.open()
	m, _, err := h.eng.StoredMeta(0)
	if err != nil || m.Next != 1 {
		t.Fatalf("stored meta after the retry: next %d (%v), want 1", m.Next, err)
	}
	if _, ok, err := h.eng.Lookup(0, "cus_1"); !ok || err != nil {
		t.Fatalf("cus_1 not stored after the retried checkpoint (%v): the meta went without its states", err)
	}
}

// TestCheckpointRefusedAfterSkips: a batch of only undecodable records
// (Skip) is still a batch in progress.
func TestCheckpointRefusedAfterSkips(t *testing.T) {
	h := newHarness(t, engine.Options{CheckpointEvents: 100})
	h.apply(ev("cus_1", "Signed Up", t0, "e1"))
	h.commit()
	h.skip()
	if err := h.p.Checkpoint(); err == nil {
		t.Fatal("Checkpoint after a Skip, before Commit: no error")
	}
}

// TestCacheStats: a customer's first event reads the store (a miss), the
// next ones the cache; an evicted customer is read from the store again.
func TestCacheStats(t *testing.T) {
	h := newHarness(t, engine.Options{CacheStates: 2})
	h.apply(ev("cus_1", "Signed Up", t0, "e1"))
	h.apply(ev("cus_1", "Signed In", t0+minute, "e2"))
	if hits, misses := h.p.CacheStats(); hits != 1 || misses != 1 {
		t.Fatalf("after two events of one customer: hits %d, misses %d; want 1 and 1", hits, misses)
	}
	for i, c := range []string{"cus_2", "cus_3", "cus_4"} {
		h.apply(ev(c, "Signed Up", t0+2*minute, fmt.Sprint("n", i)))
	}
	h.commit() // evicts down to the bound
	h.apply(ev("cus_1", "Signed In", t0+3*minute, "e3"))
	h.apply(ev("cus_2", "Signed In", t0+3*minute, "e4"))
	h.apply(ev("cus_3", "Signed In", t0+3*minute, "e5"))
	h.apply(ev("cus_4", "Signed In", t0+3*minute, "e6"))
	hits, misses := h.p.CacheStats()
	// Eviction keeps one state of the four (three quarters of the bound).
	if hits+misses != 9 || misses < 7 {
		t.Fatalf("with 2 cached states of 4 customers: hits %d, misses %d; want 9 reads, at least 7 from the store", hits, misses)
	}
}
