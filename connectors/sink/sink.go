package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
)

// Dead-letter headers a sink adds to a record it could not deliver (the
// record's key, value and own headers are kept). The __connect.errors.*
// ones are Kafka Connect's names, as on the engine's dead-letter topic.
const (
	HeaderSink     = "lifeline.sink"
	HeaderStatus   = "lifeline.sink.status"   // the last HTTP status ("0": no answer)
	HeaderAttempts = "lifeline.sink.attempts" // requests made
	HeaderError    = "lifeline.sink.error"    // why the last one failed
	headerTopic    = "__connect.errors.topic"
	headerPart     = "__connect.errors.partition"
	headerOffset   = "__connect.errors.offset"
	headerMessage  = "__connect.errors.exception.message"
)

// maxQueued is how many records a partition may have read but not yet
// delivered before its fetching pauses.
const maxQueued = 1000

// Options are what a Sink takes besides its configuration.
type Options struct {
	Logger  zerolog.Logger
	Metrics *Metrics // required: NewMetrics on the binary's registry
	// ExtraOpts are added to the Kafka client's options (tests, hooks).
	ExtraOpts []kgo.Opt
	// HTTPClient sends the requests (nil: a client of the sink's own;
	// redirects are never followed, a 3xx is a refusal).
	HTTPClient *http.Client
	// Clock is the wall clock of signatures' timestamps and digests' times
	// (nil: time.Now).
	Clock func() time.Time
}

// Sink is one configured sink at work. New connects it; Run runs it until
// its context ends; Close releases it.
type Sink struct {
	cfg    *config.Config
	sc     config.Sink
	group  string
	dlq    string
	log    zerolog.Logger
	m      *Metrics
	cl     *kgo.Client
	post   *poster
	filter filter
	now    func() time.Time
	sem    chan struct{} // bounds the partitions delivering at once
	digest *digest       // nil: one message per alert

	// base is the workers' parent context, from New (the group may
	// assign partitions as soon as the client exists) until Run ends or
	// Close.
	base     context.Context
	stopBase context.CancelFunc

	mu      sync.Mutex
	workers map[int32]*worker
	lag     map[int32]*partLag
}

type partLag struct{ high, next int64 }

// New builds the sink sc of cfg (cfg validated): its Kafka client, in
// group <group>-sink-<name> on topics.alerts with read_committed, and its
// HTTP client. Nothing is read until Run.
func New(cfg *config.Config, sc config.Sink, o Options) (*Sink, error) {
	if o.Metrics == nil {
		return nil, errors.New("sink: Options.Metrics is required")
	}
	now := o.Clock
	if now == nil {
		now = time.Now
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	s := &Sink{
		cfg: cfg, sc: sc, group: cfg.SinkGroup(&sc), dlq: cfg.SinkDeadLetterTopic(&sc),
		log: o.Logger.With().Str("sink", sc.Name).Logger(), m: o.Metrics, filter: newFilter(sc.Filter), now: now,
		sem: make(chan struct{}, sc.Concurrency), workers: map[int32]*worker{}, lag: map[int32]*partLag{},
	}
	var secret []byte
	if sc.Type == config.SinkWebhook {
		secret = []byte(sc.Secret)
	}
	s.base, s.stopBase = context.WithCancel(context.Background())
	s.post = &poster{sink: sc.Name, url: sc.URL, secret: secret, headers: sc.Headers, timeout: sc.Timeout.Std(),
		retry: sc.Retry, client: hc, m: o.Metrics, now: now}
	if sc.Digest > 0 {
		s.digest = newDigest(sc.DigestMaxAlerts)
	}
	opts, err := kafka.ClientOpts(cfg)
	if err != nil {
		s.stopBase()
		return nil, fmt.Errorf("sink %s: %w", sc.Name, err)
	}
	start := kgo.NewOffset().AtEnd()
	if sc.StartAt == "beginning" {
		start = kgo.NewOffset().AtStart()
	}
	opts = append(opts,
		kgo.ConsumerGroup(s.group),
		kgo.ConsumeTopics(cfg.Topics.Alerts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(start),
		kgo.AutoCommitMarks(),
		// Delivered offsets are committed every 250ms: what a kill -9
		// delivers again is what was delivered in the last 250ms.
		kgo.AutoCommitInterval(250*time.Millisecond),
		kgo.SessionTimeout(cfg.Engine.SessionTimeout.Std()),
		// As the engine's runtime: heartbeats every tenth of the session.
		kgo.HeartbeatInterval(min(cfg.Engine.SessionTimeout.Std()/10, 3*time.Second)),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.lost),
		kgo.DefaultProduceTopic(s.dlq),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	opts = append(opts, o.ExtraOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		s.stopBase()
		return nil, fmt.Errorf("sink %s: kafka client: %w", sc.Name, err)
	}
	s.cl = cl
	s.m.start(sc.Name)
	return s, nil
}

// Name is the sink's name.
func (s *Sink) Name() string { return s.sc.Name }

// Group is the sink's consumer group.
func (s *Sink) Group() string { return s.group }

// Close releases the Kafka client (Run leaves the group itself).
func (s *Sink) Close() {
	s.stopBase()
	s.cl.Close()
}

// Prepare checks the sink can start: its dead-letter topic exists, or is
// created when create_topics.enabled. Run calls it too; a caller that
// starts several parts calls it first to fail before any starts.
func (s *Sink) Prepare(ctx context.Context) error { return s.ensureDeadLetterTopic(ctx) }

// Run reads and delivers until ctx ends, then stops the partitions'
// deliveries (an alert in flight is not committed, so it is delivered
// again after a restart), commits what was delivered and leaves the group.
// It returns nil when ctx ended, or what stopped it.
func (s *Sink) Run(ctx context.Context) error {
	if err := s.ensureDeadLetterTopic(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, s.stopBase)
	defer stop()
	var wg sync.WaitGroup
	if s.digest != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.flushLoop(ctx)
		}()
	}
	s.log.Info().Str("group", s.group).Str("topic", s.cfg.Topics.Alerts).Str("dead_letter_topic", s.dlq).
		Str("type", s.sc.Type).Msg("sink starting")
	for ctx.Err() == nil {
		fetches := s.cl.PollRecords(ctx, 1000)
		if fetches.IsClientClosed() {
			break
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				s.log.Warn().Err(err).Str("topic", topic).Int32("partition", p).Msg("fetch")
			}
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			first := int64(-1)
			if len(fp.Records) > 0 {
				first = fp.Records[0].Offset
			}
			s.setHigh(fp.Partition, fp.HighWatermark, first)
			if len(fp.Records) == 0 {
				return
			}
			s.mu.Lock()
			w := s.workers[fp.Partition]
			s.mu.Unlock()
			if w == nil {
				return // revoked meanwhile: its new owner reads them
			}
			w.push(fp.Records)
		})
	}
	cancel()
	wg.Wait()
	s.stopWorkers(nil)
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := s.cl.CommitMarkedOffsets(cctx); err != nil {
		s.log.Warn().Err(err).Msg("commit on stop (the next start delivers the uncommitted alerts again)")
	}
	s.cl.LeaveGroup()
	s.log.Info().Msg("sink stopped")
	return nil
}

// ensureDeadLetterTopic creates the dead-letter topic when it is missing
// and create_topics.enabled; a missing one is otherwise an error naming
// the fix, found at start rather than at the first refusal.
func (s *Sink) ensureDeadLetterTopic(ctx context.Context) error {
	adm := kadm.NewClient(s.cl)
	md, err := adm.Metadata(ctx, s.dlq)
	if err != nil {
		return fmt.Errorf("sink %s: describe dead-letter topic %s: %w", s.sc.Name, s.dlq, err)
	}
	if td, ok := md.Topics[s.dlq]; ok && td.Err == nil {
		return nil
	}
	if !s.cfg.CreateTopics.Enabled {
		return fmt.Errorf("sink %s: dead-letter topic %s does not exist (create it, set sinks[].dead_letter_topic, or set create_topics.enabled: true)", s.sc.Name, s.dlq)
	}
	resp, err := adm.CreateTopic(ctx, 1, s.cfg.CreateTopics.Replication, nil, s.dlq)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("sink %s: create dead-letter topic %s: %w", s.sc.Name, s.dlq, err)
	}
	return nil
}

// assigned starts a worker per new partition.
func (s *Sink) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts[s.cfg.Topics.Alerts] {
		if s.workers[p] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(s.base)
		w := &worker{s: s, part: p, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
		s.workers[p] = w
		s.lag[p] = &partLag{high: -1, next: -1}
		go w.run()
	}
}

// revoked stops the revoked partitions' workers and commits what they
// delivered: their next owner starts there.
func (s *Sink) revoked(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
	s.stopWorkers(parts[s.cfg.Topics.Alerts])
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		s.log.Warn().Err(err).Msg("commit on revoke (the next owner delivers the uncommitted alerts again)")
	}
}

// lost stops the lost partitions' workers; nothing can be committed.
func (s *Sink) lost(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	s.stopWorkers(parts[s.cfg.Topics.Alerts])
}

// stopWorkers stops the workers of parts (nil: all) and waits for them.
func (s *Sink) stopWorkers(parts []int32) {
	s.mu.Lock()
	var stop []*worker
	if parts == nil {
		for p := range s.workers {
			parts = append(parts, p)
		}
	}
	for _, p := range parts {
		if w := s.workers[p]; w != nil {
			stop = append(stop, w)
			delete(s.workers, p)
			delete(s.lag, p)
		}
	}
	s.updateLagLocked()
	s.mu.Unlock()
	for _, w := range stop {
		w.cancel()
		<-w.done
	}
	if len(parts) > 0 {
		// A paused partition stays paused when it comes back.
		s.cl.ResumeFetchPartitions(map[string][]int32{s.cfg.Topics.Alerts: parts})
	}
	if s.digest != nil {
		s.digest.drop(parts)
	}
}

// setHigh records partition p's high watermark and, before any record
// of it is done, the first offset read (where its lag counts from).
func (s *Sink) setHigh(p int32, high, first int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lag[p]
	if l == nil {
		return
	}
	if high >= 0 {
		l.high = high
	}
	if l.next < 0 && first >= 0 {
		l.next = first
	}
	s.updateLagLocked()
}

// setNext records that partition p is done up to offset next (excluded).
func (s *Sink) setNext(p int32, next int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.lag[p]; l != nil {
		l.next = next
		s.updateLagLocked()
	}
}

func (s *Sink) updateLagLocked() {
	var sum int64
	for _, l := range s.lag {
		if l.high >= 0 && l.next >= 0 && l.high > l.next {
			sum += l.high - l.next
		}
	}
	s.m.Lag.WithLabelValues(s.sc.Name).Set(float64(sum))
}

// worker delivers one partition's records, in order.
type worker struct {
	s      *Sink
	part   int32
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	queue  []*kgo.Record
	paused bool
}

// push queues records; beyond maxQueued it pauses the partition's
// fetching until the worker takes the queue (both under w.mu, so a pause
// is never left behind by a take that came first).
func (w *worker) push(recs []*kgo.Record) {
	w.mu.Lock()
	w.queue = append(w.queue, recs...)
	if len(w.queue) > maxQueued && !w.paused {
		w.paused = true
		w.s.cl.PauseFetchPartitions(map[string][]int32{w.s.cfg.Topics.Alerts: {w.part}})
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take waits for records (nil: the worker is stopping).
func (w *worker) take() []*kgo.Record {
	for {
		w.mu.Lock()
		q := w.queue
		w.queue = nil
		if w.paused {
			w.paused = false
			w.s.cl.ResumeFetchPartitions(map[string][]int32{w.s.cfg.Topics.Alerts: {w.part}})
		}
		w.mu.Unlock()
		if len(q) > 0 {
			return q
		}
		select {
		case <-w.ctx.Done():
			return nil
		case <-w.wake:
		}
	}
}

func (w *worker) run() {
	defer close(w.done)
	for {
		recs := w.take()
		if recs == nil {
			return
		}
		for _, r := range recs {
			if err := w.s.handle(w.ctx, r); err != nil {
				return // the context ended: the record is not committed
			}
		}
	}
}

// handle takes one record to its end: filtered, delivered or dead-lettered
// and marked for commit; or, with a digest, added to it (committed once
// the digest is sent). It returns an error only when ctx ended first.
func (s *Sink) handle(ctx context.Context, r *kgo.Record) error {
	a, err := parseAlert(r.Value)
	switch {
	case errors.Is(err, errNotAlert):
		s.m.Deliveries.WithLabelValues(s.sc.Name, OutcomeFiltered).Inc()
		s.done(r)
		return nil
	case err != nil:
		if err := s.deadLetter(ctx, r, result{err: err.Error()}); err != nil {
			return err
		}
		s.done(r)
		return nil
	case !s.filter.match(&a):
		s.m.Deliveries.WithLabelValues(s.sc.Name, OutcomeFiltered).Inc()
		s.done(r)
		return nil
	case s.digest != nil:
		if err := s.digest.add(ctx, pending{rec: r, alert: a}, s.kickFlush); err != nil {
			return err
		}
		s.setNext(r.Partition, r.Offset+1)
		return nil
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	began := time.Now()
	res, err := s.post.post(ctx, s.body(&a, r.Value), a.IdempotencyKey(), s.deliveryMeta(r))
	<-s.sem
	if err != nil {
		return err
	}
	s.m.Seconds.WithLabelValues(s.sc.Name).Observe(time.Since(began).Seconds())
	if res.delivered {
		s.m.Deliveries.WithLabelValues(s.sc.Name, OutcomeDelivered).Inc()
	} else {
		s.log.Warn().Str("alert_id", a.AlertID).Str("status", a.Status).Int("http_status", res.status).Int("attempts", res.attempts).
			Str("error", res.err).Str("dead_letter_topic", s.dlq).Msg("alert not delivered: dead-lettered")
		if err := s.deadLetter(ctx, r, res); err != nil {
			return err
		}
	}
	s.done(r)
	return nil
}

// done marks r for commit (without a digest: records finish in order) or
// notes it as read (with one: the next flush commits it).
func (s *Sink) done(r *kgo.Record) {
	if s.digest != nil {
		s.digest.seen(r)
	} else {
		s.cl.MarkCommitRecords(r)
	}
	s.setNext(r.Partition, r.Offset+1)
}

// body is the request body of one alert: for a webhook, the record as
// produced; for Slack, a message.
func (s *Sink) body(a *Alert, raw []byte) []byte {
	if s.sc.Type == config.SinkSlack {
		return slackAlert(a, s.sc.ConsoleURL)
	}
	return raw
}

// deliveryMeta are the headers saying where a delivery's record is.
func (s *Sink) deliveryMeta(r *kgo.Record) map[string]string {
	return map[string]string{"X-Lifeline-Record": r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)}
}

// deadLetter produces r to the sink's dead-letter topic with why, waiting
// for the broker (retrying until ctx ends: a record is never committed
// before its dead letter is stored).
func (s *Sink) deadLetter(ctx context.Context, r *kgo.Record, res result) error {
	hs := append([]kgo.RecordHeader(nil), r.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderSink, Value: []byte(s.sc.Name)},
		kgo.RecordHeader{Key: HeaderStatus, Value: []byte(strconv.Itoa(res.status))},
		kgo.RecordHeader{Key: HeaderAttempts, Value: []byte(strconv.Itoa(res.attempts))},
		kgo.RecordHeader{Key: HeaderError, Value: []byte(res.err)},
		kgo.RecordHeader{Key: headerTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: headerPart, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: headerOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: headerMessage, Value: []byte(res.err)},
	)
	dl := &kgo.Record{Topic: s.dlq, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: r.Timestamp}
	for {
		err := s.cl.ProduceSync(ctx, dl).FirstErr()
		if err == nil {
			s.m.Deliveries.WithLabelValues(s.sc.Name, OutcomeDeadLettered).Inc()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Error().Err(err).Str("dead_letter_topic", s.dlq).Msg("produce a dead letter; trying again")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// jsonRaw keeps a record's bytes as they are inside a digest body.
type jsonRaw = json.RawMessage
