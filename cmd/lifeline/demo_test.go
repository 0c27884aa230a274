package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lineBuffer collects a command's output and tells when a line matching a
// pattern has appeared.
type lineBuffer struct {
	mu    sync.Mutex
	b     strings.Builder
	added chan struct{}
}

func newLineBuffer() *lineBuffer { return &lineBuffer{added: make(chan struct{}, 1)} }

func (l *lineBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	select {
	case l.added <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *lineBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// await returns the first submatch of re in the output, waiting for it.
func (l *lineBuffer) await(t *testing.T, re *regexp.Regexp, timeout time.Duration, done <-chan int) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := re.FindStringSubmatch(l.String()); m != nil {
			return m[1]
		}
		select {
		case <-l.added:
		case code := <-done:
			t.Fatalf("exited with %d before printing %s:\n%s", code, re, l.String())
		case <-deadline:
			t.Fatalf("no %s after %v:\n%s", re, timeout, l.String())
		}
	}
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

// TestDemo runs README's first command, `lifeline demo`, in process: it
// must come up on its own, print where its broker and HTTP are and the
// kcat line, serve its endpoints with real numbers (the Kafka client's
// metrics among them), put alerts on the alert topic, print its summary,
// and stop cleanly when asked (Ctrl-C).
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and runs for several seconds")
	}
	out := newLineBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--customers", "300", "--days", "60", "--seed", "7", "--speed", "20",
			"--partitions", "2", "--port=-1", "--http", "127.0.0.1:0", "--every", "500ms"}, strings.NewReader(""), out, io.Discard)
	}()
	broker := out.await(t, regexp.MustCompile(`broker +(\S+) \(embedded`), time.Minute, done)
	base := "http://" + out.await(t, regexp.MustCompile(`HTTP +http://([^/]+)/`), time.Minute, done)

	// Wait until journeys have flowed: the funnel counts customers.
	deadline := time.Now().Add(60 * time.Second)
	var funnel struct {
		Customers int64 `json:"customers"`
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
		Health struct {
			Band string `json:"band"`
		} `json:"health"`
	}
	// cus_000001 arrives when the simulated clock reaches its first event.
	for {
		code := getJSON(t, base+"/v1/customers/cus_000001", &cust)
		if code == http.StatusOK && cust.ID == "cus_000001" && cust.Health.Band != "" {
			break
		}
		if code != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("/v1/customers/cus_000001 = %d %+v", code, cust)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"lifeline_events_processed_total", "lifeline_kafka_fetch_bytes_total", "lifeline_pebble_disk_usage_bytes"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s: the demo's dashboard panels would be empty", want)
		}
	}
	// What `promtool check metrics` says of it (promlint is its library).
	problems, err := promlint.New(bytes.NewReader(metrics)).Lint()
	if err != nil {
		t.Fatalf("promlint cannot read /metrics: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
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

	out.await(t, regexp.MustCompile(`(?m)^ +(funnel) `), 30*time.Second, done)
	s := out.String()
	for _, want := range []string{"kcat -b " + broker + " -C -t lifeline.alerts", "alerts"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}

	// Ctrl-C: the demo stops within seconds.
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo stopped with exit code %d:\n%s", code, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop within 20s of cancellation")
	}
	if sc := bufio.NewScanner(strings.NewReader(out.String())); sc.Scan() && sc.Text() != "Lifeline demo" {
		t.Errorf("the demo's first line is %q", sc.Text())
	}
}

// TestRunHTTPTaken: an HTTP address already in use stops `run` at once,
// naming it, before anything joins the consumer group.
func TestRunHTTPTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	var stderr strings.Builder
	code := run(context.Background(), []string{"run", "--http", addr, "--state-dir", t.TempDir(), "--brokers", "127.0.0.1:1"},
		strings.NewReader(""), io.Discard, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "http "+addr) || !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("run on a taken address: exit %d, stderr %q", code, stderr.String())
	}
}
