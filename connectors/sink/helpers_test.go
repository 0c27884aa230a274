package sink_test

// The tests' real parts: a kfake broker on loopback (as in
// connectors/kafka's tests), receivers that are real HTTP servers
// (httptest), and the sink's own Kafka client.

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
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/sink"
)

const waitLong = 60 * time.Second // the tests share two cores with other work

const alertsTopic = "lifeline.alerts"

// newCluster starts a one-broker kfake cluster on loopback with the
// alerts topic of nparts partitions.
func newCluster(t *testing.T, nparts int32) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(nparts, alertsTopic),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// sinkConfig is a config for the broker at addr with one sink to url,
// whose retries are quick enough for a test.
func sinkConfig(t *testing.T, addr, url string, edit func(*config.Sink)) *config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.Brokers = []string{addr}
	cfg.Group = "lifeline"
	cfg.CreateTopics = config.CreateTopics{Enabled: true, Partitions: 1, Replication: 1}
	cfg.Engine.SessionTimeout = config.Duration(6 * time.Second)
	sc := config.SinkDefaults()
	sc.Name, sc.Type, sc.URL, sc.Secret = "cs", config.SinkWebhook, url, "s3cret"
	sc.StartAt = "beginning"
	sc.Timeout = config.Duration(2 * time.Second)
	sc.Retry = config.SinkRetry{Base: config.Duration(10 * time.Millisecond), Max: config.Duration(50 * time.Millisecond), MaxAttempts: 5}
	if edit != nil {
		edit(&sc)
	}
	cfg.Sinks = []config.Sink{sc}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// running is a sink run by a test.
type running struct {
	s      *sink.Sink
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// startSink runs cfg's first sink until the test ends (or stop).
func startSink(t *testing.T, cfg *config.Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := sink.New(cfg, cfg.Sinks[0], sink.Options{Logger: zerolog.New(io.Discard), Metrics: sink.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop cancels the sink and waits for Run to return.
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		panic(fmt.Sprintf("sink Run: %v", err))
	}
	r.s.Close()
}

// counter sums the counter series of name whose labels include match.
func (r *running) counter(t *testing.T, name string, match map[string]string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := match[lp.GetName()]; ok && v != lp.GetValue() {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func (r *running) outcome(t *testing.T, o string) float64 {
	return r.counter(t, "lifeline_sink_deliveries_total", map[string]string{"sink": "cs", "outcome": o})
}

// alert is an alert record as the engine writes it.
func alert(customer, id, rule, severity, status string, extra map[string]any) []byte {
	rec := map[string]any{
		"kind": "alert", "customer_id": customer, "at": "2026-03-18T09:00:00.000Z", "rules_version": "default-2026.12",
		"alert_id": id, "rule": rule, "severity": severity, "status": status,
		"reasons": []string{"no engagement for 14 days (limit 14) while in conversion"}, "event_id": "",
	}
	for k, v := range extra {
		rec[k] = v
	}
	b, _ := json.Marshal(rec)
	return b
}

// produceAlerts writes values to the alerts topic keyed by customer
// (each value's customer_id), and returns the end offset per partition.
func produceAlerts(t *testing.T, addr string, values ...[]byte) map[int32]int64 {
	t.Helper()
	cl := newClient(t, addr)
	ends := map[int32]int64{}
	for _, v := range values {
		var a struct {
			CustomerID string `json:"customer_id"`
		}
		_ = json.Unmarshal(v, &a)
		res := cl.ProduceSync(context.Background(), &kgo.Record{Topic: alertsTopic, Key: []byte(a.CustomerID), Value: v})
		r, err := res.First()
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
		ends[r.Partition] = r.Offset + 1
	}
	return ends
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// waitFor polls cond until it holds, failing the test after timeout with
// the last state cond described.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// committed reads the sink group's committed offsets on the alerts topic.
func committed(t *testing.T, addr, group string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := adm.FetchOffsets(ctx, group)
	out := map[int32]int64{}
	if err != nil {
		return out
	}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == alertsTopic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

// waitCommitted waits until the group committed ends.
func waitCommitted(t *testing.T, addr, group string, ends map[int32]int64) {
	t.Helper()
	waitFor(t, waitLong, "the sink's offsets to be committed", func() (bool, string) {
		got := committed(t, addr, group)
		for p, e := range ends {
			if got[p] != e {
				return false, fmt.Sprintf("committed %v, want %v", got, ends)
			}
		}
		return true, ""
	})
}

// readTopic reads every record of topic (read_committed), up to n, within
// the wait.
func readTopic(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %d records of %d within %v", topic, len(out), n, waitLong)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// delivery is one request a receiver got.
type delivery struct {
	at      time.Time
	header  http.Header
	body    []byte
	answer  int
	attempt int
}

// receiver is a real HTTP server whose answers the test scripts: answer
// returns the status (and may set headers or stall) for the n-th request
// (1-based).
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []delivery
	seen  map[string]int // Idempotency-Key: 2xx answers
	order []string       // keys in the order first answered 2xx
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request, body []byte) int) *receiver {
	t.Helper()
	rv := &receiver{seen: map[string]int{}}
	rv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rv.mu.Lock()
		n := len(rv.got) + 1
		rv.got = append(rv.got, delivery{at: time.Now(), header: r.Header.Clone(), body: body})
		rv.mu.Unlock()
		code := answer(n, w, r, body)
		rv.mu.Lock()
		rv.got[n-1].answer = code
		rv.got[n-1].attempt, _ = strconv.Atoi(r.Header.Get("X-Lifeline-Attempt"))
		if code/100 == 2 {
			k := r.Header.Get("Idempotency-Key")
			if rv.seen[k] == 0 {
				rv.order = append(rv.order, k)
			}
			rv.seen[k]++
		}
		rv.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rv.Close)
	return rv
}

func (rv *receiver) requests() []delivery {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]delivery(nil), rv.got...)
}

func (rv *receiver) delivered() (map[string]int, []string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	m := map[string]int{}
	for k, v := range rv.seen {
		m[k] = v
	}
	return m, append([]string(nil), rv.order...)
}

// verify is how a receiver checks a request, as README.md ("Delivering
// alerts") tells: HMAC-SHA256 of timestamp "." body with the shared
// secret, compared in constant time, and a timestamp not older than 5m.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	ts := h.Get("X-Lifeline-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s is %v off", ts, d)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(h.Get("X-Lifeline-Signature"))) {
		return fmt.Errorf("signature %q, want %q", h.Get("X-Lifeline-Signature"), want)
	}
	return nil
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
