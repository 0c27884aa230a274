package rulefile

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/rules"
)

type applied struct {
	mu    sync.Mutex
	packs []*rules.Pack
}

func (a *applied) set(p *rules.Pack) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.packs = append(a.packs, p)
}

func (a *applied) versions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var v []string
	for _, p := range a.packs {
		v = append(v, p.Version)
	}
	return v
}

func newWatcher(t *testing.T, path string, logs *bytes.Buffer) (*Watcher, *applied, *metrics.Metrics) {
	t.Helper()
	a := &applied{}
	m := metrics.New(prometheus.NewRegistry(), "test")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &Watcher{Path: path, Interval: 20 * time.Millisecond, Apply: a.set, Log: zerolog.New(logs), Metrics: m, Current: data}, a, m
}

func withVersion(v string) []byte {
	return bytes.Replace(rules.DefaultYAML(), []byte("version: default-2026.11"), []byte("version: "+v), 1)
}

func TestReloadAppliesValidAndRejectsInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pack.yaml")
	if err := os.WriteFile(path, withVersion("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w, a, m := newWatcher(t, path, &logs)

	// An unchanged file is not re-applied.
	if w.Reload(true) {
		t.Fatal("reload of an unchanged file applied a pack")
	}

	// A valid change takes effect.
	if err := os.WriteFile(path, withVersion("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !w.Reload(false) {
		t.Fatalf("valid pack not applied; logs: %s", logs.String())
	}
	if got := a.versions(); len(got) != 1 || got[0] != "v2" {
		t.Fatalf("applied %v, want [v2]", got)
	}

	// An invalid one is rejected with its errors logged (file:line), and
	// nothing is applied: the old pack keeps running.
	bad := bytes.Replace(withVersion("v3"), []byte("when: open_tickets >= 3"), []byte("when: open_tickets >= \"three\""), 1)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if w.Reload(false) {
		t.Fatal("invalid pack applied")
	}
	if got := a.versions(); len(got) != 1 {
		t.Fatalf("applied %v after an invalid pack, want only [v2]", got)
	}
	if !strings.Contains(logs.String(), path+":") || !strings.Contains(logs.String(), "reload rejected") {
		t.Fatalf("rejection not logged with file:line; logs: %s", logs.String())
	}
	if n := testutil.ToFloat64(m.RulesReloads.WithLabelValues("rejected")); n != 1 {
		t.Fatalf("rejected reloads = %v, want 1", n)
	}
	if n := testutil.ToFloat64(m.RulesReloads.WithLabelValues("applied")); n != 1 {
		t.Fatalf("applied reloads = %v, want 1", n)
	}
}

func TestWatchPicksUpFileChangesAndSIGHUP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pack.yaml")
	if err := os.WriteFile(path, withVersion("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w, a, _ := newWatcher(t, path, &logs)
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, hup)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if v := a.versions(); len(v) > 0 && v[len(v)-1] == want {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("pack %s never applied; applied %v", want, a.versions())
	}
	// A change on disk (with a new modification time) is picked up.
	if err := os.WriteFile(path, withVersion("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	waitFor("v2")
	// SIGHUP forces a read even when the modification time did not move.
	fi, _ := os.Stat(path)
	if err := os.WriteFile(path, withVersion("v3"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt
	waitFor("v3")
}
