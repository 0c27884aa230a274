package kafka_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/connectors/kafka"
)

// PartitionFor must agree with the partitioner producers use (Kafka's
// default, as franz-go implements it), or the API would look customers up
// on the wrong partition.
func TestPartitionForMatchesKafkaDefault(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := 0; i < 5000; i++ {
		key := fmt.Sprintf("cus_%0*d", rng.IntN(12), rng.IntN(1_000_000))
		if i%7 == 0 {
			key = string([]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		}
		for _, n := range []int32{1, 2, 3, 12, 100} {
			want := int32(tp.Partition(&kgo.Record{Key: []byte(key)}, int(n)))
			if got := kafka.PartitionFor(key, n); got != want {
				t.Fatalf("PartitionFor(%q, %d) = %d, Kafka's partitioner says %d", key, n, got, want)
			}
		}
	}
}
