package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/kafka"
)

// BenchmarkSearch measures a customer lookup on one instance holding all
// 12 partitions of 6,000 customers (500 a partition), compacted into
// sstables: a miss reads all 12 partitions, a hit on the customer's
// murmur2 partition one; http_miss is a whole GET answered 404.
func BenchmarkSearch(b *testing.B) {
	const parts, customers = 12, 6000
	c := newCluster(b, parts)
	n := c.start(b, "bench", listen(b))
	waitSplit(b, parts, n)
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = fmt.Sprintf("cus_%06d", i)
	}
	ends := produceTo(b, c, ids, func(_ int, id string) int32 { return kafka.PartitionFor(id, parts) })
	waitProcessed(b, ends, n)
	// The checkpoint (every second) writes the states to the store;
	// compaction puts them in sstables, where a production store has
	// most of them.
	time.Sleep(3 * time.Second)
	if err := n.eng.Compact(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	misses := make([]string, 1024)
	for i := range misses {
		misses[i] = fmt.Sprintf("nobody_%06d", i)
	}
	b.Run("miss_12_partitions", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s, err := n.rt.Search(ctx, misses[i%len(misses)])
			if err != nil || s.Found || len(s.Searched) != parts {
				b.Fatalf("%+v %v", s, err)
			}
			i++
		}
	})
	b.Run("hit_murmur2_partition", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s, err := n.rt.Search(ctx, ids[i%len(ids)])
			if err != nil || !s.Found || len(s.Searched) != 1 {
				b.Fatalf("%+v %v", s, err)
			}
			i++
		}
	})
	b.Run("http_miss", func(b *testing.B) {
		i := 0
		for b.Loop() {
			resp, err := http.Get(n.url + "/v1/customers/" + misses[i%len(misses)])
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				b.Fatalf("status %d", resp.StatusCode)
			}
			i++
		}
	})
}

// BenchmarkLookupAcrossPeers measures GET /v1/customers/{id} on one of two
// instances holding 6 of 12 partitions each: a miss searches its own six
// and asks the other (404), a hit on the other's partition is relayed.
func BenchmarkLookupAcrossPeers(b *testing.B) {
	const parts = 12
	c := newCluster(b, parts)
	a, other := twoNodes(b, c)
	ofOther := other.rt.Partitions()
	ids := make([]string, 0, 600)
	var remote []string
	for i := range cap(ids) {
		id := fmt.Sprintf("cus_%06d", i)
		ids = append(ids, id)
		if _, ok := ofOther[kafka.PartitionFor(id, parts)]; ok {
			remote = append(remote, id)
		}
	}
	ends := produceTo(b, c, ids, func(_ int, id string) int32 { return kafka.PartitionFor(id, parts) })
	waitProcessed(b, ends, a, other)
	get := func(b *testing.B, id string, want int) {
		resp, err := http.Get(a.url + "/v1/customers/" + id)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("%s: status %d, want %d", id, resp.StatusCode, want)
		}
	}
	b.Run("miss_asking_one_peer", func(b *testing.B) {
		i := 0
		for b.Loop() {
			get(b, fmt.Sprintf("nobody_%06d", i%1024), http.StatusNotFound)
			i++
		}
	})
	b.Run("hit_on_the_peer", func(b *testing.B) {
		i := 0
		for b.Loop() {
			get(b, remote[i%len(remote)], http.StatusOK)
			i++
		}
	})
}
