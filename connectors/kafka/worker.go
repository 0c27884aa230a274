package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/engine"
)

// A worker owns one assigned partition. Its goroutine opens the
// partition's state, restores it from the changelog, then runs the steps
// the loop hands it, one at a time, and answers each with a result:
//
//	loop                         worker
//	 step{process, records} ─in─▶ apply, flush: outputs as Kafka records
//	                        ◀out─ result{records, changelog, dead letters}
//	 (produce, commit the transaction)
//	 step{commit | abort}   ─in─▶ commit (or abort) the batch
//	                        ◀out─ result{}
//	 step{checkpoint}       ─in─▶ checkpoint if one is due (the loop polls
//	                        ◀out─ meanwhile, and collects the result later)
//
// The partition, its driver and the worker's buffers belong to the worker
// goroutine; what a result hands over (records, dead letters) stays the
// loop's until it sends that worker its next step. The loop's own
// bookkeeping is in loop, which only the loop touches.
type worker struct {
	r     *Runtime
	id    int32
	label string // id as a metric label

	in   chan step
	out  chan result // buffered: a stopped worker never blocks on it
	quit chan struct{}
	exit chan struct{}

	// Read by other goroutines (the loop, the HTTP API, gauges).
	ready atomic.Bool
	meta  atomic.Pointer[engine.Meta] // as of the last commit

	// The worker goroutine's own.
	part *engine.Partition
	d    *engine.Driver
	src  recordSource
	prod []kgo.Record // a batch's outputs as Kafka records
	// headers are each output kind's record headers, shared by its
	// records (read only).
	headers map[engine.Kind][]kgo.RecordHeader
	prodCL  []kgo.Record // its changelog entries

	loop loopState
}

// loopState is what the loop keeps about a worker; only the goroutine
// running Runtime.loop (and the rebalance callbacks, which never run at the
// same time) touch it.
type loopState struct {
	started  bool      // the loop has seen the worker ready
	hwm      int64     // the input partition's high watermark, as last fetched or listed
	next     int64     // the partition's input position after its last batch
	lastRecv time.Time // when the worker was last handed records (or advanced)
	// checkpointing: a stepCheckpoint is out, its result not yet taken.
	checkpointing bool
}

type stepKind int

const (
	stepProcess    stepKind = iota // apply records, flush
	stepCommit                     // the batch's transaction committed
	stepAbort                      // it did not: undo the batch
	stepCheckpoint                 // write committed states to the store, if due
)

// step is one thing the loop asks of a worker.
type step struct {
	kind stepKind
	// process: the partition's records of the batch, and, when non-zero,
	// the wall-clock time (Unix ms) an idle partition's watermark follows.
	recs    []*kgo.Record
	advance int64
	// now is the wall clock (Unix ms) when the loop handed out the batch:
	// events dated more than engine.max_event_ahead past it are
	// dead-lettered.
	now int64
	// commit: the changelog offset after the batch's entries.
	changelogNext int64
}

// result is a worker's answer to a step.
type result struct {
	err  error
	next int64 // the partition's input position now
	// process: the batch, until the loop's next step to this worker.
	outputs     []engine.Output // what the records carry, for the metrics
	records     []kgo.Record    // outputs, to their topics
	changelog   []kgo.Record    // changelog entries, to this partition of the changelog
	deadLetters []*kgo.Record
	deadReasons []string
	fallbacks   []string // decode.TimeFallback of each event dated by a fallback
	// offHome counts the batch's events on a partition other than their
	// customer's home (PartitionFor): [0] keyed by the customer id, [1]
	// keyed otherwise.
	offHome  [2]int64
	stats    engine.Stats
	advanced bool // an idle advance raised the watermark
}

func newWorker(r *Runtime, id int32) *worker {
	w := &worker{
		r:     r,
		id:    id,
		label: metrics.Partition(id),
		in:    make(chan step),
		out:   make(chan result, 1),
		quit:  make(chan struct{}),
		exit:  make(chan struct{}),
	}
	w.src = recordSource{dec: decode.New(r.cfg.DecodeOptions()), topic: r.cfg.Topics.DeadLetters}
	return w
}

// stop ends the worker and waits for it. The loop has no step out to it
// (rebalance callbacks and batches exclude each other), except maybe a
// checkpoint, whose result the buffered out channel takes.
func (w *worker) stop() {
	close(w.quit)
	<-w.exit
}

// send hands the worker a step whose result the loop will take later.
func (w *worker) send(s step) { w.in <- s }

// settle takes the result of the worker's checkpoint, if one is out; the
// loop calls it before it sends the worker anything else.
func (w *worker) settle() error {
	if !w.loop.checkpointing {
		return nil
	}
	w.loop.checkpointing = false
	if res := <-w.out; res.err != nil {
		return fmt.Errorf("checkpoint partition %d: %w", w.id, res.err)
	}
	return nil
}

// idle reports whether the partition has had no input for the idle
// timeout and has read everything there is.
func (w *worker) idle(timeout time.Duration) bool {
	l := &w.loop
	if time.Since(l.lastRecv) < timeout {
		return false
	}
	// A trailing transaction marker occupies an offset: one behind is
	// caught up.
	return l.hwm > 0 && l.next >= l.hwm-1 || l.hwm == 0 && l.next == 0
}

func (w *worker) run(ctx context.Context) {
	defer w.r.wg.Done()
	defer close(w.exit)
	log := w.r.log.With().Int32("partition", w.id).Logger()
	part, err := w.r.eng.Partition(w.id)
	if err != nil {
		w.r.fail(fmt.Errorf("open partition %d state: %w", w.id, err))
		<-w.quit
		return
	}
	w.part = part
	defer func() {
		if w.part != nil {
			w.r.eng.Release(w.part)
		}
	}()
	start := time.Now()
	// A restore that failed on the broker's side is tried again, from the
	// checkpoint it reached, until it succeeds or the partition is taken
	// away: given up, the partition would stay paused for good while this
	// instance, still in the group, keeps anyone else from taking it
	// over. Any other failure (an entry this version cannot read, the
	// store) no retry clears: the runtime stops with it.
	n, err := w.restore(ctx)
	for wait := restoreRetry; err != nil; wait = min(2*wait, restoreRetryMax) {
		if errors.Is(err, context.Canceled) || errors.Is(err, errStopped) {
			<-w.quit
			return
		}
		var be brokerError
		if !errors.As(err, &be) {
			w.r.fail(fmt.Errorf("restore partition %d: %w", w.id, err))
			<-w.quit
			return
		}
		log.Error().Err(err).Dur("retry_in", wait).Msg("restore from changelog failed; the partition stays paused until a retry succeeds")
		select {
		case <-w.quit:
			return
		case <-time.After(wait):
		}
		if w.part == nil { // released by a failed drop and reopen
			if w.part, err = w.r.eng.Partition(w.id); err != nil {
				continue
			}
		}
		n, err = w.restore(ctx)
	}
	w.d = engine.NewDriver(w.part)
	m := w.part.Meta()
	w.meta.Store(&m)
	w.r.m.RestoreSeconds.Observe(time.Since(start).Seconds())
	w.r.m.RestoreRemaining.WithLabelValues(w.label).Set(0)
	w.ready.Store(true)
	w.r.cl.ResumeFetchPartitions(map[string][]int32{w.r.cfg.Topics.Input: {w.id}})
	log.Info().Int64("changelog_records", n).Dur("took", time.Since(start)).Int64("resume_offset", w.part.Next()).Msg("partition restored and ready")
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
		case s := <-w.in:
			w.out <- w.step(s)
		}
	}
}

func (w *worker) step(s step) result {
	var res result
	switch s.kind {
	case stepProcess:
		res = w.process(s)
	case stepCommit:
		res.err = w.d.Commit(s.changelogNext)
		if res.err == nil {
			m := w.part.Meta()
			w.meta.Store(&m)
		}
	case stepAbort:
		res.err = w.d.Abort()
	case stepCheckpoint:
		if w.part.CheckpointDue() {
			res.err = w.part.Checkpoint()
			if res.err == nil {
				w.r.failpoint(FailpointCheckpointed)
			}
		}
	}
	res.next = w.part.Next()
	return res
}

// process applies a batch's records (and an idle partition's wall-clock
// watermark), flushes it, and hands its outputs back as Kafka records.
func (w *worker) process(s step) result {
	var res result
	w.src.reset(s.recs, w.r.nparts.Load())
	w.d.SetNow(s.now)
	if err := w.d.Process(&w.src); err != nil {
		res.err = err
		return res
	}
	if s.advance != 0 && s.advance > w.part.Watermark() {
		if err := w.d.Advance(s.advance); err != nil {
			res.err = err
			return res
		}
		res.advanced = true
	}
	out, err := w.d.Flush()
	if err != nil {
		res.err = err
		return res
	}
	topics := &w.r.cfg.Topics
	w.prod = w.prod[:0]
	for _, o := range out.Records {
		// The timestamp stays the time of producing, not the event time
		// ("at"): time-based retention and compaction follow record
		// timestamps, and a backfill's records, dated months ago, would
		// be deleted as soon as they were written.
		w.prod = append(w.prod, kgo.Record{Topic: topicFor(topics, o.Kind), Key: keyBytes(o.Key), Value: o.Value,
			Headers: w.headersOf(o.Kind)})
	}
	w.prodCL = w.prodCL[:0]
	for _, c := range out.Changelog {
		w.prodCL = append(w.prodCL, kgo.Record{Topic: topics.Changelog, Partition: w.id, Key: keyBytes(c.Key), Value: c.Value})
	}
	res.outputs, res.records, res.changelog = out.Records, w.prod, w.prodCL
	res.deadLetters, res.deadReasons = w.src.dlq, w.src.reasons
	res.fallbacks = w.src.fallbacks
	res.offHome = w.src.offHome
	res.stats = w.d.Stats()
	return res
}

// recordSource is the engine's Source over a batch's Kafka records: it
// decodes each, and turns the undecodable ones, and those the engine
// rejects (Reject), into dead letters.
type recordSource struct {
	dec     *decode.Decoder
	topic   string // the dead-letter topic
	recs    []*kgo.Record
	i       int
	headers []decode.Header
	dlq     []*kgo.Record
	reasons []string
	// fallbacks: what dated each event of the batch that had no
	// timestamp of its own (counted once the batch commits).
	fallbacks []string
	fell      bool     // the current record's event was dated by a fallback
	nparts    int32    // the input topic's partition count (0: unknown)
	offHome   [2]int64 // result.offHome
}

func (s *recordSource) reset(recs []*kgo.Record, nparts int32) {
	s.recs, s.i, s.nparts, s.offHome = recs, 0, nparts, [2]int64{}
	clear(s.dlq)
	s.dlq = s.dlq[:0]
	s.reasons = s.reasons[:0]
	s.fallbacks = s.fallbacks[:0]
}

func (s *recordSource) Next() (int64, error) {
	if s.i >= len(s.recs) {
		return 0, io.EOF
	}
	s.i++
	return s.recs[s.i-1].Offset, nil
}

func (s *recordSource) Event(ev *engine.Event) bool {
	rec := s.recs[s.i-1]
	s.headers = s.headers[:0]
	for _, h := range rec.Headers {
		s.headers = append(s.headers, decode.Header{Key: h.Key, Value: h.Value})
	}
	// The record's timestamp dates an event that has no time of its own
	// (the last of Segment's fallbacks).
	var recordTime int64
	if !rec.Timestamp.IsZero() {
		recordTime = max(rec.Timestamp.UnixMilli(), 0)
	}
	if err := s.dec.DecodeAt(rec.Value, s.headers, recordTime, ev); err != nil {
		s.deadLetter(rec, err)
		return false
	}
	if s.nparts > 0 && PartitionFor(ev.CustomerID, s.nparts) != rec.Partition {
		// The producer's partitioner is not Kafka's default, or its key is
		// not the customer: lookups search for such a customer, and in the
		// second case one customer's events may be split across
		// partitions.
		if string(rec.Key) == ev.CustomerID {
			s.offHome[0]++
		} else {
			s.offHome[1]++
		}
	}
	s.fell = false
	if f := s.dec.TimeFallback(); f != "" {
		s.fallbacks = append(s.fallbacks, f)
		s.fell = true
	}
	return true
}

// Reject implements engine.Rejecter: the current record decoded, but the
// engine did not apply it (an event time too far ahead of the clock).
func (s *recordSource) Reject(err error) {
	if s.fell { // not applied: no fallback dated it
		s.fallbacks = s.fallbacks[:len(s.fallbacks)-1]
		s.fell = false
	}
	s.deadLetter(s.recs[s.i-1], err)
}

// deadLetter queues rec for the dead-letter topic the way Kafka Connect's
// DeadLetterQueueReporter writes one (errors.deadletterqueue.context.
// headers.enable): value, key and timestamp untouched, original headers
// kept, and Connect's error headers added, so that existing DLQ tooling
// reads it. Where Connect has no counterpart in Lifeline the headers say
// what stands in: task.id is the input partition (a Connect task's number
// names the unit of work, and here the partition is that unit), and there
// is no exception.stacktrace header (see README.md, "dead letters").
func (s *recordSource) deadLetter(rec *kgo.Record, err error) {
	reason := string(decode.ReasonMalformedJSON)
	stage, class := "VALUE_CONVERTER", "lifeline.connectors.decode.Decoder"
	var de *decode.Error
	var ae *engine.AheadError
	var ue *engine.UndatedError
	switch {
	case errors.As(err, &de):
		reason = string(de.Reason)
	case errors.As(err, &ae):
		// Decoded fine; refused by the engine's check on event times.
		reason, stage, class = engine.ReasonEventAhead, "TRANSFORMATION", "lifeline.engine.Driver"
	case errors.As(err, &ue):
		reason, stage, class = engine.ReasonUndated, "TRANSFORMATION", "lifeline.engine.Driver"
	}
	s.reasons = append(s.reasons, reason)
	hdr := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	// The fetched record's memory is recycled after the batch: copy what
	// the dead letter keeps.
	headers := make([]kgo.RecordHeader, 0, len(rec.Headers)+9)
	for _, h := range rec.Headers {
		headers = append(headers, kgo.RecordHeader{Key: strings.Clone(h.Key), Value: bytes.Clone(h.Value)})
	}
	partition := strconv.Itoa(int(rec.Partition))
	headers = append(headers,
		hdr("__connect.errors.topic", rec.Topic),
		hdr("__connect.errors.partition", partition),
		hdr("__connect.errors.offset", strconv.FormatInt(rec.Offset, 10)),
		hdr("__connect.errors.connector.name", "lifeline"),
		hdr("__connect.errors.task.id", partition),
		hdr("__connect.errors.stage", stage),
		hdr("__connect.errors.class.name", class),
		hdr("__connect.errors.exception.class.name", "lifeline.decode."+reason),
		hdr("__connect.errors.exception.message", capMessage(err.Error())),
	)
	dl := &kgo.Record{
		Topic:   s.topic,
		Key:     bytes.Clone(rec.Key),
		Value:   bytes.Clone(rec.Value),
		Headers: headers,
	}
	// The input record's own time, as Connect keeps it: franz-go stamps
	// only a zero Timestamp with the time of producing, and a CreateTime
	// topic (Kafka's default) stores what the producer set. A record
	// without a timestamp (-1, from a pre-0.10 producer) gets the time of
	// producing, as Connect's gets.
	if rec.Timestamp.UnixMilli() >= 0 {
		dl.Timestamp = rec.Timestamp
	}
	s.dlq = append(s.dlq, dl)
}

// maxMessageBytes bounds the __connect.errors.exception.message header.
// Decode's messages quote at most a short prefix of what was wrong, but a
// header is no place for an unbounded text whatever the error: Connect's
// readers show it on one line, and every byte is stored again per dead
// letter.
const maxMessageBytes = 1024

// capMessage cuts msg to at most maxMessageBytes, at a UTF-8 character
// boundary, ending it with "… (N bytes cut)" so that a reader knows it is
// not the whole message.
func capMessage(msg string) string {
	if len(msg) <= maxMessageBytes {
		return msg
	}
	// The marker takes at most 5 + 20 digits + 11 bytes.
	cut := maxMessageBytes - 36
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "… (" + strconv.Itoa(len(msg)-cut) + " bytes cut)"
}

var errStopped = errors.New("worker stopped")

// A failed restore is retried after restoreRetry, doubling up to
// restoreRetryMax.
const (
	restoreRetry    = 500 * time.Millisecond
	restoreRetryMax = 30 * time.Second
)

// brokerError marks a restore's failure to read the changelog from the
// brokers, which a retry may get past.
type brokerError struct{ error }

func (e brokerError) Unwrap() error { return e.error }

// restoreStall is how long a restore waits for the changelog to return
// anything more before it takes the offsets left below the end as empty.
const restoreStall = 30 * time.Second

// restore brings the local store up to the changelog: from the local
// checkpoint's changelog position to the changelog's last stable offset.
func (w *worker) restore(ctx context.Context) (int64, error) {
	topic := w.r.cfg.Topics.Changelog
	end, err := w.changelogEnd(ctx)
	if err != nil {
		return 0, brokerError{err}
	}
	from := w.part.Meta().ChangelogNext
	if from > end {
		// The changelog is behind this store (recreated topic): the store
		// cannot be trusted to match it. Start over from the changelog.
		w.r.log.Warn().Int32("partition", w.id).Int64("store_at", from).Int64("changelog_end", end).Msg("local state is ahead of the changelog; dropping it and restoring from the changelog")
		w.r.eng.Release(w.part)
		w.part = nil
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
		return 0, brokerError{fmt.Errorf("changelog reader: %w", err)}
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
			return n, brokerError{fmt.Errorf("read changelog partition %d: %w", w.id, ferr)}
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
			w.r.failpoint(FailpointRestoring)
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
	openDeadline := time.Now().Add(w.r.cfg.Engine.TransactionTimeout.Std() + 30*time.Second)
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

// Output record headers: what a record is, for a consumer that routes or
// validates records without parsing them.
const (
	HeaderKind          = "lifeline.kind"
	HeaderSchemaVersion = "lifeline.schema_version"
)

// headersOf returns the headers of an output record of kind k.
func (w *worker) headersOf(k engine.Kind) []kgo.RecordHeader {
	h, ok := w.headers[k]
	if !ok {
		if w.headers == nil {
			w.headers = map[engine.Kind][]kgo.RecordHeader{}
		}
		h = []kgo.RecordHeader{
			{Key: HeaderKind, Value: []byte(k.String())},
			{Key: HeaderSchemaVersion, Value: strconv.AppendInt(nil, engine.SchemaVersion, 10)},
		}
		h = h[:len(h):len(h)] // shared: an append must copy
		w.headers[k] = h
	}
	return h
}
