package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/engine"
)

type phase int

const (
	phaseProcess phase = iota
	phaseCommit
	phaseAbort
	// phaseCheckpointAsync checkpoints while the loop polls: the worker
	// answers on ckptDone, and the loop settles it before the worker's
	// next phase.
	phaseCheckpointAsync
)

// job is one batch's work for a partition, set by the loop before it
// signals phaseProcess.
type job struct {
	recs    []*kgo.Record
	advance int64 // non-zero: raise the watermark to this wall-clock time
}

// worker owns one assigned partition: its goroutine restores the
// partition's state, then applies each batch the loop hands it. Only that
// goroutine touches part.
type worker struct {
	r     *Runtime
	id    int32
	label string
	part  *engine.Partition
	dec   *decode.Decoder

	in       chan phase
	done     chan error
	ckptDone chan error // buffered: a stopped worker never blocks on it
	ckpting  bool       // loop-owned: a phaseCheckpointAsync is unanswered
	quit     chan struct{}
	exit     chan struct{}

	ready atomic.Bool
	meta  atomic.Pointer[engine.Meta]

	// Loop-owned between phases.
	job      job
	out      engine.Outputs
	prod     []kgo.Record // out.Records as Kafka records
	prodCL   []kgo.Record // out.Changelog as Kafka records
	dlq      []*kgo.Record
	clNext   int64
	hwm      int64
	lastRecv time.Time
	headers  []decode.Header
	ev       engine.Event
	// The batch's outcomes, counted in the metrics once it commits: an
	// aborted batch is processed again.
	applied, dups, dead, skipped float64
	deadReasons                  []string
}

func newWorker(r *Runtime, id int32) *worker {
	return &worker{
		r:        r,
		id:       id,
		label:    metrics.Partition(id),
		dec:      decode.New(decode.Options{CustomerField: r.cfg.CustomerField}),
		in:       make(chan phase),
		done:     make(chan error),
		ckptDone: make(chan error, 1),
		quit:     make(chan struct{}),
		exit:     make(chan struct{}),
		lastRecv: time.Now(),
	}
}

// idle reports whether the partition has had no input for the idle
// timeout and has read everything there is.
func (w *worker) idle(now time.Time, timeout time.Duration) bool {
	if w.part == nil || time.Since(w.lastRecv) < timeout {
		return false
	}
	// A trailing transaction marker occupies an offset: one behind is
	// caught up.
	return w.hwm > 0 && w.part.Next() >= w.hwm-1 || w.hwm == 0 && w.part.Next() == 0
}

// settle waits for the worker's asynchronous checkpoint, if any; the
// loop calls it before anything else touches the worker.
func (w *worker) settle() error {
	if !w.ckpting {
		return nil
	}
	w.ckpting = false
	if err := <-w.ckptDone; err != nil {
		return fmt.Errorf("checkpoint partition %d: %w", w.id, err)
	}
	return nil
}

func (w *worker) stop() {
	close(w.quit)
	<-w.exit
}

func (w *worker) run(ctx context.Context) {
	defer w.r.wg.Done()
	defer close(w.exit)
	log := w.r.log.With().Int32("partition", w.id).Logger()
	part, err := w.r.eng.Partition(w.id)
	if err != nil {
		log.Error().Err(err).Msg("open partition state")
		return
	}
	w.part = part
	defer func() { w.r.eng.Release(w.part) }()
	start := time.Now()
	n, err := w.restore(ctx)
	if err != nil {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, errStopped) {
			log.Error().Err(err).Msg("restore from changelog failed; the partition stays paused")
		}
		<-w.quit
		return
	}
	m := part.Meta()
	w.meta.Store(&m)
	w.r.m.RestoreSeconds.Observe(time.Since(start).Seconds())
	w.r.m.RestoreRemaining.WithLabelValues(w.label).Set(0)
	// lastRecv before ready: once ready, the loop reads it.
	w.lastRecv = time.Now()
	w.ready.Store(true)
	w.r.cl.ResumeFetchPartitions(map[string][]int32{w.r.cfg.Topics.Input: {w.id}})
	log.Info().Int64("changelog_records", n).Dur("took", time.Since(start)).Int64("resume_offset", part.Next()).Msg("partition restored and ready")
	for {
		select {
		case <-w.quit:
			// No batch is in flight (the loop stops workers between
			// batches): write what was committed since the last
			// checkpoint, so the store is current for whoever opens
			// it next (this instance, later, or a restart).
			if err := w.part.Checkpoint(); err != nil {
				log.Error().Err(err).Msg("checkpoint on release failed; the changelog still has the batches")
			}
			return
		case ph := <-w.in:
			if ph == phaseCheckpointAsync {
				w.ckptDone <- w.part.Checkpoint()
				continue
			}
			var err error
			switch ph {
			case phaseProcess:
				err = w.process()
			case phaseCommit:
				err = w.commit()
			case phaseAbort:
				err = w.abort()
			}
			w.done <- err
		}
	}
}

var errStopped = errors.New("worker stopped")

// restoreStall is how long a restore waits for the changelog to return
// anything more before it takes the offsets left below the end as empty.
const restoreStall = 30 * time.Second

// restore brings the local store up to the changelog: from the local
// checkpoint's changelog position to the changelog's last stable offset.
func (w *worker) restore(ctx context.Context) (int64, error) {
	topic := w.r.cfg.Topics.Changelog
	end, err := w.changelogEnd(ctx)
	if err != nil {
		return 0, err
	}
	from := w.part.Meta().ChangelogNext
	if from > end {
		// The changelog is behind this store (recreated topic): the store
		// cannot be trusted to match it. Start over from the changelog.
		w.r.log.Warn().Int32("partition", w.id).Int64("store_at", from).Int64("changelog_end", end).Msg("local state is ahead of the changelog; dropping it and restoring from the changelog")
		w.r.eng.Release(w.part)
		if err := w.r.eng.DropPartition(w.id); err != nil {
			return 0, err
		}
		if w.part, err = w.r.eng.Partition(w.id); err != nil {
			return 0, err
		}
		from = 0
	}
	w.r.m.RestoreRemaining.WithLabelValues(w.label).Set(float64(end - from))
	if from >= end {
		return 0, nil
	}
	opts := append([]kgo.Opt{}, w.r.base...)
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {w.id: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
		// Transaction markers occupy offsets, the changelog's last one
		// among them: seeing them is how the restore knows it has read
		// up to end, however slowly the broker answers.
		kgo.KeepControlRecords(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("changelog reader: %w", err)
	}
	defer cl.Close()
	var n int64
	next, progress := from, time.Now()
	for next < end {
		select {
		case <-w.quit:
			return n, errStopped
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		got := 0
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = err
			}
		})
		if ferr != nil {
			return n, fmt.Errorf("read changelog partition %d: %w", w.id, ferr)
		}
		before := next
		fetches.EachRecord(func(rec *kgo.Record) {
			next = max(next, rec.Offset+1)
			if rec.Attrs.IsControl() {
				return
			}
			if err == nil {
				err = w.part.Restore(string(rec.Key), rec.Value)
			}
			got++
		})
		if err != nil {
			return n, err
		}
		n += int64(got)
		w.r.m.RestoreRecords.WithLabelValues(w.label).Add(float64(got))
		w.r.m.RestoreRemaining.WithLabelValues(w.label).Set(float64(max(end-next, 0)))
		if next > before {
			progress = time.Now()
			if err := w.part.CommitRestore(next, 0); err != nil {
				return n, err
			}
			continue
		}
		// Every offset below the last stable offset holds a record or a
		// marker that the fetch returns, unless compaction removed it:
		// only a long silence means there is nothing left to read.
		if time.Since(progress) > restoreStall {
			w.r.log.Warn().Int32("partition", w.id).Int64("next", next).Int64("end", end).Dur("silent", restoreStall).Msg("changelog returns nothing more below its end offset; taking the restore as complete")
			break
		}
	}
	return n, w.part.CommitRestore(end, 0)
}

// changelogEnd returns the changelog partition's last stable offset,
// retrying for a while: right after topic creation, cached metadata may
// not know the topic yet.
//
// It waits while a transaction is open on the partition (its last stable
// offset is behind its high watermark): that is the previous owner's last
// batch, which may still commit, and its input offsets with it. Kafka
// keeps this instance's committed-offset fetch waiting until it ends
// (KIP-447), so the input would resume after that batch; the restore must
// then include the batch's changelog entries too, or its customers'
// states would silently miss it. An open transaction ends within the
// transaction timeout: the broker aborts it then.
func (w *worker) changelogEnd(ctx context.Context) (int64, error) {
	topic := w.r.cfg.Topics.Changelog
	deadline := time.Now().Add(30 * time.Second)
	openDeadline := time.Now().Add(w.r.cfg.Engine.TransactionTimeout + 30*time.Second)
	waiting := false
	for {
		stable, end, err := w.changelogOffsets(ctx)
		if err == nil {
			if stable >= end {
				return stable, nil
			}
			if time.Now().After(openDeadline) {
				w.r.log.Warn().Int32("partition", w.id).Int64("stable_offset", stable).Int64("end_offset", end).Msg("a transaction on the changelog is still open past the transaction timeout; restoring up to its start")
				return stable, nil
			}
			if !waiting {
				waiting = true
				w.r.log.Info().Int32("partition", w.id).Int64("stable_offset", stable).Int64("end_offset", end).Msg("waiting for the previous owner's open transaction on the changelog to end")
			}
		} else if time.Now().After(deadline) {
			return 0, fmt.Errorf("changelog %s partition %d: list offsets: %w", topic, w.id, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-w.quit:
			return 0, errStopped
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// changelogOffsets lists the changelog partition's last stable offset and
// its high watermark.
func (w *worker) changelogOffsets(ctx context.Context) (stable, end int64, err error) {
	topic := w.r.cfg.Topics.Changelog
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lookup := func(offs kadm.ListedOffsets, err error) (int64, error) {
		if err != nil {
			return 0, err
		}
		o, ok := offs.Lookup(topic, w.id)
		switch {
		case !ok:
			return 0, errors.New("partition not listed")
		case o.Err != nil:
			return 0, o.Err
		}
		return o.Offset, nil
	}
	if stable, err = lookup(w.r.adm.ListCommittedOffsets(lctx, topic)); err != nil {
		return 0, 0, err
	}
	if end, err = lookup(w.r.adm.ListEndOffsets(lctx, topic)); err != nil {
		return 0, 0, err
	}
	return stable, end, nil
}

func (w *worker) process() error {
	w.out.Reset()
	clear(w.dlq)
	w.dlq = w.dlq[:0]
	w.deadReasons = w.deadReasons[:0]
	p := w.part
	m := w.r.m
	var applied, dups, dead, skipped float64
	for _, rec := range w.job.recs {
		if rec.Offset < p.Next() {
			// Already applied: the store is ahead of the committed
			// offsets (at-least-once, after a crash between the two).
			skipped++
			continue
		}
		w.headers = w.headers[:0]
		for _, h := range rec.Headers {
			w.headers = append(w.headers, decode.Header{Key: h.Key, Value: h.Value})
		}
		if err := w.dec.Decode(rec.Value, w.headers, &w.ev); err != nil {
			p.Skip(rec.Offset)
			w.deadLetter(rec, err)
			dead++
			continue
		}
		ok, err := p.Apply(&w.ev, rec.Offset, &w.out)
		if err != nil {
			return fmt.Errorf("partition %d offset %d: %w", w.id, rec.Offset, err)
		}
		if ok {
			applied++
		} else {
			dups++
		}
	}
	w.applied, w.dups, w.dead, w.skipped = applied, dups, dead, skipped
	if len(w.job.recs) > 0 {
		w.lastRecv = time.Now()
		m.EventsConsumed.WithLabelValues(w.label).Add(float64(len(w.job.recs)))
		if hwm := w.hwm; hwm > 0 {
			m.ConsumerLag.WithLabelValues(w.label).Set(float64(max(hwm-p.Next(), 0)))
		}
	}
	if w.job.advance != 0 && w.job.advance > p.Watermark() {
		if err := p.Advance(w.job.advance, &w.out); err != nil {
			return err
		}
		m.IdleAdvances.WithLabelValues(w.label).Inc()
		w.lastRecv = time.Now() // next idle advance after another timeout
	}
	return p.Flush(&w.out)
}

// deadLetter queues rec for the dead-letter topic: value and key
// untouched, original headers kept, and Kafka Connect's error headers
// added so existing DLQ tooling reads it.
func (w *worker) deadLetter(rec *kgo.Record, err error) {
	reason := string(decode.ReasonMalformedJSON)
	var de *decode.Error
	if errors.As(err, &de) {
		reason = string(de.Reason)
	}
	w.deadReasons = append(w.deadReasons, reason)
	hdr := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	// The fetched record's memory is recycled after the batch: copy what
	// the dead letter keeps.
	headers := make([]kgo.RecordHeader, 0, len(rec.Headers)+8)
	for _, h := range rec.Headers {
		headers = append(headers, kgo.RecordHeader{Key: strings.Clone(h.Key), Value: bytes.Clone(h.Value)})
	}
	headers = append(headers,
		hdr("__connect.errors.topic", rec.Topic),
		hdr("__connect.errors.partition", strconv.Itoa(int(rec.Partition))),
		hdr("__connect.errors.offset", strconv.FormatInt(rec.Offset, 10)),
		hdr("__connect.errors.connector.name", "lifeline"),
		hdr("__connect.errors.stage", "VALUE_CONVERTER"),
		hdr("__connect.errors.class.name", "lifeline.connectors.decode.Decoder"),
		hdr("__connect.errors.exception.class.name", "lifeline.decode."+reason),
		hdr("__connect.errors.exception.message", err.Error()),
	)
	w.dlq = append(w.dlq, &kgo.Record{
		Topic:   w.r.cfg.Topics.DeadLetters,
		Key:     bytes.Clone(rec.Key),
		Value:   bytes.Clone(rec.Value),
		Headers: headers,
	})
}

func (w *worker) commit() error {
	if err := w.part.Commit(w.clNext); err != nil {
		return err
	}
	m := w.part.Meta()
	w.meta.Store(&m)
	return nil
}

func (w *worker) abort() error {
	w.out.Reset()
	return w.part.Abort()
}

// countOutputs records the committed outputs in the metrics; called by
// the loop after the commit phase.
func (w *worker) countOutputs() {
	m := w.r.m
	if len(w.job.recs) > 0 {
		m.EventsProcessed.WithLabelValues(w.label, "applied").Add(w.applied)
		m.EventsProcessed.WithLabelValues(w.label, "duplicate").Add(w.dups)
		m.EventsProcessed.WithLabelValues(w.label, "dead_letter").Add(w.dead)
		m.EventsProcessed.WithLabelValues(w.label, "skipped").Add(w.skipped)
		m.RuleEvaluations.WithLabelValues("event").Add(w.applied)
	}
	for _, reason := range w.deadReasons {
		m.DeadLetters.WithLabelValues(reason).Inc()
	}
	for i := range w.out.Records {
		o := &w.out.Records[i]
		m.Outputs.WithLabelValues(o.Kind.String()).Inc()
		switch o.Kind {
		case engine.KindAlert:
			m.Alerts.WithLabelValues(o.Rule, o.Status).Inc()
		case engine.KindStage:
			m.Transitions.WithLabelValues(o.From, o.To).Inc()
		}
	}
}
