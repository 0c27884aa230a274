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
	// Apply installs a valid new pack.
	Apply   func(*rules.Pack)
	Log     zerolog.Logger
	Metrics *metrics.Metrics
	// Current is the text of the pack in force (to ignore touches that
	// change nothing).
	Current []byte
}

// Run watches until ctx ends. hup delivers SIGHUP (may be nil).
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
		w.Reload(forced)
	}
}

// Reload reads, checks and applies the file now. It reports whether a new
// pack took effect.
func (w *Watcher) Reload(forced bool) bool {
	data, err := os.ReadFile(w.Path)
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
	pack, diags, err := rules.Parse(w.Path, data)
	for _, d := range diags {
		if d.Warning {
			w.Log.Warn().Str("diagnostic", d.String()).Msg("rule pack warning")
		}
	}
	if err != nil {
		var inv *rules.InvalidError
		if errors.As(err, &inv) {
			for _, d := range inv.Diags {
				w.Log.Error().Str("diagnostic", d.String()).Msg("rule pack error")
			}
		}
		w.Log.Error().Str("file", w.Path).Msg("rule pack reload rejected; the current pack keeps running")
		w.Metrics.RulesReloads.WithLabelValues("rejected").Inc()
		// Remember it so an unchanged bad file is not re-reported.
		w.Current = data
		return false
	}
	w.Current = data
	w.Apply(pack)
	w.Metrics.RulesReloads.WithLabelValues("applied").Inc()
	w.Metrics.SetPack(pack)
	w.Log.Info().Str("file", w.Path).Str("rules_version", pack.Version).Msg("rule pack reloaded; it takes effect from the next batch")
	return true
}
