package kafka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/journey"
)

// TestRestoreFromCompactedChangelog: an instance with an empty store takes
// over partitions whose changelog the broker has compacted (latest state
// per customer, transaction markers and all), restores every customer's
// state, meta and timers from it, and carries on with the input exactly
// as an uninterrupted run would.
func TestRestoreFromCompactedChangelog(t *testing.T) {
	t.Parallel()
	const nparts = 2
	c, addr := newCluster(t)
	cfgA := testConfig(t, addr, "lifeline-compact", "compact-a", nparts, config.ExactlyOnce)
	cfgB := testConfig(t, addr, "lifeline-compact", "compact-b", nparts, config.ExactlyOnce)
	cfgA.Engine.MaxPollRecords = 100

	recs := journeys(t, journey.Config{Customers: 150, Days: 60, Seed: 9})
	phases := splitDays(recs, 40)
	first, second := phases[0], phases[1]

	prod := newClient(t, addr)
	processAndStop(t, startInstance(t, cfgA), prod, nparts, first)

	before := changelogRecords(t, addr, cfgA.Topics.Changelog)
	c.Compact()
	after := changelogRecords(t, addr, cfgA.Topics.Changelog)
	t.Logf("changelog: %d records, %d after compaction", before, after)
	if after >= before {
		t.Fatalf("compaction left %d of %d changelog records: the test restores nothing compacted", after, before)
	}

	b := startInstance(t, cfgB)
	waitReady(t, nparts, b)
	produce(t, prod, cfgA.Topics.Input, nparts, second)
	recs = joinPhases(phases)
	waitProcessed(t, endOffsets(nparts, recs), b)

	want, offline := replayOffline(t, recs, nparts, cfgA.Engine.AllowedLateness)
	compareStates(t, recs, nparts, offline, b.eng)
	got := outputsOf(t, cfgA, readAll(t, addr, cfgA.Topics.Alerts, cfgA.Topics.Stages, cfgA.Topics.Health))
	// The health topic is compacted too: what is left of a customer's
	// history ends with the latest score.
	for k, w := range want {
		if !strings.HasPrefix(k, "health ") {
			continue
		}
		g := got[k]
		if len(g) == 0 || g[len(g)-1] != w[len(w)-1] {
			t.Errorf("%s: latest health %q, want %q", k, last(g), w[len(w)-1])
		}
		delete(want, k)
		delete(got, k)
	}
	compareOutputs(t, want, got)
	compareAlerts(t, want, got)
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// changelogRecords counts the records (transaction markers included) in
// every partition of topic, reading each up to its end.
func changelogRecords(t *testing.T, addr, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	ends, err := kadm.NewClient(newClient(t, addr)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for len(left) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("counting %s: partitions not read to their end: %v", topic, left)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return n
}
