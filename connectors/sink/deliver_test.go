package sink_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/sink"
)

// TestWebhookRetriesUntilDelivered: a receiver failing with 500 three
// times, then taking it: the alert is delivered once (one 2xx), after
// four requests that each carry a valid signature and the same
// idempotency key and body; the retries are counted and the offset is
// committed only after the 2xx.
func TestWebhookRetriesUntilDelivered(t *testing.T) {
	addr := newCluster(t, 1)
	rv := newReceiver(t, func(n int, _ http.ResponseWriter, r *http.Request, body []byte) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	cfg := sinkConfig(t, addr, rv.URL, nil)
	rec := alert("cus-1", "a1", "payment-failed", "critical", "firing", nil)
	ends := produceAlerts(t, addr, rec)
	run := startSink(t, cfg)
	waitCommitted(t, addr, run.s.Group(), ends)

	got := rv.requests()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests, want 4 (3 failures, 1 success)", len(got))
	}
	for i, d := range got {
		if err := verify("s3cret", d.header, d.body, time.Now()); err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
		if k := d.header.Get("Idempotency-Key"); k != "a1:firing" {
			t.Errorf("request %d: Idempotency-Key %q, want a1:firing", i+1, k)
		}
		if ct := d.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: Content-Type %q", i+1, ct)
		}
		if !bytes.Equal(d.body, rec) {
			t.Errorf("request %d: body %s, want the record as produced %s", i+1, d.body, rec)
		}
		if d.attempt != i+1 {
			t.Errorf("request %d: X-Lifeline-Attempt %d", i+1, d.attempt)
		}
	}
	if seen, _ := rv.delivered(); seen["a1:firing"] != 1 {
		t.Errorf("2xx answers for a1:firing: %d, want 1", seen["a1:firing"])
	}
	if n := run.outcome(t, sink.OutcomeRetried); n != 3 {
		t.Errorf("retried: %v, want 3", n)
	}
	if n := run.outcome(t, sink.OutcomeDelivered); n != 1 {
		t.Errorf("delivered: %v, want 1", n)
	}
	if n := run.counter(t, "lifeline_sink_delivery_seconds", map[string]string{"sink": "cs"}); n != 1 {
		t.Errorf("lifeline_sink_delivery_seconds observations: %v, want 1", n)
	}
	waitFor(t, waitLong, "lag 0", func() (bool, string) {
		lag := run.counter(t, "lifeline_sink_lag", map[string]string{"sink": "cs"})
		return lag == 0, fmt.Sprintf("lag %v", lag)
	})
}

// TestWebhookTimeout: a receiver that stalls past the sink's timeout is
// tried again; the stalled attempt takes about the timeout, not the
// stall; a receiver that always stalls sends the alert to the dead-letter
// topic with the timeout as the reason.
func TestWebhookTimeout(t *testing.T) {
	addr := newCluster(t, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var stallAll atomic.Bool
	rv := newReceiver(t, func(n int, _ http.ResponseWriter, r *http.Request, _ []byte) int {
		if n == 1 || stallAll.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
		return http.StatusOK
	})
	cfg := sinkConfig(t, addr, rv.URL, func(s *config.Sink) {
		s.Timeout = config.Duration(300 * time.Millisecond)
		s.Retry.MaxAttempts = 3
	})
	ends := produceAlerts(t, addr, alert("cus-1", "a1", "detractor", "critical", "firing", nil))
	run := startSink(t, cfg)
	waitCommitted(t, addr, run.s.Group(), ends)
	got := rv.requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (one stalled, one answered)", len(got))
	}
	if gap := got[1].at.Sub(got[0].at); gap < 250*time.Millisecond || gap > 3*time.Second {
		t.Errorf("second request %v after the first, want the 300ms timeout plus a short backoff", gap)
	}
	t.Logf("stalled request abandoned and retried after %v (timeout 300ms)", got[1].at.Sub(got[0].at))

	// Every attempt stalls: dead-lettered after max_attempts, saying why.
	stallAll.Store(true)
	ends = produceAlerts(t, addr, alert("cus-1", "a2", "detractor", "critical", "firing", nil))
	waitCommitted(t, addr, run.s.Group(), ends)
	dl := readTopic(t, addr, cfg.SinkDeadLetterTopic(&cfg.Sinks[0]), 1)
	if e := header(dl[0], sink.HeaderError); !strings.Contains(e, "no answer within 300ms") {
		t.Errorf("dead letter's %s: %q, want the timeout", sink.HeaderError, e)
	}
	if a := header(dl[0], sink.HeaderAttempts); a != "3" {
		t.Errorf("dead letter's %s: %q, want 3", sink.HeaderAttempts, a)
	}
}

// TestWebhookRetryAfter: 429 with Retry-After: 1 (seconds), then 503 with
// an HTTP date 2 s ahead: the sink waits what each asked (the backoff
// alone would be under 50ms), measured between the requests.
func TestWebhookRetryAfter(t *testing.T) {
	addr := newCluster(t, 1)
	rv := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) int {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		case 2:
			// HTTP dates have whole seconds: 3s ahead is 2 to 3 s.
			w.Header().Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	cfg := sinkConfig(t, addr, rv.URL, nil)
	ends := produceAlerts(t, addr, alert("cus-1", "a1", "usage-drop", "warning", "firing", nil))
	run := startSink(t, cfg)
	// While the receiver asks to wait, the alert is the sink's lag.
	waitFor(t, waitLong, "the first request", func() (bool, string) { return len(rv.requests()) > 0, "none" })
	if lag := run.counter(t, "lifeline_sink_lag", map[string]string{"sink": "cs"}); lag != 1 {
		t.Errorf("lifeline_sink_lag %v while the alert waits for its Retry-After, want 1", lag)
	}
	waitCommitted(t, addr, run.s.Group(), ends)
	if lag := run.counter(t, "lifeline_sink_lag", map[string]string{"sink": "cs"}); lag != 0 {
		t.Errorf("lifeline_sink_lag %v once delivered, want 0", lag)
	}
	got := rv.requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	first, second := got[1].at.Sub(got[0].at), got[2].at.Sub(got[1].at)
	t.Logf("waited %v after Retry-After: 1, %v after a Retry-After date 2-3 s ahead", first, second)
	if first < time.Second || first > 3*time.Second {
		t.Errorf("waited %v after 429 Retry-After: 1, want about 1s", first)
	}
	if second < 2*time.Second || second > 5*time.Second {
		t.Errorf("waited %v after 503 with a Retry-After date 2-3 s ahead", second)
	}
	if n := run.outcome(t, sink.OutcomeDelivered); n != 1 {
		t.Errorf("delivered: %v, want 1", n)
	}
}

// TestWebhookRefusedIsDeadLettered: a 400 is not retried: the alert goes
// to the sink's dead-letter topic at once, value and key untouched, with
// headers saying why, and its offset is committed; the next alert is
// delivered.
func TestWebhookRefusedIsDeadLettered(t *testing.T) {
	addr := newCluster(t, 1)
	rv := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) int {
		if n == 1 {
			return http.StatusBadRequest
		}
		return http.StatusNoContent
	})
	cfg := sinkConfig(t, addr, rv.URL, nil)
	bad := alert("cus-1", "a1", "detractor", "critical", "firing", nil)
	ends := produceAlerts(t, addr, bad, alert("cus-1", "a2", "detractor", "critical", "resolved", nil))
	run := startSink(t, cfg)
	waitCommitted(t, addr, run.s.Group(), ends)
	if got := rv.requests(); len(got) != 2 {
		for _, d := range got {
			t.Logf("%s attempt %d -> %d", d.header.Get("Idempotency-Key"), d.attempt, d.answer)
		}
		t.Fatalf("receiver got %d requests, want 2 (the 400 is not retried)", len(got))
	}
	dl := readTopic(t, addr, "lifeline.alerts.cs.dlq", 1)
	r := dl[0]
	if !bytes.Equal(r.Value, bad) || string(r.Key) != "cus-1" {
		t.Errorf("dead letter: key %q value %s, want the record as it was", r.Key, r.Value)
	}
	for k, want := range map[string]string{
		sink.HeaderSink: "cs", sink.HeaderStatus: "400", sink.HeaderAttempts: "1", sink.HeaderError: "HTTP 400",
		"__connect.errors.topic": alertsTopic, "__connect.errors.offset": "0",
	} {
		if got := header(r, k); got != want {
			t.Errorf("dead letter header %s: %q, want %q", k, got, want)
		}
	}
	if n := run.outcome(t, sink.OutcomeDeadLettered); n != 1 {
		t.Errorf("dead_lettered: %v, want 1", n)
	}
	if seen, _ := rv.delivered(); seen["a2:resolved"] != 1 {
		t.Errorf("a2:resolved delivered %d times, want 1", seen["a2:resolved"])
	}
}

// TestUndecodableRecordIsDeadLettered: a record that is not an alert's
// JSON does not stop the sink: it is dead-lettered with what it looked
// like; a record of another kind is skipped as filtered.
func TestUndecodableRecordIsDeadLettered(t *testing.T) {
	addr := newCluster(t, 1)
	rv := newReceiver(t, func(int, http.ResponseWriter, *http.Request, []byte) int { return http.StatusOK })
	cfg := sinkConfig(t, addr, rv.URL, nil)
	ends := produceAlerts(t, addr, []byte(`{"kind":"alert","customer_id":"c",`), []byte(`{"kind":"health","customer_id":"c"}`),
		alert("c", "a1", "detractor", "critical", "firing", nil))
	run := startSink(t, cfg)
	waitCommitted(t, addr, run.s.Group(), ends)
	dl := readTopic(t, addr, "lifeline.alerts.cs.dlq", 1)
	if e := header(dl[0], sink.HeaderError); !strings.Contains(e, "undecodable alert record") || !strings.Contains(e, `{\"kind\":\"alert\"`) {
		t.Errorf("dead letter's error %q, want what the record looked like", e)
	}
	if seen, _ := rv.delivered(); len(seen) != 1 || seen["a1:firing"] != 1 {
		t.Errorf("delivered %v, want a1:firing once", seen)
	}
	if n := run.outcome(t, sink.OutcomeFiltered); n != 1 {
		t.Errorf("filtered: %v, want 1 (the health record)", n)
	}
}
