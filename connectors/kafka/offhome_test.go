package kafka_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
)

// TestOffHomeRecordsCounted: issue 14's split customers start where a
// record is on a partition other than its customer's home (Kafka's default
// partitioner over the customer id). Such records are applied as ever, and
// counted by what their key is: the customer id (a producer with another
// partitioner, harmless to state) or something else (an anonymousId: one
// customer's events may be split across partitions).
func TestOffHomeRecordsCounted(t *testing.T) {
	t.Parallel()
	const nparts = 4
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-offhome", "offhome-1", nparts, config.AtLeastOnce)
	in := startInstance(t, cfg)
	waitReady(t, nparts, in)

	ev := func(user, id string) []byte {
		return []byte(`{"type":"track","event":"Signed In","userId":"` + user + `","messageId":"` + id + `","timestamp":"2026-01-02T10:00:00Z"}`)
	}
	home := kafka.PartitionFor("cus_1", nparts)
	away := (home + 1) % nparts
	recs := []*kgo.Record{
		{Partition: home, Key: []byte("cus_1"), Value: ev("cus_1", "m1")},  // home
		{Partition: away, Key: []byte("cus_1"), Value: ev("cus_1", "m2")},  // keyed by the customer, another partitioner
		{Partition: away, Key: []byte("anon_9"), Value: ev("cus_1", "m3")}, // keyed by something else
		{Partition: away, Key: []byte("anon_9"), Value: ev("cus_1", "m4")}, // again
		{Partition: home, Key: []byte("anon_9"), Value: ev("cus_1", "m5")}, // another key, but home: not counted
	}
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for _, r := range recs {
		r.Topic = cfg.Topics.Input
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ends := map[int32]int64{}
	for _, r := range recs {
		ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
	}
	waitProcessed(t, ends, in)
	for key, want := range map[string]float64{"customer": 1, "other": 2} {
		if got := counter(t, in.reg, "lifeline_records_off_home_partition_total", map[string]string{"key": key}); got != want {
			t.Errorf("lifeline_records_off_home_partition_total{key=%q} = %v, want %v", key, got, want)
		}
	}
}
