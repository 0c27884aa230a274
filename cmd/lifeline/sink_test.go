package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSinkKillNine: `lifeline sink` delivering to a real HTTP receiver is
// SIGKILLed twice mid-stream and started again each time: every alert is
// delivered (2xx) at least once, so a receiver deduplicating by
// Idempotency-Key sees each exactly once, with a valid signature; and the
// group's offsets end at the topic's end.
func TestSinkKillNine(t *testing.T) {
	bin := lifelineBinary(t)
	const nparts, n = 3, 300
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(nparts, "lifeline.alerts"), kfake.GroupMinSessionTimeout(500*time.Millisecond),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]

	var (
		mu       sync.Mutex
		seen     = map[string]int{}
		requests int
		badSig   []string
	)
	rv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte("kill-nine-secret"))
		mac.Write([]byte(r.Header.Get("X-Lifeline-Timestamp") + "."))
		mac.Write(body)
		ok := hmac.Equal([]byte("v1="+hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get("X-Lifeline-Signature")))
		time.Sleep(4 * time.Millisecond) // a receiver that takes its time: kills land mid-stream
		mu.Lock()
		defer mu.Unlock()
		requests++
		if !ok {
			badSig = append(badSig, r.Header.Get("Idempotency-Key"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		seen[r.Header.Get("Idempotency-Key")]++
		w.WriteHeader(http.StatusOK)
	}))
	defer rv.Close()
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sink.yaml")
	cfgYAML := fmt.Sprintf(`brokers: [%s]
http: 127.0.0.1:0
create_topics: {enabled: true, partitions: 1, replication: 1}
engine: {session_timeout: 2s}
log: {level: info, format: json}
sinks:
  - name: kill9
    type: webhook
    url: %s/hook
    secret_env: KILL_NINE_SECRET
    start_at: beginning
    retry: {base: 10ms, max: 100ms}
`, addr, rv.URL)
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}

	cl := newTestClient(t, addr)
	ends := map[int32]int64{}
	for i := range n {
		v, _ := json.Marshal(map[string]any{"kind": "alert", "customer_id": fmt.Sprintf("c%d", i%30), "at": "2026-03-18T09:00:00Z",
			"alert_id": fmt.Sprintf("id-%d", i), "rule": "detractor", "severity": "critical", "status": "firing", "reasons": []string{"nps 3"}})
		r, err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "lifeline.alerts", Key: fmt.Appendf(nil, "c%d", i%30), Value: v}).First()
		if err != nil {
			t.Fatal(err)
		}
		ends[r.Partition] = r.Offset + 1
	}

	logf, err := os.Create(filepath.Join(dir, "sink.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	start := func() (*exec.Cmd, chan struct{}) {
		cmd := exec.Command(bin, "sink", "--config", cfgPath)
		var environ []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "LIFELINE_") {
				environ = append(environ, kv)
			}
		}
		cmd.Env = append(environ, "KILL_NINE_SECRET=kill-nine-secret")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		return cmd, done
	}
	logs := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }
	var running chan struct{}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			select {
			case <-running:
				t.Fatalf("lifeline sink exited while waiting for %s\nlogs:\n%s", what, logs())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; %d of %d delivered\nlogs:\n%s", what, delivered(), n, logs())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	for _, at := range []int{n / 4, n / 2} {
		cmd, done := start()
		running = done
		waitUntil(fmt.Sprintf("%d deliveries", at), func() bool { return delivered() >= at })
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		t.Logf("killed with %d of %d alerts delivered", delivered(), n)
	}
	cmd, done := start()
	running = done
	adm := newAdmin(t, addr)
	waitUntil("every offset committed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := adm.FetchOffsets(ctx, "lifeline-sink-kill9")
		if err != nil {
			return false
		}
		for p, e := range ends {
			o, ok := resp.Lookup("lifeline.alerts", p)
			if !ok || o.At != e {
				return false
			}
		}
		return true
	})
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Errorf("lifeline sink did not exit within 30s of SIGTERM")
	}
	if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
		t.Errorf("lifeline sink exited %v after SIGTERM\n%s", cmd.ProcessState, logs())
	}

	mu.Lock()
	defer mu.Unlock()
	if len(badSig) > 0 {
		t.Errorf("%d requests with a bad signature, e.g. %s", len(badSig), badSig[0])
	}
	dups := 0
	for i := range n {
		c := seen[fmt.Sprintf("id-%d:firing", i)]
		if c == 0 {
			t.Errorf("alert id-%d never delivered", i)
		}
		dups += max(c-1, 0)
	}
	t.Logf("%d alerts, %d requests, %d redelivered after the kills (deduplicated by Idempotency-Key)", n, requests, dups)
}

// TestRunDeliversAlerts: `lifeline run` with a sinks: list runs the sink
// beside the engine: an NPS of 3 on the input topic reaches a webhook
// receiver as a signed detractor alert, the sink's metrics are on run's
// /metrics, and SIGTERM stops both cleanly.
func TestRunDeliversAlerts(t *testing.T) {
	bin := lifelineBinary(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]
	got := make(chan []byte, 10)
	rv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte("run-secret"))
		mac.Write([]byte(r.Header.Get("X-Lifeline-Timestamp") + "."))
		mac.Write(body)
		if !hmac.Equal([]byte("v1="+hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get("X-Lifeline-Signature"))) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got <- body
	}))
	defer rv.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, `brokers: [%s]
client_id: run-1
state_dir: %s
http: 127.0.0.1:0
create_topics: {enabled: true, partitions: 2, replication: 1}
engine: {session_timeout: 2s, idle_timeout: 24h, max_event_ahead: 0}
log: {level: info, format: json}
sinks:
  - {name: cs, type: webhook, url: '%s', secret: run-secret, start_at: beginning, filter: {rules: [detractor]}}
`, addr, filepath.Join(dir, "state"), rv.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	}()
	logs := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }

	cl := newTestClient(t, addr)
	ev := `{"type":"track","event":"NPS Responded","userId":"cus-7","messageId":"m-1","timestamp":"2026-03-01T10:00:00Z","properties":{"score":3}}`
	deadline := time.After(90 * time.Second)
	for {
		// The input topic appears once run created it.
		if _, err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "customer-events", Key: []byte("cus-7"), Value: []byte(ev)}).First(); err == nil {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("could not produce to customer-events\n%s", logs())
		case <-done:
			t.Fatalf("lifeline run exited\n%s", logs())
		case <-time.After(200 * time.Millisecond):
		}
	}
	select {
	case body := <-got:
		var a map[string]any
		if err := json.Unmarshal(body, &a); err != nil || a["rule"] != "detractor" || a["customer_id"] != "cus-7" || a["status"] != "firing" {
			t.Errorf("delivered %s, want cus-7's detractor firing", body)
		}
	case <-deadline:
		t.Fatalf("no alert delivered within 90s\n%s", logs())
	case <-done:
		t.Fatalf("lifeline run exited\n%s", logs())
	}
	// The counter moves once the receiver's answer is read: poll for it.
	httpAddr := logField(t, logs(), "lifeline starting", "http")
	var metrics string
	for end := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		if strings.Contains(metrics, `lifeline_sink_deliveries_total{outcome="delivered",sink="cs"} 1`) {
			break
		}
		if time.Now().After(end) {
			t.Errorf("run's /metrics (%s) lacks the sink's delivery:\n%s", httpAddr, grepLines(metrics, "lifeline_sink_"))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("lifeline run did not stop within 60s of SIGTERM\n%s", logs())
	}
	if !cmd.ProcessState.Success() {
		t.Errorf("lifeline run exited %v\n%s", cmd.ProcessState, logs())
	}
	if l := logs(); strings.Contains(l, `"level":"warn","sink"`) || strings.Contains(l, `"level":"error"`) {
		t.Errorf("warnings or errors in the logs:\n%s", l)
	}
}

// logField is the field key of the first JSON log line whose message is
// msg.
func logField(t *testing.T, logs, msg, key string) string {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == msg {
			if v, ok := m[key].(string); ok {
				return v
			}
		}
	}
	t.Fatalf("no log line %q with %s in:\n%s", msg, key, logs)
	return ""
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
