// Package rulefile watches a rule-pack file and hot-reloads it: on SIGHUP
// and when the file changes, the new pack is parsed and checked first; an
// invalid one is rejected with every error logged and the old pack keeps
// running; a valid one is handed to Apply (the engine switches to it
// between batches).
package rulefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/rules"
)

// Watcher reloads one rule-pack file.
type Watcher struct {
	Path string
	// Interval between checks of the file (default 2s).
	Interval time.Duration
	// Timeout bounds the parse and check of one reload (default
	// rules.DefaultTimeout): a pack that takes longer is rejected, and the
	// watcher goes on watching.
	Timeout time.Duration
	// Apply installs a valid new pack.
	Apply   func(*rules.Pack)
	Log     zerolog.Logger
	Metrics *metrics.Metrics
	// Current is the text of the pack in force (to ignore touches that
	// change nothing).
	Current []byte

	// parse is rules.ParseContext; tests put a slow one in its place.
	parse func(ctx context.Context, file string, data []byte) (*rules.Pack, []rules.Diagnostic, error)
}

// Run watches until ctx ends. hup delivers SIGHUP (may be nil). It returns
// as soon as ctx ends, even in the middle of a reload (see Reload), so
// that a pack can never hold up shutdown.
func (w *Watcher) Run(ctx context.Context, hup <-chan os.Signal) {
	interval := w.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	// The first tick reads the file whatever its time: it may have changed
	// between the caller's read (Current) and now.
	var lastMod time.Time
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-hup:
			forced = true
		case <-t.C:
		}
		fi, err := os.Stat(w.Path)
		if err != nil {
			if forced {
				w.Log.Error().Err(err).Str("file", w.Path).Msg("rule pack reload rejected: cannot read the file; the current pack keeps running")
				w.Metrics.RulesReloads.WithLabelValues("rejected").Inc()
			}
			continue
		}
		if !forced && fi.ModTime().Equal(lastMod) {
			continue
		}
		lastMod = fi.ModTime()
		w.Reload(ctx, forced)
	}
}

// parsed is what one parse of a pack gives.
type parsed struct {
	pack  *rules.Pack
	diags []rules.Diagnostic
	err   error
}

// Reload reads, checks and applies the file now. It reports whether a new
// pack took effect.
//
// The parse runs in a goroutine of its own, under a context that ends with
// ctx or after Timeout. Reload waits for it, or for that context to end:
// when ctx ends (shutdown) it returns false at once, and when the time is
// up it rejects the pack at once. The parse stops by itself soon after
// (rules.ParseContext stops at its next rule or YAML node when its context
// ends); its result, sent to a buffered channel, is dropped.
func (w *Watcher) Reload(ctx context.Context, forced bool) bool {
	data, err := readAtMost(w.Path, rules.MaxPackSize)
	if err != nil {
		w.Log.Error().Err(err).Str("file", w.Path).Msg("rule pack reload rejected: cannot read the file; the current pack keeps running")
		w.Metrics.RulesReloads.WithLabelValues("rejected").Inc()
		return false
	}
	if bytes.Equal(data, w.Current) {
		if forced {
			w.Log.Info().Str("file", w.Path).Msg("rule pack unchanged")
		}
		return false
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = rules.DefaultTimeout
	}
	parse := w.parse
	if parse == nil {
		parse = rules.ParseContext
	}
	pctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("checking took longer than %s, the limit", timeout))
	defer cancel()
	done := make(chan parsed, 1)
	go func() {
		var r parsed
		r.pack, r.diags, r.err = parse(pctx, w.Path, data)
		done <- r
	}()
	var r parsed
	select {
	case r = <-done:
	case <-pctx.Done():
		if ctx.Err() != nil {
			return false // shutting down: nothing to apply or report
		}
		r.err = context.Cause(pctx)
	}
	for _, d := range r.diags {
		if d.Warning {
			w.Log.Warn().Str("diagnostic", d.String()).Msg("rule pack warning")
		}
	}
	if r.err != nil {
		var inv *rules.InvalidError
		if errors.As(r.err, &inv) {
			for _, d := range inv.Diags {
				w.Log.Error().Str("diagnostic", d.String()).Msg("rule pack error")
			}
		} else {
			w.Log.Error().Err(r.err).Str("file", w.Path).Msg("rule pack error")
		}
		w.Log.Error().Str("file", w.Path).Msg("rule pack reload rejected; the current pack keeps running")
		w.Metrics.RulesReloads.WithLabelValues("rejected").Inc()
		// Remember it so an unchanged bad file is not re-reported.
		w.Current = data
		return false
	}
	w.Current = data
	w.Apply(r.pack)
	w.Metrics.RulesReloads.WithLabelValues("applied").Inc()
	w.Metrics.SetPack(r.pack)
	w.Log.Info().Str("file", w.Path).Str("rules_version", r.pack.Version).Msg("rule pack reloaded; it takes effect from the next batch")
	return true
}

// readAtMost reads the file at path, or fails without reading more than
// limit bytes of it: a pack past rules.MaxPackSize is refused before it
// fills the memory.
func readAtMost(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the file is larger than %d MiB (%d bytes), the limit for a rule pack", limit>>20, limit)
	}
	return data, nil
}
