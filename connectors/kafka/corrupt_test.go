package kafka_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
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
	eng, err := engine.Open(cfg.StateDir, rules.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	rt, err := kafka.New(cfg, eng, kafka.Options{
		Logger:  testLogger(t, cfg.ClientID),
		Metrics: m,
		Clock:   func() time.Time { return workloadStart },
	})
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{name: cfg.ClientID, cfg: cfg, rt: rt, eng: eng, reg: reg, m: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		in.err = rt.Run(ctx)
	}()
	go func() {
		select {
		case <-eng.Corrupted():
			cancel()
		case <-in.done:
		}
	}()
	t.Cleanup(func() { in.stop(t) })
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
	var first, second []inputRecord
	for _, r := range recs {
		if r.Time.Sub(workloadStart) < 35*24*time.Hour {
			first = append(first, r)
		} else {
			second = append(second, r)
		}
	}

	a := startRebuilding(t, cfg)
	waitReady(t, nparts, a)
	prod := newClient(t, addr)
	produce(t, prod, cfg.Topics.Input, nparts, first)
	waitProcessed(t, endOffsets(nparts, first), a)
	a.stop(t)
	if a.err != nil {
		t.Fatalf("first run: %v", a.err)
	}

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
	all := append(append(recs[:0:0], first...), second...)
	waitProcessed(t, endOffsets(nparts, all), b)

	want, offline := replayOffline(t, all, nparts, cfg.Engine.AllowedLateness)
	compareStates(t, all, nparts, offline, b.eng)
	got := outputsOf(t, cfg, readAll(t, addr, cfg.Topics.Alerts, cfg.Topics.Stages, cfg.Topics.Health))
	compareOutputs(t, want, got)
	compareAlerts(t, want, got)
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
	var first, second []inputRecord
	for _, r := range recs {
		if r.Time.Sub(workloadStart) < 35*24*time.Hour {
			first = append(first, r)
		} else {
			second = append(second, r)
		}
	}
	a := startRebuilding(t, cfg)
	waitReady(t, nparts, a)
	prod := newClient(t, addr)
	produce(t, prod, cfg.Topics.Input, nparts, first)
	waitProcessed(t, endOffsets(nparts, first), a)
	a.stop(t)
	if a.err != nil {
		t.Fatalf("first run: %v", a.err)
	}

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
	all := append(append(recs[:0:0], first...), second...)
	waitProcessed(t, endOffsets(nparts, all), c)

	want, offline := replayOffline(t, all, nparts, cfg.Engine.AllowedLateness)
	compareStates(t, all, nparts, offline, c.eng)
	got := outputsOf(t, cfg, readAll(t, addr, cfg.Topics.Alerts, cfg.Topics.Stages, cfg.Topics.Health))
	compareOutputs(t, want, got)
	compareAlerts(t, want, got)
}
