// Package kafka runs the engine as a Kafka stream processor: a consumer
// group over the input topic, one goroutine per assigned partition, outputs
// to the alert, health and stage topics, undecodable input to the
// dead-letter topic, and every state change to a compacted changelog from
// which a partition's new owner restores it.
//
// In exactly_once mode a batch's outputs, dead letters, changelog entries
// and input offsets commit in one Kafka transaction, and Pebble is written
// only after the transaction commits: the store can lag the changelog,
// never lead it. In at_least_once mode outputs are flushed first, then the
// changelog, then Pebble, then the offsets: a crash repeats outputs (with
// the same deterministic ids), never loses them.
package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// Options are the runtime's collaborators.
type Options struct {
	Logger  zerolog.Logger
	Metrics *metrics.Metrics
	// Clock is the wall clock idle partitions' watermarks follow (default
	// time.Now). The demo passes its accelerated clock.
	Clock func() time.Time
	// ExtraOpts are added to the consuming client (e.g. kprom hooks).
	ExtraOpts []kgo.Opt
	// Failpoint, if set, is called at the named instants of the batch
	// cycle (the Failpoint* constants), from the goroutine that reaches
	// them. The fault-injection tests kill the process there; it is nil
	// in production.
	Failpoint func(name string)
}

// The instants a Failpoint is called at.
const (
	// FailpointProduced: a batch's outputs, dead letters and changelog
	// entries are on the broker; its transaction is not yet committed
	// (nothing of it is in the store either: the store is written only
	// after the commit).
	FailpointProduced = "produced"
	// FailpointCommitted: the batch's transaction committed; the
	// partitions' committed state in memory and the store do not have it
	// yet.
	FailpointCommitted = "committed"
	// FailpointCheckpointed: a partition wrote a checkpoint to the store.
	FailpointCheckpointed = "checkpointed"
	// FailpointRestoring: a partition restoring from the changelog stored
	// part or all of what it read; the restore is not complete (the
	// partition is not yet processing).
	FailpointRestoring = "restoring"
)

// Runtime consumes the input topic and drives the engine. Create it with
// New, run it with Run; it stops when Run's context ends.
//
// One goroutine, the loop (Run's), polls the input, hands each assigned
// partition's records to that partition's worker goroutine (worker.go),
// produces what the workers hand back and commits it, by the configured
// guarantee (delivery.go). Rebalance callbacks start and stop workers
// between batches, never during one.
type Runtime struct {
	cfg   config.Config
	eng   *engine.Engine
	log   zerolog.Logger
	m     *metrics.Metrics
	clock func() time.Time
	fp    func(name string) // Options.Failpoint
	base  []kgo.Opt

	g   guarantee
	cl  *kgo.Client // the consuming client (the session's, in exactly_once)
	adm *kadm.Client

	// ctx is the workers' context. The group join (and so the rebalance
	// callbacks that start workers) begins when the client is created, before
	// Run; Run cancels it on its way out.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	// built is closed once New has set every field: the group join, and so
	// the first assignment, may begin before then, in franz-go's goroutine.
	built chan struct{}
	// failed is closed, with failErr set, when a worker meets an error
	// that no retry can clear: Run returns it, so that the instance stops
	// and its partitions go to another rather than stay paused here.
	failed   chan struct{}
	failOnce sync.Once
	failErr  error

	mu      sync.Mutex // guards workers for readers outside the loop
	workers map[int32]*worker
	joined  atomic.Bool
	nparts  atomic.Int32
	lastEnd time.Time // loop-owned: when idle partitions' end offsets were last listed
	// lastCount is loop-owned: when the input's partition count was last
	// asked for (learnPartitions).
	lastCount time.Time
	// prodFails is loop-owned: how many batches in a row were aborted
	// because a record could not be produced.
	prodFails int
}

// maxProduceFailures is how many batches in a row may fail to produce a
// record, each aborted and processed again, before the runtime gives up:
// a broker that keeps refusing a record (too large, not authorised) must
// stop the instance with that error, not keep it retrying unseen.
const maxProduceFailures = 5

// New connects to the brokers and begins to join the group (in franz-go's
// goroutine); Run processes what the group assigns.
func New(cfg config.Config, eng *engine.Engine, o Options) (*Runtime, error) {
	if o.Metrics == nil {
		return nil, errors.New("kafka runtime: no metrics")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	base, err := ClientOpts(&cfg)
	if err != nil {
		return nil, err
	}
	base = append(base, kgo.WithLogger(newLogger(o.Logger)))
	// Restore readers get base without ExtraOpts: hooks such as kprom
	// register collectors per client and would panic on a second one.
	r := &Runtime{cfg: cfg, eng: eng, log: o.Logger, m: o.Metrics, clock: o.Clock, fp: o.Failpoint, base: base, workers: map[int32]*worker{}, built: make(chan struct{}), failed: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	opts := append(base[:len(base):len(base)], o.ExtraOpts...)
	opts = append(opts,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics.Input),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RecordPartitioner(newPartitioner(cfg.Topics.Changelog)),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MaxBufferedRecords(1<<20),
		kgo.WithPools(newFetchPools(64)),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.revoked),
		kgo.SessionTimeout(cfg.Engine.SessionTimeout.Std()),
		kgo.HeartbeatInterval(min(cfg.Engine.SessionTimeout.Std()/10, 3*time.Second)),
	)
	if cfg.Guarantee == config.ExactlyOnce {
		txnID := cfg.Group + "-" + cfg.ClientID
		opts = append(opts,
			kgo.TransactionalID(txnID),
			kgo.TransactionTimeout(cfg.Engine.TransactionTimeout.Std()),
		)
		sess, err := kgo.NewGroupTransactSession(opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka client: %w", err)
		}
		r.g, r.cl = &transactional{sess: sess, id: txnID}, sess.Client()
	} else {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka client: %w", err)
		}
		r.g, r.cl = &atLeastOnce{cl: cl, input: cfg.Topics.Input, log: o.Logger}, cl
	}
	r.adm = kadm.NewClient(r.cl)
	close(r.built)
	return r, nil
}

// Run creates the topics if configured (and checks them), then consumes
// until ctx ends, finishes the batch in hand, commits, leaves the group
// and returns nil. It returns an error only when the runtime cannot go on
// (missing topics, a fatal transaction or store error). Either way the
// runtime is closed when it returns.
func (r *Runtime) Run(ctx context.Context) error {
	defer r.Close()
	stop := context.AfterFunc(ctx, r.cancel)
	defer stop()
	if err := EnsureTopics(ctx, r.adm, &r.cfg); err != nil {
		return err
	}
	r.fencePrevious(ctx)
	return r.loop(ctx)
}

// fencePrevious initialises the transactional producer (exactly_once) at
// start rather than at the first batch: the broker then aborts the
// transaction that a previous run with the same transactional id left
// open (killed, fenced, stalled), and fences that run if it is still
// alive. Otherwise the open transaction holds the changelog's last stable
// offset back, and the restore of the partitions waits for the broker to
// time it out (engine.transaction_timeout) before the first batch.
func (r *Runtime) fencePrevious(ctx context.Context) {
	if r.cfg.Guarantee != config.ExactlyOnce {
		return
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, _, err := r.cl.ProducerID(ictx); err != nil && ctx.Err() == nil {
		r.log.Warn().Err(err).Msg("initialising the transactional producer failed; the first batch tries again")
	}
}

// Close leaves the group and stops the workers; Run does it on its way
// out, and a caller that never runs the runtime (its start failed
// elsewhere) must, since New already began to join the group.
func (r *Runtime) Close() {
	r.closeOnce.Do(func() {
		r.cancel()
		// Leaving the group runs the revoke callback, which stops the
		// workers; no batch is in hand by now.
		r.cl.Close()
		r.stopAll()
		r.wg.Wait()
	})
}

// fail makes Run return err (the first one), from any goroutine.
func (r *Runtime) fail(err error) {
	r.failOnce.Do(func() {
		r.failErr = err
		close(r.failed)
	})
}

func (r *Runtime) loop(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-r.failed:
			return r.failErr
		default:
		}
		r.learnPartitions(ctx)
		pollCtx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		fetches := r.cl.PollRecords(pollCtx, r.cfg.Engine.MaxPollRecords)
		cancel()
		polled := time.Now()
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				r.log.Warn().Err(err).Str("topic", topic).Int32("partition", p).Msg("fetch error")
			}
		})
		err := r.batch(ctx, fetches, polled)
		r.cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// learnPartitions asks for the input topic's partition count, at most
// once a second until the broker lists it (a topic created a moment ago
// may have none listed yet): the workers need it to count records off
// their customer's partition.
func (r *Runtime) learnPartitions(ctx context.Context) {
	if r.nparts.Load() > 0 || time.Since(r.lastCount) < time.Second {
		return
	}
	r.lastCount = time.Now()
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := r.partitionCount(lctx); err != nil && ctx.Err() == nil {
		r.log.Debug().Err(err).Msg("input partition count not known yet")
	}
}

// job is one worker's part of a batch.
type job struct {
	w      *worker
	recs   []*kgo.Record
	res    result // the worker's process result
	clNext int64  // the changelog offset after its entries, once delivered
}

// batch processes one poll's records (and idle partitions' timers) as one
// unit: every touched partition works in its own goroutine, then the
// outputs are produced and committed together.
func (r *Runtime) batch(ctx context.Context, fetches kgo.Fetches, polled time.Time) error {
	// The records' memory goes back to the fetch pools once the batch has
	// committed or aborted; nothing holds on to them past this call.
	defer fetches.EachRecord(func(rec *kgo.Record) { rec.Recycle() })
	byPart := map[int32][]*kgo.Record{}
	hwm := map[int32]int64{}
	fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if len(ftp.Records) > 0 {
			byPart[ftp.Partition] = append(byPart[ftp.Partition], ftp.Records...)
		}
		hwm[ftp.Partition] = ftp.HighWatermark
	})
	all := r.snapshot()
	// Checkpoints handed out after the last batch end first.
	for _, w := range all {
		if err := w.settle(); err != nil {
			return err
		}
	}
	now := r.clock()
	var jobs []*job
	steps := map[*job]step{}
	for _, w := range all {
		l := &w.loop
		if h, ok := hwm[w.id]; ok {
			l.hwm = h
		}
		recs := byPart[w.id]
		if !w.ready.Load() {
			if len(recs) > 0 {
				// Paused partitions return nothing; this would be a bug,
				// and committing past these records would lose them.
				return fmt.Errorf("records for partition %d before it was restored", w.id)
			}
			continue
		}
		if !l.started {
			l.started, l.lastRecv, l.next = true, time.Now(), w.meta.Load().Next
		}
		s := step{kind: stepProcess, recs: recs, now: now.UnixMilli()}
		if len(recs) == 0 && w.idle(r.cfg.Engine.IdleTimeout.Std()) {
			s.advance = now.UnixMilli()
		}
		if len(recs) > 0 || s.advance != 0 {
			l.lastRecv = time.Now() // an idle advance waits another timeout
			j := &job{w: w, recs: recs}
			jobs = append(jobs, j)
			steps[j] = s
		}
	}
	if len(jobs) == 0 {
		r.checkpoint(all)
		r.refreshEnds(ctx)
		return nil
	}
	// Every partition checked: hand the workers their part.
	for _, j := range jobs {
		j.w.send(steps[j])
	}

	// The workers process in parallel; collect their results.
	var firstErr error
	for _, j := range jobs {
		j.res = <-j.w.out
		j.w.loop.next = j.res.next
		if j.res.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("partition %d: %w", j.w.id, j.res.err)
		}
	}
	if firstErr != nil {
		r.abort(jobs)
		return firstErr
	}

	committed, err := r.deliver(ctx, jobs)
	if err != nil || !committed {
		r.m.Batches.WithLabelValues("aborted").Inc()
		if aerr := r.abort(jobs); aerr != nil {
			return aerr
		}
		if err != nil {
			return err
		}
		r.log.Info().Msg("batch aborted (a rebalance, or a record not produced); its records will be processed again")
		return nil
	}
	// The outputs are committed to Kafka: count them (the workers' commit
	// empties them).
	for _, j := range jobs {
		r.countOutputs(j)
	}
	r.failpoint(FailpointCommitted)
	for _, j := range jobs {
		j.w.send(step{kind: stepCommit, changelogNext: j.clNext})
	}
	nrec := 0
	for _, j := range jobs {
		res := <-j.w.out
		if res.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("partition %d: %w", j.w.id, res.err)
		}
		nrec += len(j.recs)
	}
	if firstErr != nil {
		return firstErr
	}
	r.g.stored(ctx)
	r.m.Batches.WithLabelValues("committed").Inc()
	r.m.BatchSize.Observe(float64(nrec))
	lat := time.Since(polled).Seconds()
	for _, j := range jobs {
		for range j.recs {
			r.m.Latency.Observe(lat)
		}
		r.countInput(j) // before the worker's next step: the result is its memory
	}
	r.updateGauges()
	// Checkpoints that are due are written while the loop polls for the
	// next batch; the next batch settles them first.
	r.checkpoint(all)
	return nil
}

// failpoint calls Options.Failpoint, if set.
func (r *Runtime) failpoint(name string) {
	if r.fp != nil {
		r.fp(name)
	}
}

// snapshot returns the workers, by partition.
func (r *Runtime) snapshot() []*worker {
	r.mu.Lock()
	all := make([]*worker, 0, len(r.workers))
	for _, w := range r.workers {
		all = append(all, w)
	}
	r.mu.Unlock()
	slices.SortFunc(all, func(a, b *worker) int { return int(a.id - b.id) })
	return all
}

// checkpoint hands every ready worker a checkpoint-if-due step: it writes
// its committed states to the store if one is due (engine.checkpoint_events
// or checkpoint_interval; a partition without input still checkpoints once
// the interval has passed), while the loop goes on; the next batch settles
// them.
func (r *Runtime) checkpoint(all []*worker) {
	for _, w := range all {
		if w.loop.started && !w.loop.checkpointing {
			w.loop.checkpointing = true
			w.send(step{kind: stepCheckpoint})
		}
	}
}

// deliver produces every job's outputs, dead letters and changelog
// entries and makes them durable with the input offsets, by the
// guarantee. Each job's result learns the changelog offset after its
// entries.
func (r *Runtime) deliver(ctx context.Context, jobs []*job) (bool, error) {
	// The batch completes even if shutdown begins meanwhile: SIGTERM
	// finishes the batch in hand.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Engine.TransactionTimeout.Std())
	defer cancel()
	var (
		mu      sync.Mutex
		prodErr error
	)
	clNext := map[int32]int64{}
	promise := func(rec *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && prodErr == nil {
			prodErr = err
		}
		if err == nil && rec.Topic == r.cfg.Topics.Changelog && rec.Offset+1 > clNext[rec.Partition] {
			clNext[rec.Partition] = rec.Offset + 1
		}
	}
	// The records are the workers' (reused batch after batch): franz-go
	// is done with them when the guarantee's deliver returns.
	outputs := func() {
		for _, j := range jobs {
			for i := range j.res.records {
				r.cl.Produce(bctx, &j.res.records[i], promise)
			}
			for _, d := range j.res.deadLetters {
				r.cl.Produce(bctx, d, promise)
			}
		}
	}
	changelog := func() {
		for _, j := range jobs {
			for i := range j.res.changelog {
				r.cl.Produce(bctx, &j.res.changelog[i], promise)
			}
		}
		if r.fp != nil {
			// Everything on the broker first, so that the failpoint
			// leaves the transaction open with its records written.
			if err := r.cl.Flush(bctx); err == nil {
				r.failpoint(FailpointProduced)
			}
		}
	}
	produceErr := func() error {
		mu.Lock()
		defer mu.Unlock()
		return prodErr
	}
	committed, err := r.g.deliver(bctx, outputs, changelog, produceErr)
	if err != nil {
		return false, err
	}
	mu.Lock()
	defer mu.Unlock()
	if committed && prodErr != nil {
		return false, fmt.Errorf("produce: %w", prodErr)
	}
	if prodErr == nil {
		r.prodFails = 0
	} else {
		if r.prodFails++; r.prodFails >= maxProduceFailures {
			return false, fmt.Errorf("produce: %d batches in a row failed, each aborted: %w", r.prodFails, prodErr)
		}
		r.log.Warn().Err(prodErr).Msg("a record could not be produced; the batch is not committed and will be processed again")
	}
	for _, j := range jobs {
		j.clNext = clNext[j.w.id]
	}
	return committed, nil
}

// abort has every job's worker take its batch back, then the guarantee
// rewind the input if it must.
func (r *Runtime) abort(jobs []*job) error {
	for _, j := range jobs {
		j.w.send(step{kind: stepAbort})
	}
	var firstErr error
	next := make(map[int32]int64, len(jobs))
	for _, j := range jobs {
		res := <-j.w.out
		if res.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("partition %d: abort: %w", j.w.id, res.err)
		}
		j.w.loop.next = res.next
		next[j.w.id] = res.next
	}
	r.g.aborted(next)
	return firstErr
}

// countInput records a committed job's input in the metrics.
func (r *Runtime) countInput(j *job) {
	m, w, st := r.m, j.w, &j.res.stats
	if len(j.recs) > 0 {
		m.EventsConsumed.WithLabelValues(w.label).Add(float64(len(j.recs)))
		if w.loop.hwm > 0 {
			m.ConsumerLag.WithLabelValues(w.label).Set(float64(max(w.loop.hwm-w.loop.next, 0)))
		}
	}
	m.EventsProcessed.WithLabelValues(w.label, metrics.OutcomeApplied).Add(float64(st.Applied))
	m.EventsProcessed.WithLabelValues(w.label, metrics.OutcomeDuplicate).Add(float64(st.Duplicates))
	m.EventsProcessed.WithLabelValues(w.label, metrics.OutcomeDeadLetter).Add(float64(st.NoEvent + st.Ahead))
	m.EventsProcessed.WithLabelValues(w.label, metrics.OutcomeSkipped).Add(float64(st.Stale))
	m.RuleEvaluations.WithLabelValues(metrics.CauseEvent).Add(float64(st.Applied))
	m.RuleEvaluations.WithLabelValues(metrics.CauseTimer).Add(float64(st.TimerRuns))
	if j.res.advanced {
		m.IdleAdvances.WithLabelValues(w.label).Inc()
	}
	for _, reason := range j.res.deadReasons {
		m.DeadLetters.WithLabelValues(reason).Inc()
	}
	for _, field := range j.res.fallbacks {
		m.TimeFallbacks.WithLabelValues(field).Inc()
	}
	if n := j.res.offHome[0]; n > 0 {
		m.OffHome.WithLabelValues(metrics.KeyCustomer).Add(float64(n))
	}
	if n := j.res.offHome[1]; n > 0 {
		m.OffHome.WithLabelValues(metrics.KeyOther).Add(float64(n))
	}
}

// countOutputs records a job's output records, committed to Kafka.
func (r *Runtime) countOutputs(j *job) {
	m := r.m
	for i := range j.res.outputs {
		o := &j.res.outputs[i]
		m.Outputs.WithLabelValues(o.Kind.String()).Inc()
		switch o.Kind {
		case engine.KindAlert:
			m.Alerts.WithLabelValues(o.Rule, o.Status).Inc()
		case engine.KindStage:
			m.Transitions.WithLabelValues(o.From, o.To).Inc()
		}
	}
}

// keyBytes returns s's bytes without copying. Output keys are customer
// ids held by the engine; franz-go only reads a record's key (to hash and
// to serialize it), so the string's immutability is kept.
func keyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// topicFor is the output topic of a kind of record.
func topicFor(t *config.Topics, k engine.Kind) string {
	switch k {
	case engine.KindStage:
		return t.Stages
	case engine.KindHealth:
		return t.Health
	}
	return t.Alerts
}

// refreshEnds lists the input's end offsets now and then, so that idle
// partitions know whether they are caught up (only then may their
// watermark follow the wall clock).
func (r *Runtime) refreshEnds(ctx context.Context) {
	if time.Since(r.lastEnd) < r.cfg.Engine.IdleTimeout.Std()/4 {
		return
	}
	r.lastEnd = time.Now()
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := r.adm.ListEndOffsets(lctx, r.cfg.Topics.Input)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ends.Each(func(o kadm.ListedOffset) {
		if w, ok := r.workers[o.Partition]; ok && o.Err == nil {
			w.loop.hwm = o.Offset
		}
	})
}

// assigned starts a worker for each new partition; each restores its
// state from the changelog while its input stays paused.
func (r *Runtime) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	// Workers use the clients New sets after the group join has begun.
	<-r.built
	parts := assigned[r.cfg.Topics.Input]
	if len(parts) == 0 {
		return
	}
	cl.PauseFetchPartitions(map[string][]int32{r.cfg.Topics.Input: parts})
	r.joined.Store(true)
	if r.nparts.Load() == 0 {
		// Assigned, the topic is listed by now: the workers count records
		// off their customer's partition from their first batch (the loop
		// asks again if this fails).
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if _, err := r.partitionCount(cctx); err != nil && ctx.Err() == nil {
			r.log.Debug().Err(err).Msg("input partition count not known yet")
		}
		cancel()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range parts {
		if _, ok := r.workers[id]; ok {
			continue
		}
		w := newWorker(r, id)
		r.m.AddPartition(w.label)
		r.workers[id] = w
		r.wg.Add(1)
		go w.run(r.ctx)
	}
	r.m.PartitionsOwned.Set(float64(len(r.workers)))
	r.log.Info().Ints32("partitions", parts).Msg("partitions assigned; restoring")
}

// revoked stops the workers of partitions taken away (or lost). No batch is
// in flight: callbacks and polls exclude each other (BlockRebalanceOnPoll),
// and every batch ends committed or aborted before the next poll.
func (r *Runtime) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	parts := revoked[r.cfg.Topics.Input]
	r.mu.Lock()
	var stop []*worker
	for _, id := range parts {
		if w, ok := r.workers[id]; ok {
			stop = append(stop, w)
			delete(r.workers, id)
		}
	}
	r.m.PartitionsOwned.Set(float64(len(r.workers)))
	r.mu.Unlock()
	for _, w := range stop {
		w.stop()
		// The partition's series belong to its new owner now.
		r.m.RemovePartition(w.label)
	}
	if len(parts) > 0 {
		r.log.Info().Ints32("partitions", parts).Msg("partitions revoked; released")
	}
	r.updateGauges()
}

func (r *Runtime) stopAll() {
	r.mu.Lock()
	var stop []*worker
	for id, w := range r.workers {
		stop = append(stop, w)
		delete(r.workers, id)
	}
	r.mu.Unlock()
	for _, w := range stop {
		w.stop()
	}
}

// Ready reports whether the instance has joined its group and every
// assigned partition is restored; the reason says what it waits for.
func (r *Runtime) Ready() (bool, string) {
	// A member assigned nothing (more instances than partitions) has
	// joined all the same: it is ready, idle.
	if member, gen := r.cl.GroupMetadata(); member != "" && gen >= 0 {
		r.joined.Store(true)
	}
	if !r.joined.Load() {
		return false, "not yet assigned partitions by the consumer group"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var waiting []int32
	for id, w := range r.workers {
		if !w.ready.Load() {
			waiting = append(waiting, id)
		}
	}
	if len(waiting) > 0 {
		sort.Slice(waiting, func(i, j int) bool { return waiting[i] < waiting[j] })
		return false, fmt.Sprintf("restoring partitions %v from the changelog", waiting)
	}
	return true, fmt.Sprintf("%d partitions ready", len(r.workers))
}

// Partitions returns the assigned partitions, in order, and whether each
// is ready.
func (r *Runtime) Partitions() map[int32]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[int32]bool, len(r.workers))
	for id, w := range r.workers {
		m[id] = w.ready.Load()
	}
	return m
}

// Metas returns the committed meta (checkpoint and aggregates) of every
// ready partition this instance owns.
func (r *Runtime) Metas() map[int32]engine.Meta {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int32]engine.Meta, len(r.workers))
	for id, w := range r.workers {
		if m := w.meta.Load(); m != nil {
			out[id] = *m
		}
	}
	return out
}

// updateGauges sets the per-stage, per-band and open-alert gauges from
// the partitions' metas.
func (r *Runtime) updateGauges() {
	metas := r.Metas()
	// Every stage, band and alert rule of the pack is exported, at 0 when
	// no customer has it: a series that comes and goes leaves panels
	// saying "No data" where the answer is none.
	pack := r.eng.Pack()
	stages, bands, open := map[string]float64{"": 0}, map[string]float64{}, map[string]float64{}
	for _, s := range pack.Stages {
		stages[s] = 0
	}
	for _, b := range []rules.Band{rules.Green, rules.Yellow, rules.Red} {
		bands[b.String()] = 0
	}
	for _, a := range pack.Alerts {
		open[a.Name] = 0
	}
	var ltv float64
	var notCounted engine.Meta
	for id, m := range metas {
		for k, v := range m.Stages {
			stages[k] += float64(v)
		}
		for k, v := range m.Bands {
			bands[k] += float64(v)
		}
		for k, v := range m.AlertsOpen {
			open[k] += float64(v)
		}
		ltv += float64(m.RevenueCents) / 100
		notCounted.MoneyUnconverted += m.MoneyUnconverted
		notCounted.MoneyOutOfRange += m.MoneyOutOfRange
		notCounted.MoneyNegative += m.MoneyNegative
		if m.Watermark > 0 {
			r.m.WatermarkLag.WithLabelValues(metrics.Partition(id)).Set(metrics.WatermarkLag(r.clock(), m.Watermark))
		}
	}
	r.m.Customers.Reset()
	for k, v := range stages {
		r.m.Customers.WithLabelValues(k).Set(v)
	}
	r.m.CustomersByBand.Reset()
	for k, v := range bands {
		r.m.CustomersByBand.WithLabelValues(k).Set(v)
	}
	r.m.AlertsOpen.Reset()
	for k, v := range open {
		r.m.AlertsOpen.WithLabelValues(k).Set(v)
	}
	r.m.LifetimeValue.Set(ltv)
	r.m.MoneyNotCounted.WithLabelValues("unconverted").Set(float64(notCounted.MoneyUnconverted))
	r.m.MoneyNotCounted.WithLabelValues("out_of_range").Set(float64(notCounted.MoneyOutOfRange))
	r.m.MoneyNotCounted.WithLabelValues("negative_purchase").Set(float64(notCounted.MoneyNegative))
	ready := 0
	for _, ok := range r.Partitions() {
		if ok {
			ready++
		}
	}
	r.m.PartitionsReady.Set(float64(ready))
}

// Owner describes which group member owns a partition, for API answers
// about customers this instance does not hold.
type Owner struct {
	MemberID string `json:"member_id"`
	ClientID string `json:"client_id"`
	Host     string `json:"host"`
}

// OwnerOf finds the member of the group that owns input partition p.
func (r *Runtime) OwnerOf(ctx context.Context, p int32) (Owner, bool) {
	groups, err := r.adm.DescribeGroups(ctx, r.cfg.Group)
	if err != nil {
		return Owner{}, false
	}
	g, ok := groups[r.cfg.Group]
	if !ok {
		return Owner{}, false
	}
	for _, m := range g.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range ca.Topics {
			if t.Topic != r.cfg.Topics.Input {
				continue
			}
			for _, q := range t.Partitions {
				if q == p {
					return Owner{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}, true
				}
			}
		}
	}
	return Owner{}, false
}

// NumPartitions is the input topic's partition count.
func (r *Runtime) NumPartitions(ctx context.Context) (int32, error) {
	return partitionCount(ctx, r.adm, r.cfg.Topics.Input)
}

// partitionCount is the input topic's partition count, listed once and
// then remembered.
func (r *Runtime) partitionCount(ctx context.Context) (int32, error) {
	if n := r.nparts.Load(); n > 0 {
		return n, nil
	}
	n, err := r.NumPartitions(ctx)
	if err != nil {
		return 0, fmt.Errorf("input topic %s: partitions unknown: %w", r.cfg.Topics.Input, err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("input topic %s: partitions unknown: the broker lists none", r.cfg.Topics.Input)
	}
	r.nparts.Store(n)
	return n, nil
}

// Lookup reads a customer's committed state.
func (r *Runtime) Lookup(p int32, customer string) (engine.State, bool, error) {
	return r.eng.Lookup(p, customer)
}

// Timeline reads a customer's last output records in partition p
// (engine.Engine.Timeline).
func (r *Runtime) Timeline(p int32, customer string) ([]json.RawMessage, bool, error) {
	return r.eng.Timeline(p, customer)
}

// Pack is the rule pack in force.
func (r *Runtime) Pack() *rules.Pack { return r.eng.Pack() }

// Now is the runtime's clock in Unix ms.
func (r *Runtime) Now() int64 { return r.clock().UnixMilli() }
