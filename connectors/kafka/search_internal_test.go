package kafka

import (
	"hash/crc32"
	"hash/fnv"
	"slices"
	"testing"
)

// The FNV-1a of the Sarama and kafka-go partitioners is hash/fnv's, and
// LikelyPartitions gives murmur2's partition first, CRC32's (kcat's)
// among them, each partition once and in range.
func TestLikelyPartitions(t *testing.T) {
	keys := []string{"", "a", "cus_000001", "anon-7f3a9c", "ünïcödé", "a key longer than any hash block of four bytes"}
	for _, k := range keys {
		h := fnv.New32a()
		h.Write([]byte(k))
		if got, want := fnv1a(k), h.Sum32(); got != want {
			t.Errorf("fnv1a(%q) = %#x, hash/fnv says %#x", k, got, want)
		}
		for _, n := range []int32{1, 2, 3, 6, 12, 64} {
			ps := LikelyPartitions(k, n)
			if ps[0] != PartitionFor(k, n) {
				t.Errorf("LikelyPartitions(%q, %d) = %v: the murmur2 partition %d is not first", k, n, ps, PartitionFor(k, n))
			}
			if crc := int32(crc32.ChecksumIEEE([]byte(k)) % uint32(n)); !slices.Contains(ps, crc) {
				t.Errorf("LikelyPartitions(%q, %d) = %v: kcat's CRC32 partition %d missing", k, n, ps, crc)
			}
			sorted := slices.Sorted(slices.Values(ps))
			if len(slices.Compact(sorted)) != len(ps) || sorted[0] < 0 || sorted[len(sorted)-1] >= n {
				t.Errorf("LikelyPartitions(%q, %d) = %v: repeats, or out of [0, %d)", k, n, ps, n)
			}
		}
	}
}
