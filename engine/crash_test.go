package engine_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// The crash tests run the engine on Pebble's crashable in-memory
// filesystem and take crash clones of it (vfs.MemFS.CrashClone: what a
// machine that lost power at that instant would find on disk: everything
// synced, and a random part of what was not) at many points, then open
// the engine on each clone.

const crashDir = "/state"

// soak reports whether the long variants run (LIFELINE_SOAK set).
func soak() bool { return os.Getenv("LIFELINE_SOAK") != "" }

// crashSnap is the store's content after one checkpoint: its meta and
// every customer's state (ok false: not in the store).
type crashSnap struct {
	meta   engine.Meta
	states []crashState
}

type crashState struct {
	st engine.State
	ok bool
}

// crashClone is a crash clone and the checkpoints it may hold: the
// store must be exactly one of checkpoints lo..hi.
type crashClone struct {
	fs     *vfs.MemFS
	lo, hi int
	where  string
}

// crashRun is one uninterrupted run of a workload on a crashable
// filesystem, with the crash clones taken during it.
type crashRun struct {
	t         *testing.T
	opts      engine.Options
	evs       [][]byte
	customers []string
	batch     int

	snaps []crashSnap // by checkpoint; snaps[0] is the empty store
	// outs[b] are batch b's output records; batchAt[b] its first
	// position.
	outs    [][]string
	batchAt []int64
	final   crashSnap

	mu     sync.Mutex
	rng    *rand.Rand
	mem    *vfs.MemFS
	clones []crashClone
	// done is the last checkpoint written; durable the last one a crash
	// cannot lose (Options.Sync: done; otherwise the last before a
	// completed flush of the memtables).
	done, durable atomic.Int64
	// unsynced is CrashCloneCfg.UnsyncedDataPercent.
	unsynced int
	// every is the chance (1 in every) that a filesystem write or sync
	// is preceded by a crash clone.
	every int
}

// crash takes a crash clone now; hi is the last checkpoint it may hold.
func (r *crashRun) crash(hi int, where string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lo := int(r.durable.Load())
	fs := r.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: r.unsynced, RNG: r.rng})
	r.clones = append(r.clones, crashClone{fs: fs, lo: lo, hi: hi, where: where})
}

// injector is called before every filesystem operation of the store
// (errorfs): before one write or sync in every, it takes a crash clone,
// which may hold the checkpoint being written.
func (r *crashRun) injector(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	r.mu.Lock()
	hit := r.rng.IntN(r.every) == 0
	r.mu.Unlock()
	if hit {
		r.crash(int(r.done.Load())+1, fmt.Sprintf("before %s %s", opName(op.Kind), op.Path))
	}
	return nil
}

func opName(k errorfs.OpKind) string {
	switch k {
	case errorfs.OpCreate:
		return "create"
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt:
		return "write"
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		return "sync"
	case errorfs.OpRename:
		return "rename"
	case errorfs.OpRemove, errorfs.OpRemoveAll:
		return "remove"
	case errorfs.OpMkdirAll:
		return "mkdir"
	case errorfs.OpLock:
		return "lock"
	case errorfs.OpLink:
		return "link"
	case errorfs.OpReuseForWrite:
		return "reuse"
	default:
		return fmt.Sprintf("op%d", k)
	}
}

// snapshot reads the store's meta and every customer's state.
func (r *crashRun) snapshot(eng *engine.Engine) crashSnap {
	r.t.Helper()
	m, _, err := eng.StoredMeta(0)
	if err != nil {
		r.t.Fatal(err)
	}
	s := crashSnap{meta: m, states: make([]crashState, len(r.customers))}
	for i, c := range r.customers {
		st, ok, err := eng.Lookup(0, c)
		if err != nil {
			r.t.Fatalf("lookup %s: %v", c, err)
		}
		s.states[i] = crashState{st, ok}
	}
	return s
}

// run drives the workload through one partition on the crashable
// filesystem, batch by batch, taking crash clones as it goes: at random
// filesystem operations (injector), between Flush and Commit, after
// checkpoints, and during the memtable flushes and compactions it asks
// for every few batches.
func (r *crashRun) run() {
	t := r.t
	r.mem = vfs.NewCrashableMem()
	opts := r.opts
	opts.FS = errorfs.Wrap(r.mem, errorfs.InjectorFunc(r.injector))
	eng, err := engine.Open(crashDir, rules.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := eng.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	r.snaps = []crashSnap{r.snapshot(eng)}
	d := engine.NewDriver(p)
	for b, from := 0, 0; from < len(r.evs); b, from = b+1, from+r.batch {
		recs, to := r.processBatch(t, d, from)
		r.outs, r.batchAt = append(r.outs, recs), append(r.batchAt, int64(from))
		if b%3 == 1 {
			r.crash(int(r.done.Load()), "between Flush and Commit")
		}
		if err := d.Commit(int64(to)); err != nil {
			t.Fatal(err)
		}
		if p.CheckpointDue() {
			if err := p.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		if !p.Pending() {
			r.snaps = append(r.snaps, r.snapshot(eng))
			r.done.Store(int64(len(r.snaps) - 1))
			if r.opts.Sync {
				r.durable.Store(r.done.Load())
			}
			if b%4 == 0 {
				r.crash(int(r.done.Load()), "after a checkpoint")
			}
		}
		if b%8 == 7 {
			// Flushes and compactions write sstables and MANIFESTs,
			// rotate the WAL and delete obsolete files: crash points
			// among them too.
			at := r.done.Load()
			if err := eng.Compact(); err != nil {
				t.Fatal(err)
			}
			r.durable.Store(max(r.durable.Load(), at))
		}
	}
	if err := p.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	r.final = r.snapshot(eng)
	if r.final.meta.Next != r.snaps[len(r.snaps)-1].meta.Next {
		r.snaps = append(r.snaps, r.final)
	}
	eng.Release(p)
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
}

// check opens the engine on clone c and requires its store to be exactly
// one of checkpoints c.lo..c.hi (meta and every customer's state: never
// a mix, never one a crash could not have left); then it processes the
// rest of the input from the store's Meta.Next, in the run's batches,
// and requires the same outputs as the uninterrupted run from there on,
// and the same final meta and states. It returns the checkpoint found.
func (r *crashRun) check(c crashClone) int {
	t := r.t
	opts := r.opts
	opts.FS = c.fs
	eng, err := engine.Open(crashDir, rules.Default(), opts)
	if err != nil {
		t.Fatalf("crash %s: reopen: %v", c.where, err)
	}
	defer eng.Close()
	got := r.snapshot(eng)
	k := -1
	for i := c.lo; i <= min(c.hi, len(r.snaps)-1); i++ {
		if r.snaps[i].meta.Next == got.meta.Next {
			k = i
			break
		}
	}
	if k < 0 {
		var all []int64
		for _, s := range r.snaps {
			all = append(all, s.meta.Next)
		}
		t.Fatalf("crash %s: the store reopened at position %d, want one of the checkpoints %d..%d (positions %v)",
			c.where, got.meta.Next, c.lo, c.hi, all)
	}
	want := r.snaps[k]
	if !reflect.DeepEqual(got.meta, want.meta) {
		t.Fatalf("crash %s: meta at checkpoint %d:\n%+v\nwant\n%+v", c.where, k, got.meta, want.meta)
	}
	for i := range want.states {
		if !reflect.DeepEqual(got.states[i], want.states[i]) {
			t.Fatalf("crash %s: checkpoint %d (position %d): customer %s is torn:\n%+v\nwant\n%+v",
				c.where, k, want.meta.Next, r.customers[i], got.states[i], want.states[i])
		}
	}

	// Continue from the checkpoint.
	p, err := eng.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Release(p)
	first := -1
	for b, at := range r.batchAt {
		if at == p.Next() {
			first = b
		}
	}
	if first < 0 && p.Next() != int64(len(r.evs)) {
		t.Fatalf("crash %s: checkpoint at position %d is no batch boundary", c.where, p.Next())
	}
	d := engine.NewDriver(p)
	for b := first; b >= 0 && b < len(r.outs); b++ {
		recs, to := r.processBatch(t, d, int(r.batchAt[b]))
		if !reflect.DeepEqual(recs, r.outs[b]) {
			t.Fatalf("crash %s: resumed at checkpoint %d, batch %d's outputs differ from the uninterrupted run's:\n%s",
				c.where, k, b, firstDiffStr(r.outs[b], recs))
		}
		if err := d.Commit(int64(to)); err != nil {
			t.Fatal(err)
		}
		if p.CheckpointDue() {
			if err := p.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	end := r.snapshot(eng)
	if !reflect.DeepEqual(end.meta, r.final.meta) {
		t.Fatalf("crash %s: resumed at checkpoint %d, final meta:\n%+v\nwant\n%+v", c.where, k, end.meta, r.final.meta)
	}
	for i := range end.states {
		if !reflect.DeepEqual(end.states[i], r.final.states[i]) {
			t.Fatalf("crash %s: resumed at checkpoint %d, final state of %s:\n%+v\nwant\n%+v",
				c.where, k, r.customers[i], end.states[i], r.final.states[i])
		}
	}
	return k
}

func firstDiffStr(want, got []string) string {
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Sprintf("  #%d want %s\n  #%d got  %s", i, w, i, g)
		}
	}
	return "(none)"
}

// TestCrashConsistency crashes the store at many points of a run (every
// kind of filesystem write and sync: WAL, sstables, MANIFEST, renames,
// removals; between a batch's Flush and Commit; after checkpoints; with
// none, part or all of the unsynced data surviving) and checks each crash
// clone: the store is a consistent checkpoint, the last durable one or a
// later one, and resuming from it gives the uninterrupted run's outputs
// and final states. With Options.Sync every completed checkpoint is
// durable; without it, what was flushed to sstables is.
func TestCrashConsistency(t *testing.T) {
	customers, days, seeds := 80, 45, 2
	if soak() {
		customers, days, seeds = 200, 90, 5
	}
	evs, ids := journeyStream(t, customers, days)
	t.Logf("workload: %d events, %d customers", len(evs), len(ids))
	total, mismatches := 0, 0
	for _, mode := range []struct {
		name string
		opts engine.Options
	}{
		{"sync", engine.Options{Sync: true}},
		{"nosync", engine.Options{}},
		{"sync deferred", engine.Options{Sync: true, CheckpointEvents: 150}},
		{"nosync deferred", engine.Options{CheckpointEvents: 150}},
	} {
		for seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed=%d", mode.name, seed), func(t *testing.T) {
				mode.opts.CacheStates = 64 // evictions: reads from the store
				r := &crashRun{
					t: t, opts: mode.opts, evs: evs, customers: ids, batch: 40,
					rng:      rand.New(rand.NewPCG(uint64(seed), 11)),
					unsynced: []int{0, 50, 100, 20, 80}[seed%5],
					every:    10,
				}
				r.run()
				hit := map[int]bool{}
				atLo := 0
				for _, c := range r.clones {
					k := r.check(c)
					hit[k] = true
					if k == c.lo {
						atLo++
					}
				}
				if t.Failed() {
					mismatches++
				}
				total += len(r.clones)
				t.Logf("%d crash clones (unsynced data kept: %d%%), %d distinct checkpoints found of %d, %d at the last durable one",
					len(r.clones), r.unsynced, len(hit), len(r.snaps), atLo)
				if len(hit) < 2 {
					t.Errorf("every crash clone held the same checkpoint: the test exercises nothing")
				}
			})
		}
	}
	t.Logf("%d crash points checked, %d runs failed", total, mismatches)
}

// faultInjector fails one filesystem write or sync of the store: the
// n-th (counting from 1), with errorfs.ErrInjected. It counts every write
// and sync in ops.
type faultInjector struct {
	n   int64
	ops atomic.Int64
	hit atomic.Pointer[errorfs.Op]
}

func (f *faultInjector) MaybeError(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	if f.ops.Add(1) == f.n {
		f.hit.Store(&op)
		return errorfs.ErrInjected
	}
	return nil
}

func (f *faultInjector) String() string { return fmt.Sprintf("fail write or sync #%d", f.n) }

// guard runs fn, turning a panic (Pebble's Fatalf, through
// QuietPebbleLogger) into an error that says so.
func guard(fn func() error) (err error, fatal bool) {
	defer func() {
		if v := recover(); v != nil {
			err, fatal = fmt.Errorf("panic: %v", v), true
		}
	}()
	return fn(), false
}

// faultRun runs the workload of r (whose uninterrupted run gives the
// checkpoints and outputs to compare with) on a filesystem that fails its
// n-th write or sync, stopping at the first error or panic, then checks
// what a restart would find on the disk (unsynced data lost, or kept): a
// consistent checkpoint, at or after the last one whose Commit returned
// with Options.Sync, from which the rest of the input gives the same
// outputs and final states. It returns how the fault surfaced ("error",
// "fatal", "error at Close", or "absorbed" when Pebble went on without
// it: a failed removal of an obsolete file), and how many writes and
// syncs Open and the whole run made.
func (r *crashRun) faultRun(n int64) (outcome, detail string, openOps, ops int64) {
	t := r.t
	mem := vfs.NewCrashableMem()
	inj := &faultInjector{n: n}
	opts := r.opts
	opts.FS = errorfs.Wrap(mem, inj)
	var (
		eng  *engine.Engine
		p    *engine.Partition
		ok   = 0 // the last checkpoint written without an error
		done = false
	)
	err, fatal := guard(func() error {
		var err error
		if eng, err = engine.Open(crashDir, rules.Default(), opts); err != nil {
			return err
		}
		if p, err = eng.Partition(0); err != nil {
			return err
		}
		openOps = inj.ops.Load()
		d := engine.NewDriver(p)
		for from := 0; from < len(r.evs); from += r.batch {
			to := min(from+r.batch, len(r.evs))
			if err := d.Process(newRecords(t, r.evs, from, to)); err != nil {
				return err
			}
			if _, err := d.Flush(); err != nil {
				return err
			}
			if err := d.Commit(int64(to)); err != nil {
				return err
			}
			if p.CheckpointDue() {
				if err := p.Checkpoint(); err != nil {
					return err
				}
			}
			if !p.Pending() {
				ok++
			}
		}
		if err := p.Checkpoint(); err != nil {
			return err
		}
		done = true
		return nil
	})
	hit := inj.hit.Load()
	if hit != nil {
		detail = fmt.Sprintf("%s %s", opName(hit.Kind), hit.Path)
	}
	switch {
	case fatal:
		outcome = "fatal"
	case err != nil:
		outcome = "error"
	default:
		outcome = "absorbed"
	}
	if err != nil && hit == nil {
		t.Fatalf("fault #%d: %v without an injected fault", n, err)
	}
	if err != nil && !fatal && !errors.Is(err, errorfs.ErrInjected) {
		// Pebble wraps with cockroachdb/errors; the text must still say.
		if !strings.Contains(err.Error(), "injected") {
			t.Errorf("fault #%d (%s): the error does not carry the cause: %v", n, detail, err)
		}
	}
	if done {
		// Without Options.Sync, a failed WAL write in Pebble's background
		// flusher surfaces at the next commit that writes, or at Close.
		eng.Release(p)
		if err = eng.Close(); err != nil {
			if hit = inj.hit.Load(); hit != nil {
				detail = fmt.Sprintf("%s %s", opName(hit.Kind), hit.Path)
			}
			if hit == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("fault #%d (%s): close: %v", n, detail, err)
			}
			outcome = "error at Close"
		}
	}
	// A store that failed is abandoned, as a process that exits would
	// leave it (its commit pipeline may be wedged: no Close).
	lo := 0
	if r.opts.Sync {
		lo = ok
	}
	for _, keep := range []int{0, 100} {
		c := crashClone{
			fs: mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: keep, RNG: r.rng}),
			lo: lo, hi: ok + 1,
			where: fmt.Sprintf("after fault #%d (%s, %s: %v), unsynced data kept %d%%", n, detail, outcome, err, keep),
		}
		if done {
			c.hi = len(r.snaps) - 1
		}
		r.check(c)
	}
	return outcome, detail, openOps, inj.ops.Load()
}

// TestStoreFaults fails one write or sync of the store's filesystem
// (errorfs) at points spread over a run, the store's Open included, with
// and without Options.Sync. The engine must report the fault (an error,
// or Pebble's fatal error, which panics through QuietPebbleLogger and
// ends the process) or absorb it without loss; either way a restart on
// what the disk holds must find a consistent checkpoint from which the
// rest of the input gives the uninterrupted run's outputs and states.
func TestStoreFaults(t *testing.T) {
	customers, days, faults := 80, 45, 16
	if soak() {
		customers, days, faults = 150, 90, 40
	}
	evs, ids := journeyStream(t, customers, days)
	total := map[string]int{}
	for _, mode := range []struct {
		name string
		opts engine.Options
	}{
		{"sync", engine.Options{Sync: true}},
		{"nosync deferred", engine.Options{CheckpointEvents: 100}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			mode.opts.CacheStates = 64
			r := &crashRun{t: t, opts: mode.opts, evs: evs, customers: ids, batch: 40,
				rng: rand.New(rand.NewPCG(3, 4)), every: 1 << 30}
			r.run() // the reference, counting nothing
			// Count the writes and syncs of a run without faults, and of
			// its Open; a quarter of the faults hit Open, the rest the
			// batches.
			_, _, openOps, ops := r.faultRun(1 << 40)
			seen := map[string]int{}
			for i := range faults {
				from, to, k, of := int64(1), openOps, i, faults/4
				if i >= faults/4 {
					from, to, k, of = openOps+1, ops, i-faults/4, faults-faults/4
				}
				span := (to - from + 1) / int64(of)
				n := from + int64(k)*span + r.rng.Int64N(max(span, 1))
				outcome, detail, _, _ := r.faultRun(n)
				seen[outcome]++
				total[outcome]++
				t.Logf("fault at write/sync #%d of %d (%d in Open; %s): %s", n, ops, openOps, detail, outcome)
			}
			if seen["error"]+seen["fatal"] == 0 {
				t.Errorf("no fault surfaced: %v", seen)
			}
		})
	}
	t.Logf("faults injected: %v", total)
}

// processBatch processes and flushes the batch of r's events that starts
// at from, and returns its output records and where the batch ends.
func (r *crashRun) processBatch(t *testing.T, d *engine.Driver, from int) ([]string, int) {
	t.Helper()
	to := min(from+r.batch, len(r.evs))
	if err := d.Process(newRecords(t, r.evs, from, to)); err != nil {
		t.Fatal(err)
	}
	out, err := d.Flush()
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	for _, o := range out.Records {
		recs = append(recs, string(o.Value))
	}
	return recs, to
}
