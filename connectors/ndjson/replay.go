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
	"sort"
	"strings"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
)

// Options configure a replay.
type Options struct {
	// BatchSize is how many input lines make one checkpoint (default 1000).
	BatchSize int
	// Until, when non-zero (Unix ms), is where the watermark is raised
	// after the last line, so that timers due by then fire: "replay as of
	// this time".
	Until int64
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
}

// MaxBadListed is how many bad records a Summary lists one by one.
const MaxBadListed = 100

// Replay reads events from r, applies them to partition p (which must be
// freshly opened: a stored checkpoint makes the replay resume after the
// lines it already applied), and writes output records to w, one JSON
// object per line, in processing order. Blank lines are ignored; bad lines
// are counted and listed in the summary, never fatal.
func Replay(ctx context.Context, r io.Reader, p *engine.Partition, w io.Writer, opts Options) (Summary, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 1 << 20
	}
	sum := Summary{Outputs: map[string]int64{}, BadReasons: map[decode.Reason]int64{}}
	dec := decode.New(opts.Decode)
	br := bufio.NewReaderSize(r, 256<<10)
	bw := bufio.NewWriterSize(w, 256<<10)
	var (
		out     engine.Outputs
		ev      engine.Event
		inBatch int
		lineBuf []byte
	)
	resume := p.Next()
	commit := func() error {
		for _, rec := range out.Records {
			sum.Outputs[rec.Kind.String()]++
			bw.Write(rec.Value)
			bw.WriteByte('\n')
		}
		// Outputs first, then the checkpoint: a crash between the two
		// repeats outputs (at least once), never loses them.
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write outputs: %w", err)
		}
		if err := p.Flush(&out); err != nil {
			return err
		}
		if err := p.Commit(0); err != nil {
			return err
		}
		out.Reset()
		inBatch = 0
		return nil
	}
	for line := int64(0); ; line++ {
		if line%1024 == 0 && ctx.Err() != nil {
			return sum, ctx.Err()
		}
		raw, tooLong, err := readLine(br, &lineBuf, opts.MaxLineBytes)
		if errors.Is(err, io.EOF) && raw == nil {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return sum, fmt.Errorf("read input line %d: %w", line+1, err)
		}
		sum.Lines++
		if line < resume {
			sum.Skipped++
			continue
		}
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) == 0:
			p.Skip(line)
		case tooLong:
			sum.bad(line, &decode.Error{Reason: decode.ReasonMalformedJSON, Msg: fmt.Sprintf("line longer than %d bytes", opts.MaxLineBytes)})
			p.Skip(line)
		default:
			if derr := dec.Decode(raw, nil, &ev); derr != nil {
				sum.bad(line, derr)
				p.Skip(line)
				break
			}
			applied, aerr := p.Apply(&ev, line, &out)
			if aerr != nil {
				return sum, fmt.Errorf("apply line %d: %w", line+1, aerr)
			}
			if applied {
				sum.Events++
			} else {
				sum.Duplicates++
			}
		}
		if inBatch++; inBatch >= opts.BatchSize {
			if err := commit(); err != nil {
				return sum, err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if opts.Until != 0 {
		if err := p.Advance(opts.Until, &out); err != nil {
			return sum, err
		}
	}
	if err := commit(); err != nil {
		return sum, err
	}
	return sum, nil
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
