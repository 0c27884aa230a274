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
