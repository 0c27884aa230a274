package kafka_test

import (
	"testing"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/journey"
)

// TestAtLeastOnce runs the runtime without transactions: outputs arrive
// (all of the offline replay's, in order per customer), the group's
// offsets are committed up to the end of the input, and a restart on the
// same state dir carries on where the first run stopped.
func TestAtLeastOnce(t *testing.T) {
	t.Parallel()
	const nparts = 2
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-alo", "alo-1", nparts, config.AtLeastOnce)
	recs := journeys(t, journey.Config{Customers: 60, Days: 45, Seed: 3})
	half := len(recs) / 2

	first := startInstance(t, cfg)
	waitReady(t, nparts, first)
	prod := newClient(t, addr)
	produce(t, prod, cfg.Topics.Input, nparts, recs[:half])
	ends := endOffsets(nparts, recs[:half])
	waitProcessed(t, ends, first)
	waitCommitted(t, addr, cfg.Group, cfg.Topics.Input, ends)
	first.stop(t)
	if first.err != nil {
		t.Fatalf("first run: %v", first.err)
	}

	// The rest while nobody consumes; then a restart on the same store.
	produce(t, prod, cfg.Topics.Input, nparts, recs[half:])
	second := startInstance(t, cfg)
	ends = endOffsets(nparts, recs)
	waitProcessed(t, ends, second)
	waitCommitted(t, addr, cfg.Group, cfg.Topics.Input, ends)
	if n := counter(t, second.reg, "lifeline_events_processed_total", nil); n != float64(len(recs)-half) {
		t.Errorf("the restarted instance processed %v records, want the %d produced after the first stopped", n, len(recs)-half)
	}

	want, _ := replayOffline(t, recs, nparts, cfg.Engine.AllowedLateness)
	got := outputsOf(t, cfg, readAll(t, addr, cfg.Topics.Alerts, cfg.Topics.Stages, cfg.Topics.Health))
	compareOutputs(t, want, got)
}
