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
	return bytes.Replace(rules.DefaultYAML(), []byte("version: default-2026.12"), []byte("version: "+v), 1)
}

func TestReloadAppliesValidAndRejectsInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pack.yaml")
	if err := os.WriteFile(path, withVersion("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w, a, m := newWatcher(t, path, &logs)

	// An unchanged file is not re-applied.
	if w.Reload(context.Background(), true) {
		t.Fatal("reload of an unchanged file applied a pack")
	}

	// A valid change takes effect.
	if err := os.WriteFile(path, withVersion("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !w.Reload(context.Background(), false) {
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
	if w.Reload(context.Background(), false) {
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

// runWatcher runs w until the test ends; stop cancels it and reports
// whether Run returned (it waits at most 5 s, far more than it needs).
func runWatcher(t *testing.T, w *Watcher, hup chan os.Signal) (stop func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, hup)
	}()
	stop = func() bool {
		cancel()
		select {
		case <-done:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not after 5 s", what)
}

// A YAML merge-key bomb is rejected (with the error that names the
// limit), and a good pack written after it is applied: the watcher is not
// wedged by it.
func TestBombThenGoodPack(t *testing.T) {
	bomb, err := os.ReadFile(filepath.Join("..", "..", "rules", "testdata", "check", "yaml-alias-bomb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pack.yaml")
	if err := os.WriteFile(path, withVersion("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	w, a, m := newWatcher(t, path, &logs.buf)
	w.Log = zerolog.New(&logs)
	hup := make(chan os.Signal, 1)
	runWatcher(t, w, hup)

	if err := os.WriteFile(path, bomb, 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt
	waitFor(t, "bomb rejected", func() bool { return testutil.ToFloat64(m.RulesReloads.WithLabelValues("rejected")) == 1 })
	if !strings.Contains(logs.String(), "YAML aliases") || !strings.Contains(logs.String(), "100000 YAML nodes") {
		t.Fatalf("rejection does not say why; logs: %s", logs.String())
	}

	if err := os.WriteFile(path, withVersion("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt
	waitFor(t, "good pack after the bomb applied", func() bool {
		v := a.versions()
		return len(v) == 1 && v[0] == "v2"
	})
}

// Shutdown does not wait for a reload: with a parse that never ends by
// itself (it ignores its context), Run returns when its context is
// cancelled mid-reload.
func TestShutdownDuringReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pack.yaml")
	if err := os.WriteFile(path, withVersion("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w, a, _ := newWatcher(t, path, &logs)
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	w.parse = func(ctx context.Context, file string, data []byte) (*rules.Pack, []rules.Diagnostic, error) {
		close(started)
		<-release
		return rules.ParseContext(ctx, file, data)
	}
	hup := make(chan os.Signal, 1)
	stop := runWatcher(t, w, hup)
	if err := os.WriteFile(path, withVersion("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt
	<-started
	if !stop() {
		t.Fatal("Run did not return while a reload was in progress")
	}
	if v := a.versions(); len(v) != 0 {
		t.Fatalf("applied %v during shutdown", v)
	}
}

// A reload that takes longer than Timeout is rejected with the reason,
// and the watcher goes on: a later pack is applied.
func TestSlowReloadTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pack.yaml")
	if err := os.WriteFile(path, withVersion("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w, a, m := newWatcher(t, path, &logs)
	w.Timeout = 50 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	slow := []byte("# slow\n")
	w.parse = func(ctx context.Context, file string, data []byte) (*rules.Pack, []rules.Diagnostic, error) {
		if bytes.HasPrefix(data, slow) {
			<-release // ignores ctx: as slow as a parse can be
		}
		return rules.ParseContext(ctx, file, data)
	}
	if err := os.WriteFile(path, append(slow, withVersion("v2")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if w.Reload(context.Background(), true) {
		t.Fatal("a reload past its timeout applied a pack")
	}
	if n := testutil.ToFloat64(m.RulesReloads.WithLabelValues("rejected")); n != 1 {
		t.Fatalf("rejected reloads = %v, want 1", n)
	}
	if !strings.Contains(logs.String(), "checking took longer than 50ms, the limit") {
		t.Fatalf("rejection does not say why; logs: %s", logs.String())
	}
	if err := os.WriteFile(path, withVersion("v3"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !w.Reload(context.Background(), true) {
		t.Fatalf("pack after a timed-out one not applied; logs: %s", logs.String())
	}
	if v := a.versions(); len(v) != 1 || v[0] != "v3" {
		t.Fatalf("applied %v, want [v3]", v)
	}
}

// syncBuffer is a bytes.Buffer the watcher's goroutine writes while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A file over rules.MaxPackSize is rejected without being read whole,
// with the limit in the log.
func TestPackOverTheSizeLimitIsRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pack.yaml")
	if err := os.WriteFile(path, withVersion("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w, a, m := newWatcher(t, path, &logs)
	big := append(withVersion("v2"), bytes.Repeat([]byte("# padding\n"), rules.MaxPackSize/10)...)
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if w.Reload(context.Background(), true) || len(a.versions()) != 0 {
		t.Fatal("a pack over the size limit was applied")
	}
	if n := testutil.ToFloat64(m.RulesReloads.WithLabelValues("rejected")); n != 1 {
		t.Fatalf("rejected reloads = %v, want 1", n)
	}
	if !strings.Contains(logs.String(), "larger than 4 MiB (4194304 bytes), the limit for a rule pack") {
		t.Fatalf("rejection does not name the limit; logs: %s", logs.String())
	}
}
