package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/common/model"
)

// Source hands a Driver a partition's input, one record at a time, in
// the order of their positions.
type Source interface {
	// Next moves to the next record and returns its position (a Kafka
	// offset, a line number). It returns io.EOF when the input, or the
	// part of it meant for this batch, is exhausted.
	Next() (int64, error)
	// Event decodes the current record into ev. It returns false for a
	// record that carries no event: a blank line, or a record the source
	// could not decode, which the source itself reports (a dead letter, a
	// bad line). ev's strings need stay valid only until the next Next.
	Event(ev *Event) bool
}

// Rejecter is a Source that wants to hear of the events the Driver does
// not apply although the Source decoded them: an event too far ahead
// (Options.MaxEventAhead), reported with an *AheadError. The runtime
// dead-letters the current record, or lists it as a bad line.
type Rejecter interface {
	Reject(err error)
}

// ReasonEventAhead is the stable name of the reason an event is rejected
// for being too far ahead (a metric label, a dead-letter header, a
// replay summary line).
const ReasonEventAhead = "event_time_ahead"

// AheadError describes an event rejected for a time too far ahead of the
// reference time (Options.MaxEventAhead). Times are Unix ms.
type AheadError struct {
	Time  int64  // the event's time
	Ref   int64  // the reference it was judged against
	RefIs string // what the reference is: "clock" or "newest event"
	Limit int64  // Ref plus the bound: the latest time applied
}

func (e *AheadError) Error() string { return ReasonEventAhead + ": " + e.Detail() }

// Detail is the error's message without the reason.
func (e *AheadError) Detail() string {
	return fmt.Sprintf("event time %s is more than %s ahead of the %s (%s); the latest accepted is %s",
		fmtMillis(e.Time), model.Duration(time.Duration(e.Limit-e.Ref)*time.Millisecond), e.RefIs, fmtMillis(e.Ref), fmtMillis(e.Limit))
}

// ReasonUndated is the stable name of the reason an event dated only by
// its record's timestamp is rejected: the decoders' no_timestamp.
const ReasonUndated = "no_timestamp"

// UndatedError describes an event without a time of its own
// (Event.TimeFromRecord) that reached a partition which has applied no
// event yet: nothing bounds its record's timestamp, the producer's clock,
// which in a backfill is today and would move the watermark there.
type UndatedError struct {
	RecordTime int64 // the record's timestamp, Unix ms
}

func (e *UndatedError) Error() string {
	return ReasonUndated + ": the event has no time of its own, and its record's timestamp (" + fmtMillis(e.RecordTime) +
		") cannot date the first event of a partition; give the event a timestamp"
}

func fmtMillis(ms int64) string {
	return string(appendRFC3339Millis(nil, ms))
}

// Stats count what a batch did with its input.
type Stats struct {
	Applied    int64 // events applied
	Duplicates int64 // events dropped: their id was already applied
	NoEvent    int64 // records that carried no event (Source.Event false)
	// Stale counts records before the partition's position: applied by an
	// earlier run (a resumed replay, a redelivery after a crash), and not
	// applied again.
	Stale int64
	// Ahead counts events not applied because their time was too far
	// ahead of the reference time (Options.MaxEventAhead).
	Ahead int64
	// TimerRuns counts rule-pack evaluations caused by timers (every
	// applied event causes one too).
	TimerRuns int64
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Applied += o.Applied
	s.Duplicates += o.Duplicates
	s.NoEvent += o.NoEvent
	s.Stale += o.Stale
	s.Ahead += o.Ahead
	s.TimerRuns += o.TimerRuns
}

// Records is how many input records the counts cover.
func (s *Stats) Records() int64 { return s.Applied + s.Duplicates + s.NoEvent + s.Stale + s.Ahead }

// Driver runs a partition's batch cycle, the one every runtime uses (the
// Kafka runtime, replay, the rule-pack tests, the benchmarks):
//
//  1. Process (and Advance) apply input to the batch in progress;
//  2. Flush ends it and hands back its output records and changelog
//     entries;
//  3. the runtime makes those durable (a Kafka transaction, a file);
//  4. Commit makes the batch the partition's committed state, or Abort,
//     when the outputs did not become durable, takes it back, so that the
//     same input can be processed again.
//
// Run does all four for runtimes whose outputs become durable in one call.
// A Driver belongs to the goroutine that owns its Partition.
type Driver struct {
	p      *Partition
	out    Outputs
	ev     Event
	stats  Stats  // the batch in progress
	timers uint64 // p.eval.timerRuns at the batch's start
	ahead  int64  // Options.MaxEventAhead in ms (0: no bound)
	now    int64  // SetNow's reference (0: the input's progress)
}

// NewDriver returns a driver for p.
func NewDriver(p *Partition) *Driver {
	return &Driver{p: p, timers: p.eval.timerRuns, ahead: p.e.opts.MaxEventAhead.Milliseconds()}
}

// SetNow sets the wall-clock time (Unix ms) against which events are
// judged too far ahead (Options.MaxEventAhead) from now on: the Kafka
// runtime sets it for each batch. Zero (the default) judges them against
// the input's own progress instead: the newest event time applied.
func (d *Driver) SetNow(ms int64) { d.now = ms }

// Confirmer is a Source that can look past its current record. Without a
// clock (SetNow), an event more than Options.MaxEventAhead past the newest
// event applied is either an outlier (one record dated 9999) or the input
// resuming after a quiet spell (a weekend with no events in a small
// partition); the Driver asks the Source which, for such events only.
// Judged against the newest event alone, a quiet spell would turn every
// later event away, since rejected events move nothing.
type Confirmer interface {
	// Confirms reports whether the input goes on at the current event's
	// time: the next events that carry a time of their own (two, or the
	// one left before the input ends) are none of them earlier than
	// from. With no such event after the current one, it reports false.
	Confirms(from int64) bool
}

// tooFarAhead returns the rejection of the current event, nil when it may
// be applied. Per event it costs a comparison or two.
func (d *Driver) tooFarAhead(src Source) error {
	ref, is := d.now, "clock"
	if ref == 0 {
		ref, is = d.p.meta.MaxEventTime, "newest event"
		if ref == 0 {
			return nil // nothing yet to judge the first event by
		}
	}
	if d.ev.Time-ref <= d.ahead {
		return nil
	}
	if c, ok := src.(Confirmer); ok && d.now == 0 && c.Confirms(d.ev.Time-d.ahead) {
		return nil // the input resumes after a quiet spell
	}
	return &AheadError{Time: d.ev.Time, Ref: ref, RefIs: is, Limit: ref + d.ahead}
}

// Partition is the partition driven.
func (d *Driver) Partition() *Partition { return d.p }

// Outputs are the batch's output records so far; after Flush, with its
// changelog entries. They stay valid until Commit or Abort.
func (d *Driver) Outputs() *Outputs { return &d.out }

// Stats are the batch's counts so far.
func (d *Driver) Stats() Stats {
	s := d.stats
	s.TimerRuns = int64(d.p.eval.timerRuns - d.timers)
	return s
}

var errFlushed = errors.New("the batch is flushed: Commit or Abort it first")

// Process applies src's records to the batch in progress until src
// returns io.EOF. A record before the partition's position is counted as
// Stale and not applied again; a record without an event moves the
// position past it. The error is src's (other than io.EOF) or the store's.
func (d *Driver) Process(src Source) error {
	_, err := d.process(context.Background(), src, 0)
	return err
}

// process is Process up to max records that are not stale (0: no limit).
// It reports whether src is exhausted, and checks ctx now and then.
func (d *Driver) process(ctx context.Context, src Source, max int) (done bool, err error) {
	p := d.p
	if p.ckpt.flushed {
		return false, errFlushed
	}
	for n := 0; max == 0 || n < max; {
		pos, err := src.Next()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if pos < p.meta.Next {
			d.stats.Stale++
			continue
		}
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return false, ctx.Err()
		}
		if !src.Event(&d.ev) {
			p.skip(pos)
			d.stats.NoEvent++
			continue
		}
		if d.ev.TimeFromRecord {
			// A record's timestamp never dates an event past the newest
			// event applied; with none applied yet, nothing bounds it.
			newest := p.meta.MaxEventTime
			if newest == 0 {
				p.skip(pos)
				d.stats.NoEvent++
				if r, ok := src.(Rejecter); ok {
					r.Reject(&UndatedError{RecordTime: d.ev.Time})
				}
				continue
			}
			d.ev.Time = min(d.ev.Time, newest)
		}
		if d.ahead > 0 {
			if err := d.tooFarAhead(src); err != nil {
				p.skip(pos)
				d.stats.Ahead++
				if r, ok := src.(Rejecter); ok {
					r.Reject(err)
				}
				continue
			}
		}
		applied, err := p.apply(&d.ev, pos, &d.out)
		if err != nil {
			return false, fmt.Errorf("partition %d position %d: %w", p.id, pos, err)
		}
		if applied {
			d.stats.Applied++
		} else {
			d.stats.Duplicates++
		}
	}
	return false, nil
}

// Advance raises the watermark to wm (Unix ms) if it is behind, firing the
// timers that fall due into the batch in progress.
func (d *Driver) Advance(wm int64) error {
	if d.p.ckpt.flushed {
		return errFlushed
	}
	return d.p.advance(wm, &d.out)
}

// Flush ends the batch's processing: the outputs now hold its changelog
// entries too. Commit or Abort must follow.
func (d *Driver) Flush() (*Outputs, error) {
	if d.p.ckpt.flushed {
		return &d.out, errFlushed
	}
	if err := d.p.flush(&d.out); err != nil {
		return nil, err
	}
	return &d.out, nil
}

// Commit makes the flushed batch the partition's committed state, once its
// outputs are durable; changelogNext is the changelog offset after its
// entries (0 without a changelog). It empties the outputs for the next
// batch.
func (d *Driver) Commit(changelogNext int64) error {
	if err := d.p.commit(changelogNext); err != nil {
		return err
	}
	d.reset()
	return nil
}

// Abort discards the batch (flushed or not): its outputs, and every change
// it made to the partition.
func (d *Driver) Abort() error {
	err := d.p.abort()
	d.reset()
	return err
}

func (d *Driver) reset() {
	d.out.Reset()
	d.stats = Stats{}
	d.timers = d.p.eval.timerRuns
}

// RunOptions configure Driver.Run.
type RunOptions struct {
	// BatchSize is how many input records make one batch (default 1000).
	BatchSize int
	// Until, when non-zero (Unix ms), is where the watermark is raised
	// after the last record, so that timers due by then fire.
	Until int64
}

// Run drives the whole of src through the partition, for runtimes whose
// outputs become durable in one call: batches of opts.BatchSize records
// (records already applied, before the partition's position, do not count
// towards a batch), each flushed, handed to emit, and committed once emit
// returns. emit must make the outputs durable before it returns (nil:
// outputs are dropped); a crash then repeats at most the batch in flight,
// never loses one. A checkpoint follows each commit when one is due, and
// the last commit. Run stops when ctx ends (checking it every 1,024
// records). On an error, the batch in progress is aborted. It returns the
// counts of the batches it committed.
func (d *Driver) Run(ctx context.Context, src Source, opts RunOptions, emit func(*Outputs) error) (Stats, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	var total Stats
	for done := false; !done; {
		var err error
		if err = ctx.Err(); err == nil {
			done, err = d.process(ctx, src, opts.BatchSize)
		}
		if err == nil && done && opts.Until != 0 {
			err = d.Advance(opts.Until)
		}
		if err == nil {
			err = d.commitWith(emit, &total)
		}
		if err != nil {
			_ = d.Abort() // the error is the one to report
			return total, err
		}
	}
	return total, d.p.Checkpoint()
}

// commitWith flushes the batch, has emit make its outputs durable, commits
// it, adds its counts to total, and checkpoints if one is due.
func (d *Driver) commitWith(emit func(*Outputs) error, total *Stats) error {
	out, err := d.Flush()
	if err != nil {
		return err
	}
	if emit != nil {
		if err := emit(out); err != nil {
			return err
		}
	}
	s := d.Stats()
	if err := d.Commit(0); err != nil {
		return err
	}
	total.Add(s)
	if d.p.CheckpointDue() {
		return d.p.Checkpoint()
	}
	return nil
}

// Events is a Source of events already decoded, at positions First,
// First+1, ... (the rule-pack tests, the engine's own tests).
type Events struct {
	List  []Event
	First int64
	i     int
}

// Next implements Source.
func (s *Events) Next() (int64, error) {
	if s.i >= len(s.List) {
		return 0, io.EOF
	}
	s.i++
	return s.First + int64(s.i-1), nil
}

// Event implements Source.
func (s *Events) Event(ev *Event) bool {
	*ev = s.List[s.i-1]
	return true
}
