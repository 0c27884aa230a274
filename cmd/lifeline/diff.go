package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/ndjson"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/engine/packdiff"
	"github.com/lifeline-hq/lifeline/rules"
)

// rulesDiffCmd is `lifeline rules diff OLD NEW --in FILE`: the engine
// replays the input once per pack, each in a fresh temporary state, and
// packdiff compares what the two made of it. It sits beside check and
// test, not in replay, because its output is a report about a pack change
// for its author, while replay's stdout is the engine's output records.
type rulesDiffCmd struct {
	Old             string          `arg:"" name:"old" help:"The rule pack in use (default for the built-in pack)."`
	New             string          `arg:"" name:"new" help:"The rule pack to compare it with."`
	In              string          `help:"Events, one JSON object per line (Segment or CloudEvents), as replay reads them; - for stdin." required:"" placeholder:"FILE|-"`
	Until           string          `help:"After the last line, raise the watermark to this time (RFC 3339), firing the timers due by then, as replay --until." placeholder:"TIME"`
	Now             string          `help:"As replay --now: judge --max-event-ahead against this time, and date lines without a time of their own." placeholder:"TIME"`
	AllowedLateness config.Duration `help:"As replay --allowed-lateness (engine.allowed_lateness)." default:"10m" placeholder:"DURATION"`
	MaxEventAhead   config.Duration `help:"As replay --max-event-ahead (engine.max_event_ahead; 0 for no bound)." default:"1d" placeholder:"DURATION"`
	Config          string          `help:"Decode as run does with this lifeline.yaml (customer_field and the input: section), as replay --config." placeholder:"FILE" type:"existingfile"`
	JSON            bool            `name:"json" help:"Write the report as one JSON object instead of tables."`
	Examples        int             `help:"Example customer ids per row." default:"3" placeholder:"N"`
}

// diffSide is one pack of the comparison, as the report names it.
type diffSide struct {
	File    string `json:"file"`
	Version string `json:"version"`
	Outputs int64  `json:"outputs"`
}

func (c *rulesDiffCmd) Run(e *env) error {
	if c.Examples < 0 {
		return fmt.Errorf("--examples %d: expected 0 or more", c.Examples)
	}
	var until, now int64
	for _, t := range []struct {
		flag, val string
		dst       *int64
	}{{"--until", c.Until, &until}, {"--now", c.Now, &now}} {
		if t.val == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.val)
		if err != nil {
			return fmt.Errorf("%s %q: expected an RFC 3339 time such as 2026-04-01T00:00:00Z", t.flag, t.val)
		}
		*t.dst = v.UnixMilli()
	}
	if c.AllowedLateness < 0 || c.MaxEventAhead < 0 {
		return errors.New("--allowed-lateness and --max-event-ahead must not be negative")
	}
	cfg := config.Defaults()
	if c.Config != "" {
		var err error
		if cfg, err = config.Read(c.Config, os.Environ()); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--config %s: %w", c.Config, err)
		}
	}
	oldPack, err := loadNamedPack(e, c.Old)
	if err != nil {
		return err
	}
	newPack, err := loadNamedPack(e, c.New)
	if err != nil {
		return err
	}
	// The input is read once per pack: stdin is kept in memory for that.
	var input []byte
	if c.In == "-" {
		if input, err = io.ReadAll(e.stdin); err != nil {
			return fmt.Errorf("--in -: %w", err)
		}
	}
	eopts := engine.Options{AllowedLateness: engine.Lateness(c.AllowedLateness.Std()), MaxEventAhead: c.MaxEventAhead.Std()}
	nopts := ndjson.Options{Until: until, Now: now, Decode: cfg.DecodeOptions()}
	outcomes := [2]*packdiff.Outcomes{packdiff.NewOutcomes(), packdiff.NewOutcomes()}
	sides := [2]diffSide{{File: c.Old, Version: oldPack.Version}, {File: c.New, Version: newPack.Version}}
	for i, pack := range []*rules.Pack{oldPack, newPack} {
		in, closeIn, err := c.open(input)
		if err != nil {
			return err
		}
		sum, err := replayPack(e, pack, in, eopts, nopts, outcomes[i])
		closeIn()
		if err != nil {
			return fmt.Errorf("replay with %s: %w", sides[i].File, err)
		}
		if err := outcomes[i].Flush(); err != nil {
			return fmt.Errorf("replay with %s: %w", sides[i].File, err)
		}
		sides[i].Outputs = outcomes[i].Records
		if i == 0 {
			// The input is the same for both: its summary (events, bad
			// lines with their numbers) once.
			sum.Format(e.stderr)
		}
	}
	rep := packdiff.Compare(outcomes[0], outcomes[1], c.Examples)
	if c.JSON {
		out := struct {
			Old diffSide `json:"old"`
			New diffSide `json:"new"`
			packdiff.Report
		}{sides[0], sides[1], rep}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(e.stdout, "old: %s (version %s)\nnew: %s (version %s)\n", sides[0].File, sides[0].Version, sides[1].File, sides[1].Version)
	return rep.WriteText(e.stdout)
}

// open returns the input for one replay.
func (c *rulesDiffCmd) open(input []byte) (io.Reader, func(), error) {
	if c.In == "-" {
		return bytes.NewReader(input), func() {}, nil
	}
	f, err := os.Open(c.In)
	if err != nil {
		return nil, nil, fmt.Errorf("--in: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// loadNamedPack loads a pack file; "default", when no such file exists,
// is the built-in pack.
func loadNamedPack(e *env, path string) (*rules.Pack, error) {
	if path == "default" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return rules.Default(), nil
		}
	}
	return loadPack(e, path)
}

// replayPack runs the engine with pack over in, in a temporary state
// directory removed afterwards, and writes the output records to w.
func replayPack(e *env, pack *rules.Pack, in io.Reader, eopts engine.Options, nopts ndjson.Options, w io.Writer) (ndjson.Summary, error) {
	dir, err := os.MkdirTemp("", "lifeline-diff-")
	if err != nil {
		return ndjson.Summary{}, fmt.Errorf("create temporary state directory: %w", err)
	}
	defer os.RemoveAll(dir)
	eng, err := engine.Open(dir, pack, eopts)
	if err != nil {
		return ndjson.Summary{}, err
	}
	defer eng.Close()
	part, err := eng.Partition(0)
	if err != nil {
		return ndjson.Summary{}, err
	}
	defer eng.Release(part)
	return ndjson.Replay(e.ctx, in, part, w, nopts)
}
