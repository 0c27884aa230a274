package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
)

// e2eRun measures the engine through the Kafka protocol: throughput on a
// preloaded backlog (against raw consumption of the same backlog),
// latency at a fixed offered rate, and restore time from the changelog.
func e2eRun(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	broker, stopBroker, err := startBroker(ctx, o.brokerProcs)
	if err != nil {
		return err
	}
	defer stopBroker()
	dir, err := os.MkdirTemp("", "lifeline-bench-e2e-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Defaults()
	cfg.Brokers = []string{broker}
	cfg.ClientID = "bench"
	cfg.Group = "lifeline-bench"
	cfg.StateDir = dir
	cfg.CreateTopics = config.CreateTopics{Enabled: true, Partitions: int32(o.partitions), Replication: 1}
	if o.maxPoll > 0 {
		cfg.Engine.MaxPollRecords = o.maxPoll
	}

	admCl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return err
	}
	defer admCl.Close()

	// Preload the backlog.
	c, err := generate(o.e2eCusts, o.e2eDays, o.partitions, 2)
	if err != nil {
		return err
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(cfg.Topics.Input),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(1<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer pcl.Close()
	eng, err := engine.Open(dir, rules.Default(), cfg.Engine.Options())
	if err != nil {
		return err
	}
	defer eng.Close()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "bench")
	rt, err := kafka.New(cfg, eng, kafka.Options{Logger: zerolog.Nop(), Metrics: m})
	if err != nil {
		return err
	}
	// The backlog goes in before the runtime runs (and would create the
	// topics): create them first.
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(pcl), &cfg); err != nil {
		return err
	}
	start := time.Now()
	for p := range c.parts {
		for i, v := range c.parts[p] {
			pcl.Produce(ctx, &kgo.Record{Partition: int32(p), Key: []byte(c.keys[p][i]), Value: v}, nil)
		}
	}
	if err := pcl.Flush(ctx); err != nil {
		return err
	}
	// The broker has the backlog: let the collector have the corpus, so
	// that the harness's heap does not slow the engine's collections.
	c.parts, c.keys = nil, nil
	produceRate := float64(c.events) / time.Since(start).Seconds()

	// Ceiling: consume the backlog raw.
	consumeRate, err := rawConsume(ctx, broker, cfg.Topics.Input, c.events)
	if err != nil {
		return err
	}

	// The engine on the backlog. The broker is another process and the
	// harness's own clients are done: what the process allocates now is
	// the runtime's (franz-go included).
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	rtCtx, rtCancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	var rtErr error
	go func() {
		defer wg.Done()
		rtErr = rt.Run(rtCtx)
	}()
	stop := func() error {
		rtCancel()
		wg.Wait()
		return rtErr
	}
	var t0 time.Time
	processed := func() int64 {
		var n int64
		for _, meta := range rt.Metas() {
			n += meta.Events
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Minute)
	for processed() < int64(c.good) {
		if t0.IsZero() && processed() > 0 {
			t0 = time.Now()
		}
		if time.Now().After(deadline) {
			_ = stop()
			return fmt.Errorf("end-to-end run: %d of %d events processed after 10 min", processed(), c.good)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if t0.IsZero() {
		t0 = start
	}
	e2eRate := float64(c.events) / time.Since(t0).Seconds()
	runtime.ReadMemStats(&ms1)
	allocs := float64(ms1.Mallocs-ms0.Mallocs) / float64(c.events)
	allocBytes := float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(c.events)

	fmt.Fprintf(o.out, "## (2) End to end through the Kafka protocol (kfake on loopback, exactly_once, %d partitions, %s customers × %d days)\n\n", o.partitions, human(float64(o.e2eCusts)), o.e2eDays)
	fmt.Fprintln(o.out, "| measure | events | events/s | ceiling (raw consume, same backlog) | ratio | allocs/event | bytes allocated/event |")
	fmt.Fprintln(o.out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	fmt.Fprintf(o.out, "| backlog: consume, decode, apply, produce outputs + changelog, commit | %s | %s | %s | %.2f | %.1f | %.0f |\n", human(float64(c.events)), human(e2eRate), human(consumeRate), e2eRate/consumeRate, allocs, allocBytes)
	fmt.Fprintf(o.out, "| (producing the backlog into kfake, for scale) | %s | %s | | | | |\n\n", human(float64(c.events)), human(produceRate))

	if !o.skip["latency"] {
		if err := latencyRun(ctx, o, broker, &cfg, pcl, processed, m); err != nil {
			_ = stop()
			return err
		}
	}
	if err := stop(); err != nil {
		return err
	}
	if !o.skip["restore"] {
		return restoreRun(ctx, o, broker, &cfg)
	}
	return nil
}

func rawConsume(ctx context.Context, broker, topic string, n int) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	start := time.Now()
	got := 0
	for got < n {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		f := cl.PollFetches(pctx)
		cancel()
		if pctx.Err() != nil && f.NumRecords() == 0 {
			return 0, fmt.Errorf("raw consume: %d of %d records", got, n)
		}
		got += f.NumRecords()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// latencyRun offers events at a fixed rate and measures, for each output
// record, the time from producing the event that caused it to consuming
// the output (read_committed).
func latencyRun(ctx context.Context, o options, broker string, cfg *config.Config, pcl *kgo.Client, processed func() int64, m *metrics.Metrics) error {
	// The runtime's own histogram (poll to commit) over the same window,
	// to split the engine's part from the broker's and the consumers'.
	hist0 := histogramSnapshot(m)
	// The offered events continue the backlog's timeline: a jump in event
	// time would fire every customer's timers at once.
	g, err := journey.New(journey.Config{Customers: o.e2eCusts, Days: 365, Seed: 3, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, o.e2eDays), BadRate: -1})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	// Keyed by the event id's hash: a map without pointers is not scanned
	// by the garbage collector, which shares the engine's process.
	sent := map[uint64]int64{} // Unix ns
	// lat is event produced → output consumed; toOut and fromOut split
	// it at the output record's timestamp (set when the runtime produces
	// it, after processing): waiting for a poll plus processing, then the
	// transaction's commit plus the output consumer's fetch.
	var lat, toOut, fromOut []time.Duration
	cons, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(cfg.Topics.Alerts, cfg.Topics.Stages, cfg.Topics.Health),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		return err
	}
	defer cons.Close()
	cctx, ccancel := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	cwg.Add(1)
	dec := decode.New(decode.Options{})
	go func() {
		defer cwg.Done()
		for cctx.Err() == nil {
			f := cons.PollFetches(cctx)
			now := time.Now()
			f.EachRecord(func(r *kgo.Record) {
				id := extractEventID(r.Value)
				if id == "" {
					return
				}
				mu.Lock()
				if ns, ok := sent[xxhash.Sum64String(id)]; ok {
					t := time.Unix(0, ns)
					lat = append(lat, now.Sub(t))
					toOut = append(toOut, r.Timestamp.Sub(t))
					fromOut = append(fromOut, now.Sub(r.Timestamp))
				}
				mu.Unlock()
			})
		}
	}()
	// Let the consumer join before offering load.
	time.Sleep(time.Second)
	before := processed()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	perTick := o.rate / 100
	offered := 0
	var e engine.Event
	for time.Since(start) < o.rateFor {
		<-tick.C
		for i := 0; i < perTick; i++ {
			rec, ok := g.Next()
			if !ok {
				break
			}
			if dec.Decode(rec.Value, nil, &e) == nil {
				mu.Lock()
				sent[xxhash.Sum64String(e.ID)] = time.Now().UnixNano()
				mu.Unlock()
			}
			pcl.Produce(ctx, &kgo.Record{Topic: cfg.Topics.Input, Partition: kafka.PartitionFor(rec.Key, cfg.CreateTopics.Partitions), Key: []byte(rec.Key), Value: append([]byte(nil), rec.Value...)}, nil)
			offered++
		}
	}
	tick.Stop()
	_ = pcl.Flush(ctx)
	offeredFor := time.Since(start)
	// Drain.
	deadline := time.Now().Add(time.Minute)
	for processed()-before < int64(offered) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	ccancel()
	cwg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, l := range [][]time.Duration{lat, toOut, fromOut} {
		slices.Sort(l)
	}
	quant := func(l []time.Duration, f float64) time.Duration {
		if len(l) == 0 {
			return 0
		}
		return l[int(f*float64(len(l)-1))].Round(100 * time.Microsecond)
	}
	q := func(f float64) time.Duration { return quant(lat, f) }
	fmt.Fprintf(o.out, "## (2) Event-to-output latency at a fixed offered rate (%s events/s for %s)\n\n", human(float64(o.rate)), o.rateFor)
	hist := histogramSnapshot(m).minus(hist0)
	fmt.Fprintln(o.out, "| offered events/s | achieved | outputs measured | p50 | p99 | max | event → output produced p50 / p99 | output produced → consumed p50 / p99 | engine poll→commit p50 / p99 (histogram) |")
	fmt.Fprintln(o.out, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	fmt.Fprintf(o.out, "| %s | %s | %d | %s | %s | %s | %s / %s | %s / %s | ≤ %s / ≤ %s |\n\n", human(float64(o.rate)), human(float64(offered)/offeredFor.Seconds()), len(lat),
		q(0.5), q(0.99), q(1), quant(toOut, 0.5), quant(toOut, 0.99), quant(fromOut, 0.5), quant(fromOut, 0.99),
		hist.quantile(0.5), hist.quantile(0.99))
	return nil
}

// extractEventID pulls "event_id":"..." out of an output record without a
// full decode.
func extractEventID(v []byte) string {
	const k = `"event_id":"`
	i := bytes.Index(v, []byte(k))
	if i < 0 {
		return ""
	}
	rest := v[i+len(k):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 {
		return ""
	}
	return string(rest[:j])
}

// restoreRun restores every changelog partition into an empty store,
// as a new owner would, against raw consumption of the same changelog.
func restoreRun(ctx context.Context, o options, broker string, cfg *config.Config) error {
	dir, err := os.MkdirTemp("", "lifeline-bench-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	eng, err := engine.Open(dir, rules.Default(), cfg.Engine.Options())
	if err != nil {
		return err
	}
	defer eng.Close()
	read := func(apply bool) (records, customers int64, el time.Duration, err error) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(cfg.Topics.Changelog),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			return 0, 0, 0, err
		}
		defer cl.Close()
		parts := map[int32]*engine.Partition{}
		start := time.Now()
		idle := 0
		for idle < 3 {
			pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			f := cl.PollFetches(pctx)
			cancel()
			if f.NumRecords() == 0 {
				idle++
				continue
			}
			idle = 0
			var ferr error
			f.EachRecord(func(r *kgo.Record) {
				records++
				if !apply || ferr != nil {
					return
				}
				p, ok := parts[r.Partition]
				if !ok {
					if p, ferr = eng.Partition(r.Partition); ferr != nil {
						return
					}
					parts[r.Partition] = p
				}
				ferr = p.Restore(string(r.Key), r.Value)
			})
			if ferr != nil {
				return 0, 0, 0, ferr
			}
		}
		for _, p := range parts {
			if err := p.CommitRestore(1, 0); err != nil {
				return 0, 0, 0, err
			}
			customers += p.Meta().Customers
			eng.Release(p)
		}
		// The idle polls at the end are not restore work.
		return records, customers, time.Since(start) - 900*time.Millisecond, nil
	}
	_, _, rawEl, err := read(false)
	if err != nil {
		return err
	}
	n, customers, el, err := read(true)
	if err != nil {
		return err
	}
	if customers == 0 || n == 0 {
		return fmt.Errorf("restore run: empty changelog")
	}
	perM := el.Seconds() * 1e6 / float64(customers)
	fmt.Fprintf(o.out, "## (4) Restore from the changelog into an empty store\n\n")
	fmt.Fprintln(o.out, "| changelog records | customers | restore | seconds per million customers | raw consume of the changelog (ceiling) | ratio |")
	fmt.Fprintln(o.out, "| ---: | ---: | ---: | ---: | ---: | ---: |")
	fmt.Fprintf(o.out, "| %s | %s | %s | %.1f | %s | %.2f |\n\n", human(float64(n)), human(float64(customers)), el.Round(time.Millisecond), perM, rawEl.Round(time.Millisecond), rawEl.Seconds()/el.Seconds())
	return nil
}

// histogram is a snapshot of lifeline_processing_latency_seconds.
type histogram struct {
	bounds []float64
	counts []uint64 // cumulative, per bound
	total  uint64
}

func histogramSnapshot(m *metrics.Metrics) histogram {
	var pb dto.Metric
	if err := m.Latency.Write(&pb); err != nil {
		return histogram{}
	}
	var h histogram
	for _, b := range pb.GetHistogram().GetBucket() {
		h.bounds = append(h.bounds, b.GetUpperBound())
		h.counts = append(h.counts, b.GetCumulativeCount())
	}
	h.total = pb.GetHistogram().GetSampleCount()
	return h
}

func (h histogram) minus(o histogram) histogram {
	r := histogram{bounds: h.bounds, counts: make([]uint64, len(h.counts)), total: h.total - o.total}
	for i := range h.counts {
		r.counts[i] = h.counts[i]
		if i < len(o.counts) {
			r.counts[i] -= o.counts[i]
		}
	}
	return r
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h histogram) quantile(q float64) string {
	if h.total == 0 {
		return "n/a"
	}
	want := uint64(q * float64(h.total))
	for i, c := range h.counts {
		if c >= want {
			return time.Duration(h.bounds[i] * float64(time.Second)).String()
		}
	}
	return "> " + time.Duration(h.bounds[len(h.bounds)-1]*float64(time.Second)).String()
}
