package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
)

// corpus is a workload split by partition the way Kafka's default
// partitioner would split it: each partition's records in event-time order.
type corpus struct {
	parts  [][][]byte
	keys   [][]string
	events int
	good   int
}

func generate(customers, days, partitions int, seed int64) (*corpus, error) {
	g, err := journey.New(journey.Config{Customers: customers, Days: days, Seed: seed})
	if err != nil {
		return nil, err
	}
	c := &corpus{parts: make([][][]byte, partitions), keys: make([][]string, partitions)}
	// One arena per partition keeps the values contiguous and cheap to
	// hold.
	arenas := make([][]byte, partitions)
	for {
		rec, ok := g.Next()
		if !ok {
			break
		}
		p := 0
		if rec.Key != "" {
			p = int(kafka.PartitionFor(rec.Key, int32(partitions)))
		}
		if cap(arenas[p])-len(arenas[p]) < len(rec.Value) {
			arenas[p] = make([]byte, 0, max(1<<20, len(rec.Value)))
		}
		start := len(arenas[p])
		arenas[p] = append(arenas[p], rec.Value...)
		c.parts[p] = append(c.parts[p], arenas[p][start:len(arenas[p]):len(arenas[p])])
		c.keys[p] = append(c.keys[p], rec.Key)
		c.events++
		if !rec.Bad {
			c.good++
		}
	}
	return c, nil
}

type engineResult struct {
	events          int
	engineRate      float64
	decodeRate      float64
	pebbleRate      float64
	diskPerCustomer float64
	// tablePerCustomer counts the sstables only: the rest of the disk is
	// the write-ahead log, bounded by the memtables, not by customers.
	tablePerCustomer float64
	heapPerCustomer  float64
	allocsPerEvent   float64
	cacheHitRate     float64 // state reads the cache answered
	rssMB            float64
}

// rss is the process's resident memory (VmRSS), which counts Pebble's
// manually managed block cache and memtables as well as the Go heap.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// parallel runs fn for each partition in its own goroutine and returns
// the wall time. The goroutines carry the pprof label phase=name, so that
// `go tool pprof -tagfocus phase=engine` shows one phase of a -cpuprofile.
func parallel(name string, n int, fn func(p int) error) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	pprof.Do(context.Background(), pprof.Labels("phase", name), func(context.Context) {
		for p := 0; p < n; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[p] = fn(p)
			}()
		}
		wg.Wait()
	})
	el := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return el, err
		}
	}
	return el, nil
}

func engineRun(customers, days, partitions int, pack *rules.Pack) (engineResult, error) {
	if pack == nil {
		pack = rules.Default()
	}
	var r engineResult
	c, err := generate(customers, days, partitions, 1)
	if err != nil {
		return r, err
	}
	r.events = c.events

	// Ceiling 1: decoding alone.
	el, err := parallel("decode", partitions, func(p int) error {
		d := decode.New(decode.Options{})
		var ev engine.Event
		for _, v := range c.parts[p] {
			_ = d.Decode(v, nil, &ev)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	r.decodeRate = float64(c.events) / el.Seconds()

	// Ceiling 2: one raw Pebble write per event (a 160-byte value under the
	// customer's key), batches of 1000, no sync: the store's write path
	// without reads, rules or encoding.
	rawDir, err := os.MkdirTemp("", "lifeline-bench-raw-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(rawDir)
	db, err := pebble.Open(rawDir, &pebble.Options{Logger: engine.QuietPebbleLogger{}})
	if err != nil {
		return r, err
	}
	val := bytes.Repeat([]byte{7}, 160)
	el, err = parallel("pebble", partitions, func(p int) error {
		b := db.NewBatch()
		key := []byte{}
		for i, k := range c.keys[p] {
			key = append(append(key[:0], byte(p)), k...)
			_ = b.Set(key, val, nil)
			if i%1000 == 999 {
				if err := b.Commit(pebble.NoSync); err != nil {
					return err
				}
				b = db.NewBatch()
			}
		}
		return b.Commit(pebble.NoSync)
	})
	db.Close()
	if err != nil {
		return r, err
	}
	r.pebbleRate = float64(c.events) / el.Seconds()

	// The engine.
	dir, err := os.MkdirTemp("", "lifeline-bench-engine-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	// Checkpoints as the Kafka runtime's defaults make them (its
	// changelog carries each batch); batches of 1,000 events.
	def := config.Defaults()
	eng, err := engine.Open(dir, pack, engine.Options{CheckpointEvents: def.Engine.CheckpointEvents})
	if err != nil {
		return r, err
	}
	defer eng.Close()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	parts := make([]*engine.Partition, partitions)
	el, err = parallel("engine", partitions, func(p int) error {
		part, err := eng.Partition(int32(p))
		if err != nil {
			return err
		}
		parts[p] = part
		// Batches of 1,000 events, checkpoints when due: as the Kafka
		// runtime drives a partition, without Kafka.
		src := &corpusSource{dec: decode.New(decode.Options{}), vals: c.parts[p]}
		_, err = engine.NewDriver(part).Run(context.Background(), src, engine.RunOptions{BatchSize: 1000}, nil)
		return err
	})
	if err != nil {
		return r, err
	}
	r.engineRate = float64(c.events) / el.Seconds()
	runtime.ReadMemStats(&after)
	r.allocsPerEvent = float64(after.Mallocs-before.Mallocs) / float64(c.events)
	runtime.GC()
	runtime.ReadMemStats(&after)
	metas := map[int32]engine.Meta{}
	var hits, misses uint64
	for _, p := range parts {
		metas[p.ID()] = p.Meta()
		h, m := p.CacheStats()
		hits, misses = hits+h, misses+m
	}
	r.cacheHitRate = float64(hits) / float64(max(hits+misses, 1))
	t := engine.Totals(metas)
	if t.Customers == 0 {
		return r, fmt.Errorf("engine run saw no customers")
	}
	r.heapPerCustomer = float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(t.Customers)
	for _, p := range parts {
		eng.Release(p)
	}
	if err := eng.Compact(); err != nil {
		return r, err
	}
	r.diskPerCustomer = float64(eng.DiskUsage()) / float64(t.Customers)
	r.tablePerCustomer = float64(eng.Metrics().Table.Local.LiveSize) / float64(t.Customers)
	r.rssMB = float64(rss()) / (1 << 20)
	// The corpus must stay live until the heap is measured: freeing it
	// would make the engine's heap look negative.
	runtime.KeepAlive(c)
	return r, nil
}

// corpusSource is the engine's Source over one partition's encoded
// records: record i at position i; records that do not decode carry no
// event.
type corpusSource struct {
	dec  *decode.Decoder
	vals [][]byte
	i    int
}

func (s *corpusSource) Next() (int64, error) {
	if s.i >= len(s.vals) {
		return 0, io.EOF
	}
	s.i++
	return int64(s.i - 1), nil
}

func (s *corpusSource) Event(ev *engine.Event) bool {
	return s.dec.Decode(s.vals[s.i-1], nil, ev) == nil
}
