package kafka_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
)

// startRebuilding is startInstance with the engine opened and watched as
// `lifeline run` does (cmd/lifeline/node.go): a corrupt store is set
// aside and rebuilt from the changelog at start, and corruption found
// while running stops the instance.
func startRebuilding(t *testing.T, cfg config.Config) *instance {
	t.Helper()
	opts := cfg.Engine.Options()
	opts.RebuildCorrupt = true
	in := launch(t, cfg, opts, func() time.Time { return workloadStart })
	go func() {
		select {
		case <-in.eng.Corrupted():
			in.cancel()
		case <-in.done:
		}
	}()
	return in
}

// TestCorruptStoreRebuiltFromChangelog: an instance processes part of a
// workload and stops; its store is then damaged on disk (every file cut
// to half its size: the MANIFEST no longer parses). Started again on the
// same state dir, the instance does not fail: it sets the store aside,
// starts an empty one, restores every partition from the changelog's
// start, processes the rest of the input, and ends with the outputs and
// states of an offline replay of all of it.
func TestCorruptStoreRebuiltFromChangelog(t *testing.T) {
	t.Parallel()
	const nparts = 2
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-corrupt", "corrupt", nparts, config.ExactlyOnce)
	dir := filepath.Join(cfg.StateDir, "store")
	cfg.StateDir = dir

	recs := journeys(t, journey.Config{Customers: 120, Days: 60, Seed: 13})
	phases := splitDays(recs, 35)
	first, second := phases[0], phases[1]

	prod := newClient(t, addr)
	processAndStop(t, startRebuilding(t, cfg), prod, nparts, first)

	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no store files in %s (%v)", dir, err)
	}
	var cut []string
	for _, f := range names {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 0 {
			if err := os.Truncate(f, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			cut = append(cut, filepath.Base(f))
		}
	}
	t.Logf("cut to half: %v", cut)
	if _, err := engine.Open(dir, rules.Default(), cfg.Engine.Options()); err == nil {
		t.Fatal("the damaged store opens as it is: the test damages nothing")
	}

	b := startRebuilding(t, cfg)
	rb := b.eng.Rebuilt()
	if rb == nil {
		t.Fatal("the damaged store was not rebuilt")
	}
	if !strings.HasPrefix(rb.Aside, dir+".corrupt-") {
		t.Errorf("set aside as %s, want %s.corrupt-<time>", rb.Aside, dir)
	}
	kept, err := filepath.Glob(filepath.Join(rb.Aside, "*"))
	if err != nil || len(kept) != len(names) {
		t.Errorf("the store set aside holds %d files, want the %d damaged ones (%v)", len(kept), len(names), err)
	}
	t.Logf("rebuilt: %v", rb.Reason)
	waitReady(t, nparts, b)
	if n := counter(t, b.reg, "lifeline_restore_records_total", nil); n == 0 {
		t.Errorf("no changelog record restored into the new store")
	} else {
		t.Logf("%v changelog records restored", n)
	}
	produce(t, prod, cfg.Topics.Input, nparts, second)
	all := joinPhases(phases)
	waitProcessed(t, endOffsets(nparts, all), b)

	compareWithReplay(t, addr, cfg, all, nparts, b.eng)
}

// TestCorruptionFoundRunningRebuilt: the store's sstable is damaged inside
// its data blocks, which opening it does not read. The instance started
// on it meets the corruption when it reads a partition's checkpoint,
// stops (as `lifeline run` exits), and the next start rebuilds the store
// from the changelog and ends as an offline replay of all the input.
func TestCorruptionFoundRunningRebuilt(t *testing.T) {
	t.Parallel()
	const nparts = 2
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-corrupt-read", "corrupt-read", nparts, config.ExactlyOnce)
	dir := cfg.StateDir

	recs := journeys(t, journey.Config{Customers: 120, Days: 60, Seed: 17})
	phases := splitDays(recs, 35)
	first, second := phases[0], phases[1]
	prod := newClient(t, addr)
	processAndStop(t, startRebuilding(t, cfg), prod, nparts, first)

	// Move everything into an sstable, then flip bits in it.
	eng, err := engine.Open(dir, rules.Default(), cfg.Engine.Options())
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Compact(); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(ssts) == 0 {
		t.Fatalf("no sstable after a compaction (%v)", err)
	}
	for _, f := range ssts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 100; i < len(b)-200; i += 50 {
			b[i] ^= 0xff
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	b := startRebuilding(t, cfg)
	if b.eng.Rebuilt() != nil {
		t.Fatalf("rebuilt at once: the damage is not the kind Open misses")
	}
	select {
	case <-b.done:
	case <-time.After(waitLong):
		t.Fatal("the instance went on running on a corrupt store")
	}
	if !errors.Is(b.eng.Corruption(), engine.ErrStoreCorrupt) {
		t.Fatalf("instance stopped without a corruption: %v", b.err)
	}
	t.Logf("stopped on: %.200s", b.eng.Corruption())
	b.stop(t)

	c := startRebuilding(t, cfg)
	if c.eng.Rebuilt() == nil {
		t.Fatal("the next start did not rebuild the store")
	}
	waitReady(t, nparts, c)
	if n := counter(t, c.reg, "lifeline_restore_records_total", nil); n == 0 {
		t.Errorf("no changelog record restored into the new store")
	}
	produce(t, prod, cfg.Topics.Input, nparts, second)
	all := joinPhases(phases)
	waitProcessed(t, endOffsets(nparts, all), c)

	compareWithReplay(t, addr, cfg, all, nparts, c.eng)
}
