// Package ndjson runs the engine over newline-delimited JSON: events in,
// one per line, output records out, one per line. It is `lifeline replay`:
// the engine without Kafka, deterministic, resumable from a state
// directory.
package ndjson

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
)

// Options configure a replay.
type Options struct {
	// BatchSize is how many input lines make one batch, committed and
	// checkpointed together (default 1000).
	BatchSize int
	// Until, when non-zero (Unix ms), is where the watermark is raised
	// after the last line, so that timers due by then fire: "replay as of
	// this time".
	Until int64
	// Now, when non-zero (Unix ms), is the time against which events are
	// judged too far ahead (engine.Options.MaxEventAhead, set on the
	// partition's engine), as the Kafka runtime judges them against its
	// wall clock. Zero (the default) judges each event against the
	// input's own progress: the newest event time applied so far (the
	// first event, with nothing before it, is not judged), unless the
	// lines after it confirm the time (engine.Confirmer): the next two
	// lines with a time of their own are none of them earlier than the
	// event's time minus the bound, so that input resuming after a quiet
	// spell is applied and one outlier is not. A rejected event is a bad
	// record with reason event_time_ahead.
	//
	// Now also dates a line without any time of its own (a Segment
	// message with none of timestamp, originalTimestamp, sentAt,
	// receivedAt; a CloudEvent without time) when no line before it
	// became an event. Later such lines take the time of the newest event
	// applied before them, as the engine dates a Kafka record by its
	// timestamp (never later than that newest event); the first such
	// line without Now is a bad record (no_timestamp). A replay resumed
	// from a state directory reads the lines it skips, so that it dates
	// lines as the whole run would.
	Now int64
	// MaxLineBytes bounds one input line (default 1 MiB); a longer line is a
	// bad record.
	MaxLineBytes int
	// Decode configures the event decoder.
	Decode decode.Options
}

// BadRecord is an input line that could not become an event.
type BadRecord struct {
	Line   int64 // 1-based
	Reason decode.Reason
	Msg    string
}

// Summary tells what a replay did.
type Summary struct {
	Lines      int64 // input lines read in this run (blank ones included)
	Skipped    int64 // lines before the resume position, not applied again
	Events     int64 // events applied
	Duplicates int64 // events dropped as duplicates
	Outputs    map[string]int64
	Bad        []BadRecord // the first MaxBadListed bad records
	BadCount   int64
	BadReasons map[decode.Reason]int64
	// TimeFallbacks counts the events dated by a fallback, by
	// decode.TimeFallback: a Segment message's originalTimestamp, sentAt
	// or receivedAt, or "record" (the newest event's time, or Now).
	TimeFallbacks map[string]int64
	// MoneyNotCounted counts the purchases and refunds whose amount
	// lifetime value left out, by cause (engine.KPIs.MoneyNotCounted:
	// unconverted, out_of_range, negative_purchase), over the partition's
	// whole state (a resumed run includes the earlier runs').
	MoneyNotCounted map[string]int64
	// Currency is the rule pack's money.currency ("" for none).
	Currency string
}

// MaxBadListed is how many bad records a Summary lists one by one.
const MaxBadListed = 100

// Replay reads events from r, applies them to partition p (which must be
// freshly opened: a stored checkpoint makes the replay resume after the
// lines it already applied), and writes output records to w, one JSON
// object per line, in processing order. Blank lines are ignored; bad lines
// are counted and listed in the summary, never fatal.
//
// Outputs are at least once: each batch's records have been written to w
// (w.Write has returned) before the batch commits, so a crash repeats at
// most the batch in flight and never loses a record. That holds only if w
// itself does not hold them back: pass the file or stdout itself, not a
// bufio.Writer around it.
func Replay(ctx context.Context, r io.Reader, p *engine.Partition, w io.Writer, opts Options) (Summary, error) {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 1 << 20
	}
	sum := Summary{Outputs: map[string]int64{}, BadReasons: map[decode.Reason]int64{}, TimeFallbacks: map[string]int64{}}
	src := &lines{br: bufio.NewReaderSize(r, 256<<10), max: opts.MaxLineBytes, dec: decode.New(opts.Decode), sum: &sum,
		prev: opts.Now, resume: p.Next(), opts: opts.Decode}
	// Records are gathered here and handed to w in one Write per batch,
	// before the batch commits.
	bw := bufio.NewWriterSize(w, 256<<10)
	emit := func(out *engine.Outputs) error {
		for _, rec := range out.Records {
			sum.Outputs[rec.Kind.String()]++
			bw.Write(rec.Value)
			bw.WriteByte('\n')
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write outputs: %w", err)
		}
		return nil
	}
	d := engine.NewDriver(p)
	d.SetNow(opts.Now)
	st, err := d.Run(ctx, src, engine.RunOptions{BatchSize: opts.BatchSize, Until: opts.Until}, emit)
	sum.Events, sum.Duplicates, sum.Skipped = st.Applied, st.Duplicates, st.Stale
	m := p.Meta()
	sum.MoneyNotCounted = map[string]int64{"unconverted": m.MoneyUnconverted, "out_of_range": m.MoneyOutOfRange,
		"negative_purchase": m.MoneyNegative}
	sum.Currency = p.Pack().Money.Currency
	return sum, err
}

// lines is the engine's Source over NDJSON input: position n is line n+1.
type lines struct {
	br   *bufio.Reader
	buf  []byte
	max  int
	next int64 // the position of the next line
	raw  []byte
	long bool // raw's line was longer than max
	eof  bool // the input has ended (a last line without a newline was read)
	dec  *decode.Decoder
	sum  *Summary
	// prev dates a line without a time of its own: the time of the last
	// line that became an event (Options.Now before the first); before
	// is its value before the current line, restored when the engine
	// rejects the current line's event.
	prev, before int64
	// dated counts the lines that became events (skipped ones included):
	// with none yet, a line without a time takes Options.Now.
	dated    int64
	fallback string // the current line's TimeFallback
	// resume is the first line position the partition has not applied:
	// lines before it are skipped by the engine, and read here only for
	// their times.
	resume int64
	ev     engine.Event
	// peek decodes the lines after the current one (Confirms), apart from
	// dec, whose buffers the current event's strings may point into.
	peek *decode.Decoder
	opts decode.Options
}

func (l *lines) Next() (int64, error) {
	if l.eof {
		return 0, io.EOF
	}
	raw, long, err := readLine(l.br, &l.buf, l.max)
	if errors.Is(err, io.EOF) {
		// Not read again: on a terminal, that would wait for another ^D.
		l.eof = true
		if raw == nil {
			return 0, io.EOF
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read input line %d: %w", l.next+1, err)
	}
	l.raw, l.long = raw, long
	l.sum.Lines++
	l.next++
	if l.next-1 < l.resume && !long {
		// Applied by an earlier run: only its time matters here. (An
		// event the engine rejected as too far ahead counts here,
		// unlike in a whole run: a corner of a corner.)
		if l.dec.DecodeAt(bytes.TrimSpace(raw), nil, l.prev, &l.ev) == nil {
			l.prev = l.ev.Time
			l.dated++
		}
	}
	return l.next - 1, nil
}

func (l *lines) Event(ev *engine.Event) bool {
	raw := bytes.TrimSpace(l.raw)
	switch {
	case len(raw) == 0:
		return false
	case l.long:
		l.sum.bad(l.next-1, &decode.Error{Reason: decode.ReasonMalformedJSON, Msg: fmt.Sprintf("line longer than %d bytes", l.max)})
		return false
	}
	if err := l.dec.DecodeAt(raw, nil, l.prev, ev); err != nil {
		l.sum.bad(l.next-1, err)
		return false
	}
	if l.fallback = l.dec.TimeFallback(); l.fallback != "" {
		l.sum.TimeFallbacks[l.fallback]++
	}
	if ev.TimeFromRecord {
		if l.dated == 0 {
			ev.TimeFromRecord = false // Options.Now: the operator's time
		} else {
			// As run dates it (a record timestamp later than every
			// event): the engine dates it at the newest event applied.
			ev.Time = math.MaxInt64 / 2
		}
	}
	l.before, l.prev = l.prev, ev.Time
	l.dated++
	return true
}

// confirmLines is how many later lines Confirms reads.
const confirmLines = 2

// Confirms implements engine.Confirmer: it reads the lines after the
// current one, as far as the input buffer reaches, without consuming
// them. Blank lines, bad lines and lines without a time of their own say
// nothing. Only events already judged too far ahead get here.
func (l *lines) Confirms(from int64) bool {
	if l.eof {
		return false
	}
	if l.peek == nil {
		l.peek = decode.New(l.opts)
	}
	var ev engine.Event
	for size := 4 << 10; ; size = min(size*8, l.br.Size()) {
		buf, err := l.br.Peek(size)
		complete := err != nil // the input ends within buf: its last line counts
		seen := 0
		for rest := buf; seen < confirmLines && len(rest) > 0; {
			line, tail, found := bytes.Cut(rest, []byte{'\n'})
			if !found && !complete {
				break // cut off: peek further
			}
			rest = tail
			line = bytes.TrimSpace(line)
			if len(line) == 0 || l.peek.DecodeAt(line, nil, 0, &ev) != nil || ev.TimeFromRecord {
				continue
			}
			if ev.Time < from {
				return false
			}
			seen++
		}
		if seen == confirmLines || complete || size == l.br.Size() {
			return seen > 0
		}
	}
}

// ReasonEventAhead is the reason of a line whose event the engine did not
// apply: its time is too far ahead (Options.Now).
const ReasonEventAhead = decode.Reason(engine.ReasonEventAhead)

// Reject implements engine.Rejecter: the current line decoded, but its
// event was not applied.
func (l *lines) Reject(err error) {
	// A rejected event dates no later line, and is no fallback applied.
	l.prev = l.before
	l.dated--
	if l.fallback != "" {
		l.sum.TimeFallbacks[l.fallback]--
	}
	msg, reason := err.Error(), ReasonEventAhead
	var ae *engine.AheadError
	var ue *engine.UndatedError
	switch {
	case errors.As(err, &ae):
		msg = ae.Detail()
	case errors.As(err, &ue):
		reason = decode.ReasonNoTimestamp
		msg = strings.TrimPrefix(msg, engine.ReasonUndated+": ")
	}
	l.sum.bad(l.next-1, &decode.Error{Reason: reason, Msg: msg})
}

func (s *Summary) bad(line int64, err error) {
	var de *decode.Error
	if !errors.As(err, &de) {
		de = &decode.Error{Reason: decode.ReasonMalformedJSON, Msg: err.Error()}
	}
	s.BadCount++
	s.BadReasons[de.Reason]++
	if len(s.Bad) < MaxBadListed {
		s.Bad = append(s.Bad, BadRecord{Line: line + 1, Reason: de.Reason, Msg: de.Msg})
	}
}

// readLine returns the next line without its newline. A line longer than
// max is consumed whole and reported as tooLong.
func readLine(br *bufio.Reader, buf *[]byte, max int) (line []byte, tooLong bool, err error) {
	*buf = (*buf)[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if len(*buf)+len(chunk) > max {
			tooLong = true
		} else {
			*buf = append(*buf, chunk...)
		}
		switch {
		case err == nil:
			return bytes.TrimRight(*buf, "\r\n"), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(*buf) == 0 && !tooLong {
				return nil, false, io.EOF
			}
			return *buf, tooLong, io.EOF
		default:
			return nil, false, err
		}
	}
}

// Format renders the summary for stderr.
func (s *Summary) Format(w io.Writer) {
	fmt.Fprintf(w, "replay: %d lines, %d events applied, %d duplicates, %d bad records", s.Lines, s.Events, s.Duplicates, s.BadCount)
	if s.Skipped > 0 {
		fmt.Fprintf(w, ", %d lines skipped (already applied to the state directory)", s.Skipped)
	}
	fmt.Fprintln(w)
	kinds := make([]string, 0, len(s.Outputs))
	for k := range s.Outputs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.Outputs[k]))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	fmt.Fprintf(w, "outputs: %s\n", strings.Join(parts, ", "))
	var dated []string
	for _, f := range decode.TimeFallbacks() {
		if n := s.TimeFallbacks[f]; n > 0 {
			name := f
			if f == decode.FallbackRecord {
				name = "newest event or --now"
			}
			dated = append(dated, fmt.Sprintf("%s %d", name, n))
		}
	}
	if len(dated) > 0 {
		fmt.Fprintf(w, "events without their own timestamp, dated by: %s\n", strings.Join(dated, ", "))
	}
	var money []string
	for _, c := range [...]struct{ key, what string }{
		{"unconverted", "in a currency without a rate in the pack's money.rates"},
		{"out_of_range", "beyond 1e12 once converted"},
		{"negative_purchase", "negative on a purchase"},
	} {
		if n := s.MoneyNotCounted[c.key]; n > 0 {
			money = append(money, fmt.Sprintf("%d %s (%s)", n, c.key, c.what))
		}
	}
	if len(money) > 0 {
		cur := s.Currency
		if cur == "" {
			cur = "the events' currencies"
		}
		fmt.Fprintf(w, "purchases and refunds left out of lifetime value (kept in %s): %s\n", cur, strings.Join(money, ", "))
	}
	if s.BadCount > 0 {
		reasons := make([]string, 0, len(s.BadReasons))
		for r, n := range s.BadReasons {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
		sort.Strings(reasons)
		fmt.Fprintf(w, "bad records by reason: %s\n", strings.Join(reasons, ", "))
		for _, b := range s.Bad {
			fmt.Fprintf(w, "  line %d: %s: %s\n", b.Line, b.Reason, b.Msg)
		}
		if s.BadCount > int64(len(s.Bad)) {
			fmt.Fprintf(w, "  ... and %d more\n", s.BadCount-int64(len(s.Bad)))
		}
	}
}
