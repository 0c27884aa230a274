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
	"github.com/twmb/franz-go/plugin/kzerolog"

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
	// ExtraOpts are added to every franz-go client (e.g. kprom hooks).
	ExtraOpts []kgo.Opt
}

// Runtime consumes the input topic and drives the engine. Create it with
// New, run it with Run; it stops when Run's context ends.
type Runtime struct {
	cfg   config.Config
	eng   *engine.Engine
	log   zerolog.Logger
	m     *metrics.Metrics
	clock func() time.Time
	base  []kgo.Opt

	sess *kgo.GroupTransactSession // exactly_once
	cl   *kgo.Client               // the consuming client (the session's, in exactly_once)
	adm  *kadm.Client

	// ctx is the workers' context. The group join (and so the rebalance
	// callbacks that start workers) begins when the client is created, before
	// Run; Run cancels it on its way out.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards workers for readers outside the loop
	workers map[int32]*worker
	joined  atomic.Bool
	nparts  atomic.Int32
	lastEnd time.Time // when idle partitions' end offsets were last listed
}

// New connects to the brokers (it does not join the group until Run).
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
	base = append(base, kgo.WithLogger(kzerolog.New(&o.Logger)))
	// Restore readers get base without ExtraOpts: hooks such as kprom
	// register collectors per client and would panic on a second one.
	r := &Runtime{cfg: cfg, eng: eng, log: o.Logger, m: o.Metrics, clock: o.Clock, base: base, workers: map[int32]*worker{}}
	base = append(base[:len(base):len(base)], o.ExtraOpts...)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	opts := append([]kgo.Opt{}, base...)
	opts = append(opts,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics.Input),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.RecordPartitioner(newPartitioner(cfg.Topics.Changelog)),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MaxBufferedRecords(1<<20),
		kgo.WithPools(newFetchPools(64)),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.revoked),
	)
	if cfg.Guarantee == config.ExactlyOnce {
		opts = append(opts,
			kgo.TransactionalID(cfg.Group+"-"+cfg.ClientID),
			kgo.TransactionTimeout(cfg.Engine.TransactionTimeout),
		)
		r.sess, err = kgo.NewGroupTransactSession(opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka client: %w", err)
		}
		r.cl = r.sess.Client()
	} else {
		r.cl, err = kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka client: %w", err)
		}
	}
	r.adm = kadm.NewClient(r.cl)
	return r, nil
}

// Admin returns an admin client on the runtime's connection.
func (r *Runtime) Admin() *kadm.Client { return r.adm }

// Run consumes until ctx ends, then finishes the batch in hand, commits,
// leaves the group and returns nil. It returns an error only when the
// runtime cannot go on (a fatal transaction or store error).
func (r *Runtime) Run(ctx context.Context) error {
	defer r.cancel()
	stop := context.AfterFunc(ctx, r.cancel)
	defer stop()
	if err := EnsureTopics(ctx, r.adm, &r.cfg); err != nil {
		r.closeClient()
		return err
	}
	err := r.loop(ctx)
	r.closeClient()
	r.stopAll()
	r.wg.Wait()
	return err
}

func (r *Runtime) closeClient() {
	// Leaving the group runs the revoke callback, which stops the
	// workers; the loop has no batch in hand by now.
	if r.sess != nil {
		r.sess.Close()
	} else {
		r.cl.Close()
	}
}

func (r *Runtime) loop(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		pollCtx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		fetches := r.poll(pollCtx)
		cancel()
		polled := time.Now()
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				r.log.Warn().Err(err).Str("topic", topic).Int32("partition", p).Msg("fetch error")
			}
		})
		err := r.batch(ctx, fetches, polled)
		r.allowRebalance()
		if err != nil {
			return err
		}
	}
}

func (r *Runtime) poll(ctx context.Context) kgo.Fetches {
	if r.sess != nil {
		return r.sess.PollRecords(ctx, r.cfg.Engine.MaxPollRecords)
	}
	return r.cl.PollRecords(ctx, r.cfg.Engine.MaxPollRecords)
}

func (r *Runtime) allowRebalance() {
	if r.sess != nil {
		r.sess.AllowRebalance()
	} else {
		r.cl.AllowRebalance()
	}
}

// batch processes one poll's records (and idle partitions' timers) as one
// unit: every touched partition works in its own goroutine, then the
// outputs are produced and committed together.
func (r *Runtime) batch(ctx context.Context, fetches kgo.Fetches, polled time.Time) error {
	// The records' memory goes back to the fetch pools once the batch has
	// committed or aborted; nothing holds on to them past this call.
	defer fetches.EachRecord(func(rec *kgo.Record) { rec.Recycle() })
	byPart := map[int32][]*kgo.Record{}
	var hwm = map[int32]int64{}
	fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if len(ftp.Records) > 0 {
			byPart[ftp.Partition] = append(byPart[ftp.Partition], ftp.Records...)
		}
		hwm[ftp.Partition] = ftp.HighWatermark
	})
	// Checkpoints handed out after the last batch end first. Not under
	// r.mu, which the HTTP API and the metrics take.
	r.mu.Lock()
	all := make([]*worker, 0, len(r.workers))
	for _, w := range r.workers {
		all = append(all, w)
	}
	r.mu.Unlock()
	for _, w := range all {
		if err := w.settle(); err != nil {
			return err
		}
	}
	now := r.clock()
	r.mu.Lock()
	var jobs []*worker
	for id, w := range r.workers {
		if h, ok := hwm[id]; ok {
			w.hwm = h
		}
		recs := byPart[id]
		if len(recs) > 0 && !w.ready.Load() {
			// Paused partitions return nothing; this would be a bug, and
			// committing past these records would lose them.
			r.mu.Unlock()
			return fmt.Errorf("records for partition %d before it was restored", id)
		}
		w.job = job{recs: recs}
		if len(recs) == 0 && w.ready.Load() && w.idle(now, r.cfg.Engine.IdleTimeout) {
			w.job.advance = now.UnixMilli()
		}
		if len(recs) > 0 || w.job.advance != 0 {
			jobs = append(jobs, w)
		}
	}
	r.mu.Unlock()
	// Partitions without input this time still checkpoint when one is
	// due (CheckpointInterval), so that the store catches up when input
	// pauses.
	r.checkpointIdle(jobs)
	if len(jobs) == 0 {
		r.refreshEnds(ctx)
		return nil
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].id < jobs[j].id })

	// Process in parallel, one goroutine per partition.
	for _, w := range jobs {
		w.in <- phaseProcess
	}
	var firstErr error
	for _, w := range jobs {
		if err := <-w.done; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		r.abortAll(jobs)
		return firstErr
	}

	committed, err := r.produceAndCommit(ctx, jobs)
	if err != nil || !committed {
		r.m.Batches.WithLabelValues("aborted").Inc()
		if aerr := r.abortAll(jobs); aerr != nil {
			return aerr
		}
		if err != nil {
			return err
		}
		r.log.Info().Msg("batch aborted (rebalance); its records will be processed again")
		return nil
	}
	for _, w := range jobs {
		w.in <- phaseCommit
	}
	nrec := 0
	for _, w := range jobs {
		if err := <-w.done; err != nil && firstErr == nil {
			firstErr = err
		}
		nrec += len(w.job.recs)
	}
	if firstErr != nil {
		return firstErr
	}
	if r.sess == nil {
		// At least once: offsets last, after Pebble holds the state.
		if err := r.cl.CommitUncommittedOffsets(context.WithoutCancel(ctx)); err != nil {
			r.log.Warn().Err(err).Msg("commit offsets failed; the batch will be skipped by its stored position after a restart")
		}
	}
	// Checkpoints that are due are written while the loop polls for the
	// next batch; the next batch settles them first.
	for _, w := range jobs {
		if w.part.CheckpointDue() {
			w.ckpting = true
			w.in <- phaseCheckpointAsync
		}
	}
	r.m.Batches.WithLabelValues("committed").Inc()
	r.m.BatchSize.Observe(float64(nrec))
	lat := time.Since(polled).Seconds()
	for _, w := range jobs {
		for range w.job.recs {
			r.m.Latency.Observe(lat)
		}
		w.countOutputs()
	}
	r.updateGauges()
	return nil
}

// checkpointIdle hands a checkpoint to each ready worker not in jobs
// whose checkpoint is due; they write it while the loop goes on, and the
// next batch settles them.
func (r *Runtime) checkpointIdle(jobs []*worker) {
	r.mu.Lock()
	var due []*worker
	for _, w := range r.workers {
		if w.ready.Load() && !slices.Contains(jobs, w) && w.part.CheckpointDue() {
			due = append(due, w)
		}
	}
	r.mu.Unlock()
	for _, w := range due {
		w.ckpting = true
		w.in <- phaseCheckpointAsync
	}
}

// produceAndCommit produces every job's outputs, dead letters and
// changelog entries and commits them with the input offsets.
func (r *Runtime) produceAndCommit(ctx context.Context, jobs []*worker) (bool, error) {
	// The batch completes even if shutdown begins meanwhile: SIGTERM
	// finishes the batch in hand.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Engine.TransactionTimeout)
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
	produce := func(rec *kgo.Record) {
		if r.sess != nil {
			r.sess.Produce(bctx, rec, promise)
		} else {
			r.cl.Produce(bctx, rec, promise)
		}
	}
	if r.sess != nil {
		if err := r.sess.Begin(); err != nil {
			return false, fmt.Errorf("begin transaction: %w", err)
		}
	}
	// The records are the workers' (reused batch after batch): franz-go
	// is done with them when End or Flush returns.
	for _, w := range jobs {
		w.prod = w.prod[:0]
		for _, o := range w.out.Records {
			w.prod = append(w.prod, kgo.Record{Topic: r.topicFor(o.Kind), Key: keyBytes(o.Key), Value: o.Value})
		}
		for i := range w.prod {
			produce(&w.prod[i])
		}
		for _, d := range w.dlq {
			produce(d)
		}
	}
	if r.sess == nil {
		// At least once: outputs are durable before the state that
		// produced them is recorded anywhere.
		if err := r.cl.Flush(bctx); err != nil {
			return false, fmt.Errorf("flush outputs: %w", err)
		}
	}
	for _, w := range jobs {
		w.prodCL = w.prodCL[:0]
		for _, c := range w.out.Changelog {
			w.prodCL = append(w.prodCL, kgo.Record{Topic: r.cfg.Topics.Changelog, Partition: w.id, Key: keyBytes(c.Key), Value: c.Value})
		}
		for i := range w.prodCL {
			produce(&w.prodCL[i])
		}
	}
	if r.sess != nil {
		committed, err := r.sess.End(bctx, kgo.TryCommit)
		mu.Lock()
		perr := prodErr
		mu.Unlock()
		if err != nil {
			return false, fmt.Errorf("commit transaction: %w", err)
		}
		if committed && perr != nil {
			return false, fmt.Errorf("produce: %w", perr)
		}
		for _, w := range jobs {
			w.clNext = clNext[w.id]
		}
		return committed, nil
	}
	if err := r.cl.Flush(bctx); err != nil {
		return false, fmt.Errorf("flush changelog: %w", err)
	}
	mu.Lock()
	perr := prodErr
	mu.Unlock()
	if perr != nil {
		return false, fmt.Errorf("produce: %w", perr)
	}
	for _, w := range jobs {
		w.clNext = clNext[w.id]
	}
	// Then Pebble (the workers' commit phase), then the offsets (batch).
	return true, nil
}

// keyBytes returns s's bytes without copying. Output keys are customer
// ids held by the engine; franz-go only reads a record's key (to hash and
// to serialize it), so the string's immutability is kept.
func keyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func (r *Runtime) topicFor(k engine.Kind) string {
	switch k {
	case engine.KindStage:
		return r.cfg.Topics.Stages
	case engine.KindHealth:
		return r.cfg.Topics.Health
	}
	return r.cfg.Topics.Alerts
}

func (r *Runtime) abortAll(jobs []*worker) error {
	for _, w := range jobs {
		w.in <- phaseAbort
	}
	var firstErr error
	for _, w := range jobs {
		if err := <-w.done; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if r.sess == nil {
		// Rewind to the committed offsets so the batch is read again.
		r.rewind(jobs)
	}
	return firstErr
}

// rewind makes the at-least-once consumer read the aborted partitions
// again from their stored positions.
func (r *Runtime) rewind(jobs []*worker) {
	set := map[string]map[int32]kgo.EpochOffset{r.cfg.Topics.Input: {}}
	for _, w := range jobs {
		set[r.cfg.Topics.Input][w.id] = kgo.EpochOffset{Epoch: -1, Offset: w.part.Next()}
	}
	r.cl.SetOffsets(set)
}

// refreshEnds lists the input's end offsets now and then, so that idle
// partitions know whether they are caught up (only then may their
// watermark follow the wall clock).
func (r *Runtime) refreshEnds(ctx context.Context) {
	if time.Since(r.lastEnd) < r.cfg.Engine.IdleTimeout/4 {
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
			w.hwm = o.Offset
		}
	})
}

// assigned starts a worker for each new partition; each restores its
// state from the changelog while its input stays paused.
func (r *Runtime) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	parts := assigned[r.cfg.Topics.Input]
	if len(parts) == 0 {
		return
	}
	cl.PauseFetchPartitions(map[string][]int32{r.cfg.Topics.Input: parts})
	r.joined.Store(true)
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
		// The partition's gauges belong to its new owner now.
		r.m.ConsumerLag.DeleteLabelValues(w.label)
		r.m.WatermarkLag.DeleteLabelValues(w.label)
		r.m.RestoreRemaining.DeleteLabelValues(w.label)
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
	stages, bands, open := map[string]float64{}, map[string]float64{}, map[string]float64{}
	var ltv float64
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
		if m.Watermark > 0 {
			r.m.WatermarkLag.WithLabelValues(metrics.Partition(id)).Set(r.clock().Sub(time.UnixMilli(m.Watermark)).Seconds())
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

// Engine returns the engine the runtime drives.
func (r *Runtime) Engine() *engine.Engine { return r.eng }

// Locate finds a customer's partition (by Kafka's default partitioner on
// the customer id, the key producers use) and whether this instance holds
// it, ready; otherwise owner tells which group member does.
func (r *Runtime) Locate(ctx context.Context, customer string) (int32, bool, any, error) {
	n := r.nparts.Load()
	if n == 0 {
		c, err := r.NumPartitions(ctx)
		if err != nil || c == 0 {
			return 0, false, nil, fmt.Errorf("input topic partitions unknown: %v", err)
		}
		r.nparts.Store(c)
		n = c
	}
	p := PartitionFor(customer, n)
	r.mu.Lock()
	w, ok := r.workers[p]
	r.mu.Unlock()
	if ok && w.ready.Load() {
		return p, true, nil, nil
	}
	if ok {
		return p, false, map[string]string{"status": "this instance owns the partition and is restoring it; retry shortly"}, nil
	}
	owner, found := r.OwnerOf(ctx, p)
	if !found {
		return p, false, nil, nil
	}
	return p, false, owner, nil
}

// Lookup reads a customer's committed state.
func (r *Runtime) Lookup(p int32, customer string) (engine.State, bool, error) {
	return r.eng.Lookup(p, customer)
}

// Pack is the rule pack in force.
func (r *Runtime) Pack() *rules.Pack { return r.eng.Pack() }

// Now is the runtime's clock in Unix ms.
func (r *Runtime) Now() int64 { return r.clock().UnixMilli() }
