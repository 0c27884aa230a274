package kafka_test

// Shared machinery of the end-to-end tests: a kfake broker on loopback,
// runtimes with real Pebble stores in temp dirs, a producer and a separate
// reader of the output topics, and the offline replay the Kafka results are
// compared with.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
)

// Timeouts are generous: the tests share two cores with other work.
const (
	waitLong  = 90 * time.Second // processing a workload, a takeover
	waitShort = 30 * time.Second // joining, a small batch
)

// workloadStart is the journeys' day 0; the runtimes' clock stays there, so
// that idle partitions never move their watermark by the wall clock and the
// Kafka run stays comparable with the offline replay.
var workloadStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newCluster starts a one-broker kfake cluster on a free loopback port and
// returns its address; the test closes it.
func newCluster(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		return net.Listen(network, "127.0.0.1:0")
	})}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// testConfig is a runtime config for the broker at addr: topics created
// with parts partitions, a state dir of the test's own, no idle
// watermark advance within the test's lifetime, and no bound on how far
// ahead of the clock events may be: startInstance's clock stands still at
// the workload's start, and the workloads run weeks past it.
func testConfig(t *testing.T, addr, group, client string, parts int32, guarantee string) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.Brokers = []string{addr}
	cfg.Group = group
	cfg.ClientID = client
	cfg.Guarantee = guarantee
	cfg.StateDir = t.TempDir()
	cfg.CreateTopics = config.CreateTopics{Enabled: true, Partitions: parts, Replication: 1}
	cfg.Engine.IdleTimeout = config.Duration(time.Hour)
	cfg.Engine.MaxEventAhead = 0
	cfg.Engine.MaxPollRecords = 500
	// Checkpoints every few batches, so that tests cross them.
	cfg.Engine.CheckpointEvents = 2000
	cfg.Engine.TransactionTimeout = config.Duration(30 * time.Second)
	cfg.Log.Level = "info"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// logBuffer keeps the last logs of a test, shown only when it fails: the
// runtime's goroutines may log until they stop, which t.Log does not allow
// after the test ends.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 512<<10; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func testLogger(t *testing.T, name string) zerolog.Logger {
	t.Helper()
	lb := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of %s (last 512 KiB):\n%s", name, lb.String())
		}
	})
	return zerolog.New(lb).Level(zerolog.InfoLevel).With().Timestamp().Str("instance", name).Logger()
}

// instance is one running Lifeline: a runtime over its own engine.
type instance struct {
	name string
	cfg  config.Config
	rt   *kafka.Runtime
	eng  *engine.Engine
	reg  *prometheus.Registry
	m    *metrics.Metrics

	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, set before done closes
	closed sync.Once
}

// startInstance opens the engine on cfg.StateDir and runs a runtime over
// it until the test ends (or stop is called).
func startInstance(t *testing.T, cfg config.Config, extra ...kgo.Opt) *instance {
	t.Helper()
	return startInstanceClock(t, cfg, func() time.Time { return workloadStart }, extra...)
}

// startInstanceClock is startInstance with the runtime's wall clock.
func startInstanceClock(t *testing.T, cfg config.Config, clock func() time.Time, extra ...kgo.Opt) *instance {
	t.Helper()
	return launch(t, cfg, cfg.Engine.Options(), clock, extra...)
}

// launch opens the engine on cfg.StateDir with opts and runs a runtime
// over it until the test ends (or stop is called).
func launch(t *testing.T, cfg config.Config, opts engine.Options, clock func() time.Time, extra ...kgo.Opt) *instance {
	t.Helper()
	eng, err := engine.Open(cfg.StateDir, rules.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	rt, err := kafka.New(cfg, eng, kafka.Options{
		Logger:    testLogger(t, cfg.ClientID),
		Metrics:   m,
		Clock:     clock,
		ExtraOpts: extra,
	})
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{name: cfg.ClientID, cfg: cfg, rt: rt, eng: eng, reg: reg, m: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		in.err = rt.Run(ctx)
	}()
	t.Cleanup(func() { in.stop(t) })
	return in
}

// stop cancels the runtime, waits for Run to return and closes the
// engine (its store may be opened again); a runtime that does not stop
// within the grace period fails the test.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	in.closed.Do(func() {
		in.cancel()
		select {
		case <-in.done:
		case <-time.After(waitLong):
			t.Errorf("%s: Run did not return within %v of its context ending", in.name, waitLong)
			<-in.done
		}
		if err := in.eng.Close(); err != nil {
			t.Errorf("%s: close engine: %v", in.name, err)
		}
	})
}

// stopped reports whether Run has returned.
func (in *instance) stopped() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// waitFor polls cond until it holds, failing the test after timeout with
// what describe says about the last state.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReady waits until the instances together hold all n partitions,
// each of them at least one (a member assigned nothing is ready too, and
// cooperative rebalancing moves partitions in two rounds), and each
// reports ready.
func waitReady(t *testing.T, n int, ins ...*instance) {
	t.Helper()
	waitFor(t, waitLong, "the group to be assigned and ready", func() (bool, string) {
		owned, all := 0, true
		var why []string
		for _, in := range ins {
			if in.stopped() {
				t.Fatalf("%s: Run returned early: %v", in.name, in.err)
			}
			ok, reason := in.rt.Ready()
			parts := len(in.rt.Partitions())
			all = all && ok && (parts > 0 || n < len(ins))
			owned += parts
			why = append(why, fmt.Sprintf("%s: %s (%d partitions)", in.name, reason, parts))
		}
		return all && owned == n, strings.Join(why, "; ")
	})
}

// waitProcessed waits until, for every partition of ends, one of the
// instances has committed state up to the partition's end offset.
func waitProcessed(t *testing.T, ends map[int32]int64, ins ...*instance) {
	t.Helper()
	waitFor(t, waitLong, "every input record to be processed", func() (bool, string) {
		next := map[int32]int64{}
		for _, in := range ins {
			if in.stopped() {
				t.Fatalf("%s: Run returned early: %v", in.name, in.err)
			}
			for p, m := range in.rt.Metas() {
				next[p] = max(next[p], m.Next)
			}
		}
		done := true
		var state []string
		for p := int32(0); p < int32(len(ends)); p++ {
			if next[p] < ends[p] {
				done = false
			}
			state = append(state, fmt.Sprintf("p%d %d/%d", p, next[p], ends[p]))
		}
		return done, strings.Join(state, " ")
	})
}

// inputRecord is one produced input record, where Kafka put it.
type inputRecord struct {
	Key       string
	Value     []byte
	Time      time.Time // event time (workload records)
	Headers   []kgo.RecordHeader
	Partition int32
	Offset    int64
}

// journeys generates a workload's records (bad ones included).
func journeys(t *testing.T, cfg journey.Config) []inputRecord {
	t.Helper()
	g, err := journey.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []inputRecord
	for {
		r, ok := g.Next()
		if !ok {
			return out
		}
		out = append(out, inputRecord{Key: r.Key, Value: bytes.Clone(r.Value), Time: r.Time})
	}
}

// newClient is a plain franz-go client of the test's own on addr.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes recs to topic with franz-go's default (Kafka-compatible)
// partitioner, keyed by customer id, and records where each landed. It
// checks that Kafka put every keyed record where kafka.PartitionFor says.
func produce(t *testing.T, cl *kgo.Client, topic string, nparts int32, recs []inputRecord) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for i := range recs {
		// Stamped with the event time, as a producer writing as events
		// happen does: the record time dates a message without its own
		// (the workload's bad records include one).
		r := &kgo.Record{Topic: topic, Value: recs[i].Value, Headers: recs[i].Headers, Timestamp: recs[i].Time}
		if recs[i].Key != "" {
			r.Key = []byte(recs[i].Key)
		}
		wg.Add(1)
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			recs[i].Partition, recs[i].Offset = r.Partition, r.Offset
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce to %s: %v", topic, firstErr)
	}
	for _, r := range recs {
		if r.Key != "" {
			if p := kafka.PartitionFor(r.Key, nparts); p != r.Partition {
				t.Fatalf("key %q: Kafka's partitioner chose partition %d, kafka.PartitionFor says %d", r.Key, r.Partition, p)
			}
		}
	}
}

// splitDays splits a workload at day boundaries. produce records where
// each record landed in the phase's slice: join them again (joinPhases)
// for the replay.
func splitDays(recs []inputRecord, days ...int) [][]inputRecord {
	out := make([][]inputRecord, len(days)+1)
	for _, r := range recs {
		day := int(r.Time.Sub(workloadStart) / (24 * time.Hour))
		i := 0
		for i < len(days) && day >= days[i] {
			i++
		}
		out[i] = append(out[i], r)
	}
	return out
}

func joinPhases(phases [][]inputRecord) []inputRecord {
	var out []inputRecord
	for _, p := range phases {
		out = append(out, p...)
	}
	return out
}

// processAndStop waits until in is ready, produces recs to its input
// through prod, waits until in has processed them, and stops it: it must
// stop cleanly.
func processAndStop(t *testing.T, in *instance, prod *kgo.Client, nparts int32, recs []inputRecord) {
	t.Helper()
	waitReady(t, int(nparts), in)
	produce(t, prod, in.cfg.Topics.Input, nparts, recs)
	waitProcessed(t, endOffsets(nparts, recs), in)
	in.stop(t)
	if in.err != nil {
		t.Fatalf("%s: Run: %v", in.name, in.err)
	}
}

// compareWithReplay checks that eng's states and the output topics are
// exactly those of an offline replay of recs, alerts counted by id and
// status.
func compareWithReplay(t *testing.T, addr string, cfg config.Config, recs []inputRecord, nparts int32, eng *engine.Engine) {
	t.Helper()
	want, offline := replayOffline(t, recs, nparts, cfg.Engine.AllowedLateness)
	compareStates(t, recs, nparts, offline, eng)
	got := outputsOf(t, cfg, readAll(t, addr, cfg.Topics.Alerts, cfg.Topics.Stages, cfg.Topics.Health))
	compareOutputs(t, want, got)
	compareAlerts(t, want, got)
}

// endOffsets is the offset after the last record of each partition that
// recs landed in (produced without transactions: no markers).
func endOffsets(nparts int32, recs []inputRecord) map[int32]int64 {
	ends := map[int32]int64{}
	for p := int32(0); p < nparts; p++ {
		ends[p] = 0
	}
	for _, r := range recs {
		ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
	}
	return ends
}

// outputs are output records by kind and customer, in the order of the
// customer's records (the order within a topic partition).
type outputs map[string][]string

func outKey(kind, customer string) string { return kind + " " + customer }

// replayOffline runs the engine without Kafka over the same records,
// partition by partition in offset order (batches of 250, as a runtime's
// polls would split them), in a store of its own. It returns the outputs
// and the engine, whose store holds the expected final states.
func replayOffline(t *testing.T, recs []inputRecord, nparts int32, lateness config.Duration) (outputs, *engine.Engine) {
	t.Helper()
	eng, err := engine.Open(t.TempDir(), rules.Default(), engine.Options{AllowedLateness: engine.Lateness(lateness.Std())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	byPart := make([][]inputRecord, nparts)
	for _, r := range recs {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	want := outputs{}
	dec := decode.New(decode.Options{CustomerField: config.Defaults().CustomerField})
	for p := int32(0); p < nparts; p++ {
		rs := byPart[p]
		sort.Slice(rs, func(i, j int) bool { return rs[i].Offset < rs[j].Offset })
		part, err := eng.Partition(p)
		if err != nil {
			t.Fatal(err)
		}
		src := &inputSource{dec: dec, recs: rs}
		_, err = engine.NewDriver(part).Run(context.Background(), src, engine.RunOptions{BatchSize: 250}, func(out *engine.Outputs) error {
			for _, o := range out.Records {
				k := outKey(o.Kind.String(), o.Key)
				want[k] = append(want[k], string(o.Value))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		eng.Release(part)
	}
	return want, eng
}

// inputSource is the engine's Source over input records, as the runtime's
// is: undecodable records carry no event.
type inputSource struct {
	dec  *decode.Decoder
	recs []inputRecord
	i    int
	hs   []decode.Header
}

func (s *inputSource) Next() (int64, error) {
	if s.i >= len(s.recs) {
		return 0, io.EOF
	}
	s.i++
	return s.recs[s.i-1].Offset, nil
}

func (s *inputSource) Event(ev *engine.Event) bool {
	r := &s.recs[s.i-1]
	s.hs = s.hs[:0]
	for _, h := range r.Headers {
		s.hs = append(s.hs, decode.Header{Key: h.Key, Value: h.Value})
	}
	// As the runtime does: the record time is the last fallback.
	var recordTime int64
	if !r.Time.IsZero() {
		recordTime = r.Time.UnixMilli()
	}
	return s.dec.DecodeAt(r.Value, s.hs, recordTime, ev) == nil
}

// outputRecord is one record read back from an output topic.
type outputRecord struct {
	Topic, Key string
	Value      []byte
	Partition  int32
	Offset     int64
	Headers    []kgo.RecordHeader
}

// sentinelKey marks the records readAll appends to learn that it has read
// a partition to its end; no customer id starts with NUL.
const sentinelKey = "\x00end-of-test"

// readAll reads every committed record of topics from the beginning, with
// a consumer of the test's own (read_committed). To know that it has read
// everything without guessing at a quiet period, it first appends a
// sentinel record (outside any transaction) to every partition of every
// topic, then reads until it has seen them all: records before a sentinel
// are committed or aborted by then, provided no transaction is left open
// (an open one holds the read back until it times out). Sentinels are not
// returned.
func readAll(t *testing.T, addr string, topics ...string) []outputRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	prod := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(prod)
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	pending := map[string]map[int32]bool{}
	for _, topic := range topics {
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil {
			t.Fatalf("topic %s: %v", topic, td.Err)
		}
		pending[topic] = map[int32]bool{}
		for p := range td.Partitions {
			pending[topic][p] = true
			r := &kgo.Record{Topic: topic, Partition: p, Key: []byte(sentinelKey), Value: []byte("{}")}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce sentinel to %s/%d: %v", topic, p, err)
			}
		}
	}
	cons := newClient(t, addr,
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	var out []outputRecord
	left := 0
	for _, ps := range pending {
		left += len(ps)
	}
	for left > 0 {
		fetches := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %v: %d partitions not read to their end: %v", topics, left, pending)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("reading %s/%d: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == sentinelKey {
				if pending[r.Topic][r.Partition] {
					delete(pending[r.Topic], r.Partition)
					left--
				}
				return
			}
			out = append(out, outputRecord{Topic: r.Topic, Key: string(r.Key), Value: r.Value, Partition: r.Partition, Offset: r.Offset, Headers: r.Headers})
		})
	}
	return out
}

// outputsOf groups records read from the alert, stage and health topics by
// kind and customer, checking on the way that each is in the topic of its
// kind and keyed by its customer id.
func outputsOf(t *testing.T, cfg config.Config, recs []outputRecord) outputs {
	t.Helper()
	kindOf := map[string]string{cfg.Topics.Alerts: "alert", cfg.Topics.Stages: "stage", cfg.Topics.Health: "health"}
	got := outputs{}
	bad := 0
	for _, r := range recs {
		var v struct {
			Kind       string `json:"kind"`
			CustomerID string `json:"customer_id"`
		}
		err := json.Unmarshal(r.Value, &v)
		switch {
		case err != nil:
			err = fmt.Errorf("not JSON: %w", err)
		case v.Kind != kindOf[r.Topic]:
			err = fmt.Errorf("kind %q in topic %s", v.Kind, r.Topic)
		case v.CustomerID == "" || v.CustomerID != r.Key:
			err = fmt.Errorf("key %q is not the customer id %q", r.Key, v.CustomerID)
		}
		if err != nil {
			if bad++; bad <= 5 {
				t.Errorf("%s/%d@%d: %v: %s", r.Topic, r.Partition, r.Offset, err, r.Value)
			}
			continue
		}
		k := outKey(v.Kind, v.CustomerID)
		got[k] = append(got[k], string(r.Value))
	}
	return got
}

// compareOutputs reports the customers whose records of some kind differ
// (in content or order) between want and got.
func compareOutputs(t *testing.T, want, got outputs) {
	t.Helper()
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	diffs, total := 0, 0
	for _, k := range sorted {
		w, g := want[k], got[k]
		total += len(w)
		if equalStrings(w, g) {
			continue
		}
		if diffs++; diffs <= 5 {
			t.Errorf("%s: offline replay gives %d records, Kafka %d; first difference:\n%s", k, len(w), len(g), firstDiff(w, g))
		}
	}
	if diffs > 0 {
		t.Errorf("%d of %d (kind, customer) sequences differ", diffs, len(sorted))
	}
	if total == 0 {
		t.Error("the offline replay produced no output at all")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func firstDiff(want, got []string) string {
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Sprintf("  #%d want %s\n  #%d got  %s", i, w, i, g)
		}
	}
	return "(none)"
}

// counter sums the values of a counter family in reg over the series whose
// labels include match.
func counter(t *testing.T, reg *prometheus.Registry, name string, match map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// committedOffsets reads the group's committed input offsets.
func committedOffsets(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]int64, error) {
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := resp.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// waitCommitted waits until the group's committed offsets reach ends.
func waitCommitted(t *testing.T, addr, group, topic string, ends map[int32]int64) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	waitFor(t, waitShort, "the group's offsets to be committed", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := committedOffsets(ctx, adm, group, topic)
		if err != nil {
			return false, err.Error()
		}
		for p, e := range ends {
			if got[p] != e {
				return false, fmt.Sprintf("committed %v, ends %v", got, ends)
			}
		}
		return true, ""
	})
}
