package kafka

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/lifeline-hq/lifeline/engine"
)

// A customer's state lives in the input partition its records went to,
// which is the producer's choice, not Lifeline's: the Java client, franz-go
// and librdkafka's murmur2 partitioners hash the key with murmur2; kcat and
// every other librdkafka client by default (consistent_random) with CRC32;
// Sarama and segmentio/kafka-go with FNV-1a; and records keyed by something
// else than the customer (anonymousId, a session, no key at all) can be on
// any partition. A lookup therefore tries the partitions those hashes give
// first, then every other one.

// LikelyPartitions returns, without repeats, the partitions among n that
// the common partitioners give key, most common first: murmur2 (the Java
// client's, franz-go's, librdkafka's murmur2_random), CRC32 (librdkafka's
// default consistent_random, kafka-go's CRC32Balancer), FNV-1a as Sarama's
// and kafka-go's Hash do it (int32 remainder, sign dropped), FNV-1a with
// the sign bit masked (Sarama's reference hash), and FNV-1a unsigned
// (librdkafka's fnv1a). The first is PartitionFor(key, n).
func LikelyPartitions(key string, n int32) []int32 {
	out := make([]int32, 0, 5)
	add := func(p int32) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	add(PartitionFor(key, n))
	add(int32(crc32.ChecksumIEEE([]byte(key)) % uint32(n)))
	h := fnv1a(key)
	p := int32(h) % n
	if p < 0 {
		p = -p
	}
	add(p)
	add(int32(h&0x7fffffff) % n)
	add(int32(h % uint32(n)))
	return out
}

// fnv1a is the 32-bit FNV-1a hash (hash/fnv's New32a, without its
// allocation).
func fnv1a(s string) uint32 {
	const (
		offset uint32 = 2166136261
		prime  uint32 = 16777619
	)
	h := offset
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= prime
	}
	return h
}

// Search is what looking a customer up in the partitions this instance
// holds found.
type Search struct {
	// Partitions is the input topic's partition count.
	Partitions int32
	// Home is the partition Kafka's default partitioner (murmur2) gives
	// the customer id: where it is when the producer keyed records by
	// customer with the Java client's partitioner.
	Home int32
	// Found: the customer's state is in Partition, and State is it.
	Found     bool
	Partition int32
	State     engine.State
	// Searched are the partitions held here, restored, that were
	// searched, ascending: when the customer was not found, every
	// partition this instance holds restored.
	Searched []int32
	// Restoring are the partitions held here that are being restored
	// from the changelog, ascending: not searched.
	Restoring []int32
}

// Search looks customer up in every input partition this instance holds:
// first the partitions the common partitioners give the id
// (LikelyPartitions), then the others in order. Each is one cached or
// Pebble point read (the cost of a miss is in README.md, API). Partitions
// being restored are not searched but listed. It reads committed state
// only and does not block on processing; it returns early with ctx's
// error. An error is the store's, or the input topic's partition count
// being unknown.
//
// A customer whose records went to several partitions (records keyed by
// something else than the customer) has a state in each: Search returns
// the first it finds, in the order above.
func (r *Runtime) Search(ctx context.Context, customer string) (Search, error) {
	n, err := r.partitionCount(ctx)
	if err != nil {
		return Search{}, err
	}
	r.mu.Lock()
	held := make(map[int32]bool, len(r.workers))
	for id, w := range r.workers {
		held[id] = w.ready.Load()
	}
	r.mu.Unlock()
	// A partition beyond the count listed: the topic has grown since.
	for id := range held {
		if id >= n {
			r.nparts.Store(0)
			if n, err = r.partitionCount(ctx); err != nil {
				return Search{}, err
			}
			break
		}
	}
	s := Search{Partitions: n, Home: PartitionFor(customer, n)}
	order := LikelyPartitions(customer, n)
	likely := len(order)
	for id := range held {
		if !slices.Contains(order[:likely], id) {
			order = append(order, id)
		}
	}
	slices.Sort(order[likely:])
	for _, p := range order {
		ready, ok := held[p]
		switch {
		case !ok:
			continue
		case !ready:
			s.Restoring = append(s.Restoring, p)
			continue
		}
		if err := ctx.Err(); err != nil {
			return s, err
		}
		st, found, err := r.eng.Lookup(p, customer)
		if err != nil {
			return s, fmt.Errorf("search partition %d: %w", p, err)
		}
		s.Searched = append(s.Searched, p)
		if found {
			s.Found, s.Partition, s.State = true, p, st
			break
		}
	}
	slices.Sort(s.Searched)
	slices.Sort(s.Restoring)
	return s, nil
}
