package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/ndjson"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

type replayCmd struct {
	In              string          `help:"Events, one JSON object per line (Segment or CloudEvents); - for stdin." required:"" placeholder:"FILE|-"`
	Rules           string          `help:"Rule pack YAML (default: the embedded default pack)." placeholder:"FILE" type:"existingfile"`
	StateDir        string          `help:"State directory: kept after the run, and a later run on it resumes after the lines it already applied (default: a temporary one)." placeholder:"DIR"`
	Until           string          `help:"After the last line, raise the watermark to this time (RFC 3339), firing the timers due by then." placeholder:"TIME"`
	AllowedLateness config.Duration `help:"The watermark trails the newest event time by this much (engine.allowed_lateness; 0 for none)." default:"10m" placeholder:"DURATION"`
	MaxEventAhead   config.Duration `help:"An event dated more than this ahead of the newest event applied before it (history has no wall clock to trust), unless the next two dated lines confirm its time (a quiet spell, not an outlier), or of --now when given, is not applied: it is a bad line with reason event_time_ahead. Without --now the first line cannot be judged. Exactly this far ahead is applied; 0 for no bound (engine.max_event_ahead)." default:"1d" placeholder:"DURATION"`
	Now             string          `help:"Judge --max-event-ahead against this time (RFC 3339), as run judges it against its clock, instead of against the input's own progress. Also the time of a line without any time of its own (no timestamp, originalTimestamp, sentAt or receivedAt) when no line before it had one; later such lines take the time of the newest event applied before them, as run dates them." placeholder:"TIME"`
	Config          string          `help:"Read customer_field and the input: section (customer paths per source, max_bytes, max_values) from this lifeline.yaml, so that replay decodes as run does (LIFELINE_* variables apply with it)." placeholder:"FILE" type:"existingfile"`
	DedupeIDs       int             `name:"dedupe-ids" help:"Event ids remembered per customer (engine.dedupe_ids): a line whose messageId (CloudEvents: source and id) is among the customer's last N is a duplicate and not applied; with N-1 of the customer's other lines in between it still is, with N or more it is applied again." default:"8" placeholder:"N"`
	Batch           int             `help:"Lines per batch: outputs written, then state committed." default:"1000"`

	// The names of earlier versions, still read (with a warning).
	State    string `hidden:"" placeholder:"DIR"`
	Lateness string `hidden:"" placeholder:"DURATION"`
}

func (c *replayCmd) Run(e *env) error {
	if c.State != "" {
		fmt.Fprintln(e.stderr, "lifeline: --state is now --state-dir; the old name will go")
		if c.StateDir == "" {
			c.StateDir = c.State
		}
	}
	if c.Lateness != "" {
		fmt.Fprintln(e.stderr, "lifeline: --lateness is now --allowed-lateness; the old name will go")
		if err := c.AllowedLateness.UnmarshalText([]byte(c.Lateness)); err != nil {
			return fmt.Errorf("--lateness: %w", err)
		}
	}
	pack, err := loadPack(e, c.Rules)
	if err != nil {
		return err
	}
	var until int64
	if c.Until != "" {
		t, err := time.Parse(time.RFC3339Nano, c.Until)
		if err != nil {
			return fmt.Errorf("--until %q: expected an RFC 3339 time such as 2026-04-01T00:00:00Z", c.Until)
		}
		until = t.UnixMilli()
	}
	var now int64
	if c.Now != "" {
		t, err := time.Parse(time.RFC3339Nano, c.Now)
		if err != nil {
			return fmt.Errorf("--now %q: expected an RFC 3339 time such as 2026-04-01T00:00:00Z", c.Now)
		}
		now = t.UnixMilli()
	}
	if c.MaxEventAhead < 0 {
		return fmt.Errorf("--max-event-ahead %s: must not be negative (0: no bound)", c.MaxEventAhead)
	}
	if c.DedupeIDs < 1 || c.DedupeIDs > engine.MaxDedupeIDs {
		return fmt.Errorf("--dedupe-ids %d: expected 1 to %d event ids per customer", c.DedupeIDs, engine.MaxDedupeIDs)
	}
	if c.Batch <= 0 {
		return fmt.Errorf("--batch %d: expected a positive number of lines", c.Batch)
	}
	// Decoding as run does: the config's input keys, or their defaults.
	cfg := config.Defaults()
	if c.Config != "" {
		if cfg, err = config.Read(c.Config, os.Environ()); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--config %s: %w", c.Config, err)
		}
	}
	var in io.Reader = e.stdin
	if c.In != "-" {
		f, err := os.Open(c.In)
		if err != nil {
			return fmt.Errorf("--in: %w", err)
		}
		defer f.Close()
		in = f
	}
	if c.AllowedLateness < 0 {
		return fmt.Errorf("--allowed-lateness %s: must not be negative", c.AllowedLateness)
	}
	dir := c.StateDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lifeline-replay-")
		if err != nil {
			return fmt.Errorf("create temporary state directory: %w (pass --state-dir DIR)", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	eng, err := engine.Open(dir, pack, engine.Options{
		AllowedLateness: engine.Lateness(c.AllowedLateness.Std()),
		MaxEventAhead:   c.MaxEventAhead.Std(),
		DedupeIDs:       c.DedupeIDs,
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	part, err := eng.Partition(0)
	if err != nil {
		return err
	}
	defer eng.Release(part)
	// Straight to stdout: Replay writes each batch's records before it
	// commits the batch, and a buffer here would hold records a crash
	// loses while the state says they were applied.
	sum, err := ndjson.Replay(e.ctx, in, part, e.stdout, ndjson.Options{BatchSize: c.Batch, Until: until, Now: now, Decode: cfg.DecodeOptions()})
	sum.Format(e.stderr)
	if sum.BadReasons[ndjson.ReasonEventAhead] > 0 && now == 0 {
		fmt.Fprintf(e.stderr, "event_time_ahead: dated more than --max-event-ahead %s past the newest event before it; for an input with longer gaps than that, raise --max-event-ahead (0: no bound) or pass --now\n", c.MaxEventAhead)
	}
	return err
}

// loadPack reads a rule pack file, or returns the embedded default. An
// invalid pack prints every diagnostic (file:line:col) and fails.
func loadPack(e *env, path string) (*rules.Pack, error) {
	if path == "" {
		return rules.Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--rules: %w", err)
	}
	// The same bounds as `rules check` and the hot reload: a pack that
	// takes longer than this to read is refused, not waited for.
	ctx, cancel := context.WithTimeout(e.ctx, rules.DefaultTimeout)
	defer cancel()
	pack, diags, err := rules.ParseContext(ctx, path, data)
	for _, d := range diags {
		fmt.Fprintln(e.stderr, d.String())
	}
	if err != nil {
		var inv *rules.InvalidError
		if errors.As(err, &inv) {
			return nil, fmt.Errorf("rule pack %s is invalid (%d errors above)", path, len(inv.Diags))
		}
		return nil, fmt.Errorf("rule pack %s: %w", path, err)
	}
	return pack, nil
}
