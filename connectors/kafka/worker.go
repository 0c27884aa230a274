package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

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

	in   chan phase
	done chan error
	quit chan struct{}
	exit chan struct{}

	ready atomic.Bool
	meta  atomic.Pointer[engine.Meta]

	// Loop-owned between phases.
	job      job
	out      engine.Outputs
	dlq      []*kgo.Record
	clNext   int64
	hwm      int64
	lastRecv time.Time
	headers  []decode.Header
	ev       engine.Event
}

func newWorker(r *Runtime, id int32) *worker {
	return &worker{
		r:        r,
		id:       id,
		label:    metrics.Partition(id),
		dec:      decode.New(decode.Options{CustomerField: r.cfg.CustomerField}),
		in:       make(chan phase),
		done:     make(chan error),
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
	w.ready.Store(true)
	w.lastRecv = time.Now()
	w.r.cl.ResumeFetchPartitions(map[string][]int32{w.r.cfg.Topics.Input: {w.id}})
	log.Info().Int64("changelog_records", n).Dur("took", time.Since(start)).Int64("resume_offset", part.Next()).Msg("partition restored and ready")
	for {
		select {
		case <-w.quit:
			return
		case ph := <-w.in:
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
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("changelog reader: %w", err)
	}
	defer cl.Close()
	var n int64
	next, empty := from, 0
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
		fetches.EachRecord(func(rec *kgo.Record) {
			if err == nil {
				err = w.part.Restore(string(rec.Key), rec.Value)
			}
			next = rec.Offset + 1
			got++
		})
		if err != nil {
			return n, err
		}
		n += int64(got)
		w.r.m.RestoreRecords.WithLabelValues(w.label).Add(float64(got))
		w.r.m.RestoreRemaining.WithLabelValues(w.label).Set(float64(max(end-next, 0)))
		if got > 0 {
			empty = 0
			if err := w.part.CommitRestore(next, 0); err != nil {
				return n, err
			}
			continue
		}
		// Nothing left but transaction markers (they occupy offsets, and
		// are never returned as records).
		if empty++; empty >= 3 {
			break
		}
	}
	return n, w.part.CommitRestore(end, 0)
}

// changelogEnd returns the changelog partition's last stable offset,
// retrying for a while: right after topic creation, cached metadata may
// not know the topic yet.
func (w *worker) changelogEnd(ctx context.Context) (int64, error) {
	topic := w.r.cfg.Topics.Changelog
	deadline := time.Now().Add(30 * time.Second)
	for {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		offs, err := w.r.adm.ListCommittedOffsets(lctx, topic)
		cancel()
		if err == nil {
			if o, ok := offs.Lookup(topic, w.id); ok && o.Err == nil {
				return o.Offset, nil
			} else if ok {
				err = o.Err
			} else {
				err = errors.New("partition not listed")
			}
		}
		if time.Now().After(deadline) {
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

func (w *worker) process() error {
	w.out.Reset()
	clear(w.dlq)
	w.dlq = w.dlq[:0]
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
	if len(w.job.recs) > 0 {
		w.lastRecv = time.Now()
		m.EventsConsumed.WithLabelValues(w.label).Add(float64(len(w.job.recs)))
		m.EventsProcessed.WithLabelValues(w.label, "applied").Add(applied)
		m.EventsProcessed.WithLabelValues(w.label, "duplicate").Add(dups)
		m.EventsProcessed.WithLabelValues(w.label, "dead_letter").Add(dead)
		m.EventsProcessed.WithLabelValues(w.label, "skipped").Add(skipped)
		m.EventsDuplicate.WithLabelValues(w.label).Add(dups)
		m.RuleEvaluations.WithLabelValues("event").Add(applied)
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
	w.r.m.DecodeErrors.WithLabelValues(reason).Inc()
	w.r.m.DeadLetters.WithLabelValues(reason).Inc()
	hdr := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	headers := append([]kgo.RecordHeader{}, rec.Headers...)
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
		Key:     rec.Key,
		Value:   rec.Value,
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
