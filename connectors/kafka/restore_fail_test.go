package kafka_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/journey"
)

// TestRestoreUnreadableEntryStops: a changelog entry this version cannot
// read (here, garbage under a customer id) is not retried for ever while
// the partition stays paused on an instance that keeps it: Run returns an
// error that names the partition, so that the instance stops and the
// partition can go to another one.
func TestRestoreUnreadableEntryStops(t *testing.T) {
	t.Parallel()
	const nparts = 2
	_, addr := newCluster(t)
	cfgA := testConfig(t, addr, "lifeline-unreadable", "unreadable-a", nparts, config.ExactlyOnce)
	cfgB := testConfig(t, addr, "lifeline-unreadable", "unreadable-b", nparts, config.ExactlyOnce)
	recs := journeys(t, journey.Config{Customers: 40, Days: 30, Seed: 5})

	a := startInstance(t, cfgA)
	waitReady(t, nparts, a)
	produce(t, newClient(t, addr), cfgA.Topics.Input, nparts, recs)
	waitProcessed(t, endOffsets(nparts, recs), a)
	a.stop(t)
	if a.err != nil {
		t.Fatalf("instance a: %v", a.err)
	}

	bad := &kgo.Record{Topic: cfgA.Topics.Changelog, Partition: 1, Key: []byte("customer-garbled"), Value: []byte("not a state encoding")}
	prod := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod.ProduceSync(context.Background(), bad).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// b, on an empty store, restores both partitions from the changelog.
	b := startInstance(t, cfgB)
	waitFor(t, waitLong, "instance b to stop on the unreadable entry", func() (bool, string) {
		return b.stopped(), "still running"
	})
	if b.err == nil || !strings.Contains(b.err.Error(), "restore partition 1") || !strings.Contains(b.err.Error(), "customer-garbled") {
		t.Fatalf("Run returned %v; want an error naming partition 1 and the entry's customer", b.err)
	}
}
