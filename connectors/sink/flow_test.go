package sink_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/sink"
)

// TestDigest: with digest: 1s, alerts go out as one message per owner
// (one for those without), each listing its alerts as produced; filtered
// alerts are left out; and the offsets are committed only once the digest
// holding their records was answered 2xx.
func TestDigest(t *testing.T) {
	addr := newCluster(t, 2)
	release := make(chan struct{})
	var once sync.Once
	rv := newReceiver(t, func(n int, _ http.ResponseWriter, _ *http.Request, _ []byte) int {
		if n == 1 {
			<-release
		}
		return http.StatusOK
	})
	cfg := sinkConfig(t, addr, rv.URL, func(s *config.Sink) {
		s.Digest = config.Duration(time.Second)
		s.Timeout = config.Duration(30 * time.Second)
		s.Filter.MinSeverity = "warning"
	})
	owner := func(o string) map[string]any { return map[string]any{"owner": o} }
	ends := produceAlerts(t, addr,
		alert("c1", "a1", "detractor", "critical", "firing", owner("alice")),
		alert("c2", "a2", "usage-drop", "warning", "firing", owner("alice")),
		alert("c3", "a3", "detractor", "critical", "firing", owner("bob")),
		alert("c4", "a4", "support-overload", "warning", "firing", nil),
		alert("c5", "a5", "abandoned-signup", "info", "firing", owner("alice")), // filtered
		alert("c1", "a1", "detractor", "critical", "resolved", owner("alice")),
	)
	run := startSink(t, cfg)
	waitFor(t, waitLong, "the first digest request", func() (bool, string) { return len(rv.requests()) > 0, "none yet" })
	// The first digest is held unanswered: nothing may be committed, even
	// after two autocommit intervals.
	time.Sleep(2500 * time.Millisecond)
	if got := committed(t, addr, run.s.Group()); len(got) > 0 {
		t.Errorf("committed %v while the digest holding those records was unanswered", got)
	}
	once.Do(func() { close(release) })
	waitCommitted(t, addr, run.s.Group(), ends)

	perOwner := map[string][]string{}
	for _, d := range rv.requests() {
		var b struct {
			Kind   string            `json:"kind"`
			Owner  string            `json:"owner"`
			Count  int               `json:"count"`
			Alerts []json.RawMessage `json:"alerts"`
		}
		if err := json.Unmarshal(d.body, &b); err != nil || b.Kind != "digest" || b.Count != len(b.Alerts) {
			t.Fatalf("digest body %s: %v", d.body, err)
		}
		if err := verify("s3cret", d.header, d.body, time.Now()); err != nil {
			t.Errorf("digest for %q: %v", b.Owner, err)
		}
		if !strings.HasPrefix(d.header.Get("Idempotency-Key"), "digest:") {
			t.Errorf("digest Idempotency-Key %q", d.header.Get("Idempotency-Key"))
		}
		for _, a := range b.Alerts {
			var k struct {
				ID     string `json:"alert_id"`
				Status string `json:"status"`
			}
			_ = json.Unmarshal(a, &k)
			perOwner[b.Owner] = append(perOwner[b.Owner], k.ID+":"+k.Status)
		}
	}
	for o := range perOwner {
		slices.Sort(perOwner[o])
	}
	want := map[string][]string{"alice": {"a1:firing", "a1:resolved", "a2:firing"}, "bob": {"a3:firing"}, "": {"a4:firing"}}
	if fmt.Sprint(perOwner) != fmt.Sprint(want) {
		t.Errorf("digests per owner: %v, want %v", perOwner, want)
	}
	if n := run.outcome(t, sink.OutcomeDelivered); n != 5 {
		t.Errorf("delivered: %v alerts, want 5", n)
	}
	if n := run.outcome(t, sink.OutcomeFiltered); n != 1 {
		t.Errorf("filtered: %v, want 1", n)
	}
}

// TestDigestBoundedInMemory: a digest that reaches digest_max_alerts is
// sent early; what is left pending when the sink stops is not committed,
// so the next start reads it again.
func TestDigestBoundedInMemory(t *testing.T) {
	addr := newCluster(t, 1)
	rv := newReceiver(t, func(int, http.ResponseWriter, *http.Request, []byte) int { return http.StatusOK })
	cfg := sinkConfig(t, addr, rv.URL, func(s *config.Sink) {
		s.Digest = config.Duration(time.Hour)
		s.DigestMaxAlerts = 2
	})
	var recs [][]byte
	for i := range 5 {
		recs = append(recs, alert("c1", fmt.Sprintf("a%d", i), "detractor", "critical", "firing", nil))
	}
	produceAlerts(t, addr, recs...)
	run := startSink(t, cfg)
	waitCommitted(t, addr, run.s.Group(), map[int32]int64{0: 4})
	run.stop()
	if got := committed(t, addr, run.s.Group()); got[0] != 4 {
		t.Errorf("after stop, committed %v; want 4: the fifth alert waits in an unsent digest", got)
	}
	got := rv.requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d digests, want 2 of 2 alerts each", len(got))
	}
	for _, d := range got {
		if c := d.header.Get("X-Lifeline-Digest-Count"); c != "2" {
			t.Errorf("digest of %s alerts, want 2", c)
		}
	}
}

// TestRestartDeliversEveryAlert: a sink stopped mid-stream and started
// again delivers every alert at least once; a receiver deduplicating by
// Idempotency-Key sees each exactly once, and each partition's alerts in
// the order produced; at most concurrency partitions are delivered at
// once.
func TestRestartDeliversEveryAlert(t *testing.T) {
	const nparts, n = 4, 240
	addr := newCluster(t, nparts)
	var inflight, peak atomic.Int32
	rv := newReceiver(t, func(int, http.ResponseWriter, *http.Request, []byte) int {
		now := inflight.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(3 * time.Millisecond)
		inflight.Add(-1)
		return http.StatusOK
	})
	cfg := sinkConfig(t, addr, rv.URL, func(s *config.Sink) { s.Concurrency = 2 })
	var recs [][]byte
	order := map[string][]string{} // customer: keys in produce order
	for i := range n {
		c := fmt.Sprintf("cus-%d", i%16)
		status := []string{"firing", "resolved"}[i/16%2]
		id := fmt.Sprintf("al-%d-%d", i%16, i/32)
		recs = append(recs, alert(c, id, "detractor", "critical", status, nil))
		order[c] = append(order[c], id+":"+status)
	}
	ends := produceAlerts(t, addr, recs...)

	first := startSink(t, cfg)
	waitFor(t, waitLong, "some deliveries", func() (bool, string) {
		seen, _ := rv.delivered()
		return len(seen) >= n/4, fmt.Sprintf("%d delivered", len(seen))
	})
	first.stop()
	seen, _ := rv.delivered()
	t.Logf("first run delivered %d of %d alerts", len(seen), n)
	if len(seen) == n {
		t.Fatal("the first run delivered everything before it was stopped: the test proves nothing")
	}
	second := startSink(t, cfg)
	waitCommitted(t, addr, second.s.Group(), ends)

	seen, firsts := rv.delivered()
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	t.Logf("%d alerts, %d requests answered 2xx (%d redeliveries the receiver deduplicated), peak %d partitions at once",
		len(seen), len(rv.requests()), dups, peak.Load())
	if len(seen) != n {
		t.Fatalf("receiver saw %d distinct alerts, want %d", len(seen), n)
	}
	// Per customer (so per partition), first deliveries are in order.
	got := map[string][]string{}
	byKey := map[string]string{}
	for _, r := range recs {
		var a struct {
			C  string `json:"customer_id"`
			ID string `json:"alert_id"`
			S  string `json:"status"`
		}
		_ = json.Unmarshal(r, &a)
		byKey[a.ID+":"+a.S] = a.C
	}
	for _, k := range firsts {
		got[byKey[k]] = append(got[byKey[k]], k)
	}
	for c, want := range order {
		if !slices.Equal(got[c], want) {
			t.Errorf("customer %s: delivered in order %v, want %v", c, got[c], want)
		}
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d requests at once, want at most concurrency 2", p)
	}
}

// TestSlackSink: a Slack sink posts a readable message (not the record),
// unsigned, and handles Slack's 429 with Retry-After like a webhook's.
func TestSlackSink(t *testing.T) {
	addr := newCluster(t, 1)
	rv := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) int {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	cfg := sinkConfig(t, addr, rv.URL, func(s *config.Sink) {
		s.Type, s.Secret = config.SinkSlack, ""
		s.ConsoleURL = "https://lifeline.example.com/#/customers/{customer_id}"
	})
	ends := produceAlerts(t, addr, alert("cus-9", "a9", "payment-failed", "critical", "firing", map[string]any{"owner": "alice"}))
	run := startSink(t, cfg)
	waitCommitted(t, addr, run.s.Group(), ends)
	got := rv.requests()
	if len(got) != 2 {
		t.Fatalf("Slack got %d requests, want 2 (429, then 200)", len(got))
	}
	if gap := got[1].at.Sub(got[0].at); gap < time.Second {
		t.Errorf("retried %v after Slack's Retry-After: 1", gap)
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []any  `json:"blocks"`
	}
	if err := json.Unmarshal(got[1].body, &msg); err != nil {
		t.Fatal(err)
	}
	body := string(got[1].body)
	for _, want := range []string{"CRITICAL", "payment-failed", "cus-9", "alice", "https://lifeline.example.com/#/customers/cus-9", "no engagement for 14 days"} {
		if !strings.Contains(body, want) {
			t.Errorf("Slack message lacks %q: %s", want, body)
		}
	}
	if got[1].header.Get("X-Lifeline-Signature") != "" {
		t.Error("a Slack request is signed: Slack ignores it, and the secret would be unset")
	}
}
