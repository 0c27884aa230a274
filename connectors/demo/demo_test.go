package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/rules"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, body)
		}
	}
	return resp.StatusCode
}

// The demo is README's first command: it must come up on its own, serve
// its endpoints with real numbers, print its summary and the kcat line,
// put alerts on the alert topic, and stop cleanly when asked.
func TestDemoRunsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and runs for several seconds")
	}
	var out syncBuffer
	ready := make(chan [2]string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Customers: 300, Days: 60, Seed: 7, Speed: 20, Partitions: 2,
			Port: -1, HTTP: "127.0.0.1:0", Pack: rules.Default(), Every: 500 * time.Millisecond,
			Out: &out, Logger: zerolog.Nop(), Version: "test",
			OnReady: func(broker, http string) { ready <- [2]string{broker, http} },
		})
	}()
	var addrs [2]string
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("demo exited before it was up: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("demo not up after 60s:\n%s", out.String())
	}
	broker, base := addrs[0], "http://"+addrs[1]

	// Wait until journeys have flowed: the funnel counts customers.
	deadline := time.Now().Add(60 * time.Second)
	var funnel struct {
		Customers int64 `json:"customers"`
		Stages    []struct {
			Stage   string `json:"stage"`
			Current int64  `json:"current"`
		} `json:"stages"`
	}
	for {
		if code := getJSON(t, base+"/v1/funnel", &funnel); code == http.StatusOK && funnel.Customers >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("funnel never filled: %+v\n%s", funnel, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := getJSON(t, base+"/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz = %d while processing", code)
	}
	var kpis struct {
		Events int64 `json:"events"`
	}
	if getJSON(t, base+"/v1/kpis", &kpis); kpis.Events == 0 {
		t.Error("/v1/kpis counts no events")
	}
	var cust struct {
		ID     string `json:"customer_id"`
		Stage  string `json:"stage"`
		Health struct {
			Band string `json:"band"`
		} `json:"health"`
	}
	if code := getJSON(t, base+"/v1/customers/cus_000001", &cust); code != http.StatusOK || cust.ID != "cus_000001" || cust.Health.Band == "" {
		t.Errorf("/v1/customers/cus_000001 = %d %+v", code, cust)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "lifeline_events_processed_total") {
		t.Error("/metrics lacks lifeline_events_processed_total")
	}

	// An independent consumer sees alert records on the alert topic.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("lifeline.alerts"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var alert map[string]any
	for alert == nil && time.Now().Before(deadline.Add(30*time.Second)) {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		f := cl.PollFetches(pctx)
		pcancel()
		f.EachRecord(func(r *kgo.Record) {
			if alert == nil {
				_ = json.Unmarshal(r.Value, &alert)
			}
		})
	}
	if alert == nil || alert["kind"] != "alert" || alert["rule"] == "" {
		t.Errorf("no alert record on lifeline.alerts (got %v)", alert)
	}

	s := out.String()
	for _, want := range []string{"kcat -b " + broker + " -C -t lifeline.alerts", "funnel", "alerts"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}

	// Ctrl-C: the demo stops within seconds.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo stopped with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop within 20s of cancellation")
	}
}
