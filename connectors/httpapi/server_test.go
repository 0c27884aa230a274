package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/connectors/ndjson"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// source serves one real engine partition (Pebble in a temp dir), 0, of
// an input of parts partitions; held lists the partitions it holds (true:
// restored, false: restoring). Customers named remote-* have their
// murmur2 (home) partition 1, held elsewhere; restoring-* have 2.
type source struct {
	eng   *engine.Engine
	part  *engine.Partition
	now   int64
	ready bool
	parts int32
	held  map[int32]bool
}

func (s *source) Ready() (bool, string) {
	if !s.ready {
		return false, "restoring partitions [0] from the changelog"
	}
	return true, "1 partitions ready"
}
func (s *source) Metas() map[int32]engine.Meta { return map[int32]engine.Meta{0: s.part.Meta()} }
func (s *source) Search(_ context.Context, id string) (kafka.Search, error) {
	r := kafka.Search{Partitions: s.parts}
	switch {
	case strings.HasPrefix(id, "remote-"):
		r.Home = 1
	case strings.HasPrefix(id, "restoring-"):
		r.Home = 2
	}
	for p := range s.parts {
		ready, ok := s.held[p]
		switch {
		case !ok:
		case !ready:
			r.Restoring = append(r.Restoring, p)
		default:
			r.Searched = append(r.Searched, p)
			st, found, err := s.eng.Lookup(p, id)
			if err != nil || found {
				r.Found, r.Partition, r.State = found, p, st
				return r, err
			}
		}
	}
	return r, nil
}
func (s *source) OwnerOf(_ context.Context, p int32) (kafka.Owner, bool) {
	if p == 1 {
		return kafka.Owner{Host: "10.0.0.7", ClientID: "lifeline-1"}, true
	}
	return kafka.Owner{}, false
}
func (s *source) Coverage(context.Context) (kafka.Coverage, error) {
	c := kafka.Coverage{Partitions: s.parts}
	for p := range s.parts {
		if ready, ok := s.held[p]; ok && ready {
			c.Held = append(c.Held, p)
		} else if ok {
			c.Restoring = append(c.Restoring, p)
		}
	}
	return c, nil
}
func (s *source) Scan(ctx context.Context, fn func(p int32, customer string, st *engine.State) error) (kafka.Coverage, error) {
	c, _ := s.Coverage(ctx)
	for _, p := range c.Held {
		if err := s.eng.Scan(ctx, p, func(customer string, st *engine.State) error { return fn(p, customer, st) }); err != nil {
			return c, err
		}
	}
	return c, nil
}
func (s *source) Timeline(p int32, customer string) ([]json.RawMessage, bool, error) {
	return s.eng.Timeline(p, customer)
}
func (s *source) Pack() *rules.Pack { return s.eng.Pack() }
func (s *source) Now() int64        { return s.now }

func newServer(t *testing.T) (*httptest.Server, *source) {
	t.Helper()
	eng, err := engine.Open(t.TempDir(), rules.Default(), engine.Options{TimelineRecords: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	part, err := eng.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Release(part) })
	lines := []string{
		`{"type":"track","event":"Signed Up","userId":"ann","messageId":"1","timestamp":"2026-03-01T10:00:00Z"}`,
		`{"type":"track","event":"Order Completed","userId":"ann","messageId":"2","timestamp":"2026-03-02T10:00:00Z","properties":{"revenue":120}}`,
		`{"type":"track","event":"NPS Responded","userId":"ann","messageId":"3","timestamp":"2026-03-03T10:00:00Z","properties":{"score":2}}`,
		`{"type":"track","event":"Signed In","userId":"bob","messageId":"4","timestamp":"2026-03-03T11:00:00Z"}`,
		`{"type":"track","event":"Email Opened","userId":"cy","messageId":"5","timestamp":"2026-03-03T12:00:00Z"}`,
	}
	if _, err := ndjson.Replay(context.Background(), strings.NewReader(strings.Join(lines, "\n")), part, io.Discard, ndjson.Options{}); err != nil {
		t.Fatal(err)
	}
	src := &source{eng: eng, part: part, now: time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC).UnixMilli(), ready: true,
		parts: 1, held: map[int32]bool{0: true}}
	srv := httptest.NewServer(Handler(src, prometheus.NewRegistry(), zerolog.Nop()))
	t.Cleanup(srv.Close)
	return srv, src
}

func get(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); into != nil && ct != "application/json" {
		t.Errorf("%s: Content-Type %q", url, ct)
	}
	body, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s: %v: %s", url, err, body)
		}
	}
	return resp.StatusCode
}

func TestCustomerExplainsStageHealthAndAlerts(t *testing.T) {
	srv, src := newServer(t)
	var c struct {
		ID          string  `json:"customer_id"`
		Stage       string  `json:"stage"`
		DaysInStage float64 `json:"days_in_stage"`
		Health      struct {
			Score      float64             `json:"score"`
			Band       string              `json:"band"`
			Components map[string]float64  `json:"components"`
			Weights    map[string]float64  `json:"weights"`
			Points     map[string]float64  `json:"points"`
			Inputs     map[string]*float64 `json:"inputs"`
		} `json:"health"`
		OpenAlerts []struct {
			Rule     string   `json:"rule"`
			Severity string   `json:"severity"`
			AlertID  string   `json:"alert_id"`
			Reasons  []string `json:"reasons"`
		} `json:"open_alerts"`
		Counters map[string]any `json:"counters"`
	}
	if code := get(t, srv.URL+"/v1/customers/ann", &c); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if c.ID != "ann" || c.Stage != "conversion" || c.DaysInStage != 8 {
		t.Errorf("customer %+v: want ann in conversion for 8 days", c)
	}
	// The same shape as health records: {name: score}.
	if len(c.Health.Components) != 4 || c.Health.Components["sentiment"] != 20 {
		t.Errorf("components %+v: want 4, sentiment 20 (NPS 2)", c.Health.Components)
	}
	var sum, points, weights float64
	for name, score := range c.Health.Components {
		sum += score * c.Health.Weights[name] / 100
		points += c.Health.Points[name]
		weights += c.Health.Weights[name]
	}
	if d := sum - c.Health.Score; d > 1 || d < -1 {
		t.Errorf("score %v is not the weighted components (%v)", c.Health.Score, sum)
	}
	if d := points - c.Health.Score; d > 1 || d < -1 || weights < 99.9 || weights > 100.1 {
		t.Errorf("points sum to %v, weights to %v%%: want the score %v and 100%%", points, weights, c.Health.Score)
	}
	if nps := c.Health.Inputs["nps"]; nps == nil || *nps != 2 {
		t.Errorf("inputs.nps %v: want 2, the answer", nps)
	}
	// bob never answered: null, as counters.nps, not the -1 expressions
	// read.
	var bob struct {
		Health struct {
			Inputs map[string]any `json:"inputs"`
		} `json:"health"`
		Counters map[string]any `json:"counters"`
	}
	if code := get(t, srv.URL+"/v1/customers/bob", &bob); code != http.StatusOK {
		t.Fatalf("bob: status %d", code)
	}
	if nps, ok := bob.Health.Inputs["nps"]; !ok || nps != nil || bob.Counters["nps"] != nil {
		t.Errorf("bob, no NPS answer: inputs.nps %v (present %v), counters.nps %v: want both null", nps, ok, bob.Counters["nps"])
	}
	if len(c.OpenAlerts) != 1 || c.OpenAlerts[0].Rule != "detractor" || c.OpenAlerts[0].Severity != "critical" || len(c.OpenAlerts[0].AlertID) != 16 ||
		!slices.Equal(c.OpenAlerts[0].Reasons, []string{"NPS answer 2 (detractor: 0-6)"}) {
		t.Errorf("open alerts %+v: want the detractor alert, with its reason", c.OpenAlerts)
	}
	if c.Counters["lifetime_value"] != 120.0 || c.Counters["nps"] != 2.0 {
		t.Errorf("counters %v: want lifetime_value 120, nps 2", c.Counters)
	}
	var nf NotFound
	if code := get(t, srv.URL+"/v1/customers/nobody", &nf); code != http.StatusNotFound || nf.Partitions != 1 || len(nf.Searched) != 1 {
		t.Errorf("unknown customer, every partition held here: status %d %+v, want 404 having searched partition 0", code, nf)
	}
	// From here on the input has 3 partitions: 0 here, 1 elsewhere, 2
	// here and being restored; no peers are configured.
	src.parts, src.held = 3, map[int32]bool{0: true, 2: false}
	if code := get(t, srv.URL+"/v1/customers/ann", nil); code != http.StatusOK {
		t.Errorf("ann, held here, whatever her home partition: status %d, want 200", code)
	}
	var mis struct {
		Partition int32             `json:"partition"`
		Owner     map[string]string `json:"owner"`
	}
	if code := get(t, srv.URL+"/v1/customers/remote-1", &mis); code != http.StatusMisdirectedRequest || mis.Partition != 1 || mis.Owner["host"] != "10.0.0.7" {
		t.Errorf("customer of another instance: %d %+v, want 421 naming the owner", code, mis)
	}
	resp, err := http.Get(srv.URL + "/v1/customers/restoring-1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("customer of a partition being restored here: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var inc Incomplete
	if code := get(t, srv.URL+"/v1/customers/nobody", &inc); code != http.StatusServiceUnavailable ||
		!slices.Equal(inc.Unsearched, []int32{1, 2}) || !slices.Equal(inc.Restoring, []int32{2}) || !strings.Contains(inc.Error, "[1 2]") {
		t.Errorf("unknown customer whose home partition is here, others not searched: %d %+v; want 503 naming partitions 1 and 2 unsearched, 2 restoring", code, inc)
	}
	if code := get(t, srv.URL+"/v1/customers/ann?scope=nearby", nil); code != http.StatusBadRequest {
		t.Errorf("scope=nearby: status %d, want 400", code)
	}
}

func TestFunnelKPIsAndProbes(t *testing.T) {
	srv, src := newServer(t)
	var f engine.Funnel
	get(t, srv.URL+"/v1/funnel", &f)
	stages := map[string]engine.FunnelStage{}
	for _, s := range f.Stages {
		stages[s.Stage] = s
	}
	if f.Customers != 3 || f.Unstaged != 1 || stages["reach"].Current != 1 || stages["conversion"].Current != 1 || stages["acquisition"].Entered != 1 {
		t.Errorf("funnel %+v: want 3 customers (bob unstaged, cy in reach, ann in conversion)", f)
	}
	var k engine.KPIs
	get(t, srv.URL+"/v1/kpis", &k)
	if k.Customers != 3 || k.LifetimeValue != 120 || k.NPS == nil || *k.NPS != -100 || k.AlertsOpen["detractor"] != 1 {
		t.Errorf("kpis %+v: want 3 customers, LTV 120, NPS -100, one detractor alert open", k)
	}
	if code := get(t, srv.URL+"/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz %d", code)
	}
	if code := get(t, srv.URL+"/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz %d when ready", code)
	}
	src.ready = false
	var r struct {
		Ready  bool   `json:"ready"`
		Reason string `json:"reason"`
	}
	if code := get(t, srv.URL+"/readyz", &r); code != http.StatusServiceUnavailable || r.Ready || !strings.Contains(r.Reason, "restoring") {
		t.Errorf("/readyz while restoring: %d %+v", code, r)
	}
}

// serve runs Serve on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler, opts ...Option) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, opts...) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// A keep-alive connection left idle is closed by the server after
// IdleTimeout: idle clients cannot hold connections open for ever.
func TestIdleConnectionIsClosed(t *testing.T) {
	addr := serve(t, Handler(&source{}, prometheus.NewRegistry(), zerolog.Nop()), IdleTimeout(50*time.Millisecond))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// One request on the connection, answered and kept alive...
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: lifeline\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %s, close %v, %s", resp.Status, resp.Close, body)
	}
	// ...then nothing: the server hangs up (the read deadline is only a
	// guard against a server that never does).
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d bytes, %v; want EOF (closed by the server)", n, err)
	}
}

// An answer that takes longer than WriteTimeout is cut off: a stuck
// handler or reader does not hold the connection for ever.
func TestSlowAnswerIsCutOff(t *testing.T) {
	const timeout = 20 * time.Millisecond
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * timeout) // well past the write deadline
		io.WriteString(w, "too late")
	})
	addr := serve(t, slow, WriteTimeout(timeout))
	resp, err := http.Get("http://" + addr + "/")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("answer past WriteTimeout arrived: %s %q", resp.Status, body)
	}
}
