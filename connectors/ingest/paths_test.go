package ingest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/ingest"
)

// TestRejections: each way a request can be refused gets its status, a
// reason word and a message saying what the request looked like.
func TestRejections(t *testing.T) {
	_, addr := newCluster(t)
	now := time.Now()
	l := startListener(t, testConfig(t, addr), ingest.Options{})
	client := &http.Client{Timeout: 30 * time.Second}
	okTrack := track("m1", "ann")
	small := batchMsg("m", "ann")
	hugeBatch := batchOf(strings.Repeat(small+",", ingest.SegmentBatchLimit/len(small)) + small)
	for _, tc := range []struct {
		name   string
		path   string
		body   []byte
		hdr    map[string]string
		method string
		status int
		reason string
		msg    string // a substring of the error
	}{
		{name: "no credentials", path: ingest.PathTrack, body: okTrack, status: 401, reason: "unauthorized", msg: "send the write key as the user name"},
		{name: "unknown write key", path: ingest.PathTrack, body: okTrack, hdr: basic("nope"), status: 401, reason: "unauthorized", msg: "not one of ingest.http.write_keys"},
		{name: "GET", path: ingest.PathTrack, method: http.MethodGet, hdr: basic(writeKey), status: 405, reason: "method_not_allowed", msg: "only POST"},
		{name: "call over 32 KB", path: ingest.PathTrack, hdr: basic(writeKey), status: 413, reason: "too_large", msg: "larger than 32768 bytes",
			body: fmt.Appendf(nil, `{"event":"X","userId":"ann","properties":{"pad":%q}}`, strings.Repeat("x", 33<<10))},
		{name: "batch over 500 KB", path: ingest.PathBatch, hdr: basic(writeKey), status: 413, reason: "too_large", msg: "larger than 512000 bytes", body: hugeBatch},
		{name: "batch message over 32 KB", path: ingest.PathBatch, hdr: basic(writeKey), status: 400, reason: "too_large", msg: "batch[1]: the message is",
			body: batchOf(batchMsg("m1", "ann"), fmt.Sprintf(`{"type":"track","event":"X","userId":"ann","properties":{"pad":%q}}`, strings.Repeat("x", 33<<10)))},
		{name: "malformed call", path: ingest.PathTrack, hdr: basic(writeKey), body: []byte(`{"event":`), status: 400, reason: "malformed_json", msg: "must be a JSON object"},
		{name: "call that is an array", path: ingest.PathTrack, hdr: basic(writeKey), body: []byte(`[1]`), status: 400, reason: "malformed_json"},
		{name: "no customer", path: ingest.PathTrack, hdr: basic(writeKey), body: []byte(`{"event":"X","timestamp":"2026-03-01T10:00:00Z"}`), status: 400, reason: "no_customer_id"},
		{name: "bad timestamp", path: ingest.PathTrack, hdr: basic(writeKey), body: []byte(`{"event":"X","userId":"ann","timestamp":"yesterday"}`), status: 400, reason: "bad_timestamp", msg: "yesterday"},
		{name: "type against the path", path: ingest.PathGroup, hdr: basic(writeKey), body: []byte(`{"type":"track","event":"X","userId":"ann"}`), status: 400, reason: "type_mismatch", msg: `type is "track" but it was posted to /v1/group`},
		{name: "empty batch", path: ingest.PathBatch, hdr: basic(writeKey), body: []byte(`{"batch":[]}`), status: 400, reason: "empty_batch"},
		{name: "batch message without type", path: ingest.PathBatch, hdr: basic(writeKey), body: batchOf(`{"event":"X","userId":"ann"}`), status: 400, reason: "no_type", msg: "batch[0]"},
		{name: "batch not an object", path: ingest.PathBatch, hdr: basic(writeKey), body: []byte(`[{"type":"track"}]`), status: 400, reason: "malformed_json", msg: `{"batch": [messages...]}`},
		{name: "one bad message rejects the batch", path: ingest.PathBatch, hdr: basic(writeKey), status: 400, reason: "no_customer_id", msg: "batch[2]",
			body: batchOf(batchMsg("a", "ann"), batchMsg("b", "bob"), `{"type":"page","messageId":"c"}`)},
		{name: "webhook over max_body_bytes", path: ingest.PathCloudEvents, hdr: signed(ingest.PathCloudEvents, nil, now), status: 413, reason: "too_large", msg: "larger than 1048576 bytes",
			body: fmt.Appendf(nil, `{"specversion":"1.0","data":%q}`, strings.Repeat("x", 1<<20))},
		{name: "batched cloudevents", path: ingest.PathCloudEvents, status: 415, reason: "unsupported_media_type",
			hdr: map[string]string{"Authorization": "Bearer " + ceToken, "Content-Type": "application/cloudevents-batch+json"}, body: []byte(`[]`)},
		{name: "cloudevent without customer", path: ingest.PathCloudEvents, hdr: signed(ingest.PathCloudEvents, nil, now), status: 400, reason: "no_customer_id",
			body: []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2026-03-01T10:00:00Z","data":{}}`)},
		{name: "unknown path", path: "/v1/webhooks/paypal", status: 404, reason: "not_found", msg: "/v1/webhooks/paypal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, l.url+tc.path, strings.NewReader(string(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Success bool
				Error   string
				Reason  string
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("answer %d is not JSON: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tc.status || body.Reason != tc.reason || body.Success || !strings.Contains(body.Error, tc.msg) || body.Error == "" {
				t.Errorf("got %d %+v, want %d reason %s with %q", resp.StatusCode, body, tc.status, tc.reason, tc.msg)
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="lifeline ingest"` {
				t.Errorf("401 on a Segment path with WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	if recs := readAll(t, addr, 0, time.Second); len(recs) != 0 {
		t.Errorf("%d records on the topic after rejections only", len(recs))
	}
}

// TestPathsOff: a path whose credential is not configured is not served.
func TestPathsOff(t *testing.T) {
	_, addr := newCluster(t)
	cfg := testConfig(t, addr)
	cfg.Ingest.HTTP.WriteKeys = nil
	cfg.Ingest.HTTP.Webhooks.Stripe.Secret = ""
	l := startListener(t, cfg, ingest.Options{})
	client := &http.Client{Timeout: 30 * time.Second}
	now := time.Now()
	for _, p := range []string{ingest.PathTrack, ingest.PathBatch, ingest.PathStripe} {
		body := track("m", "ann")
		if a := post(t, client, l.url, p, body, signed(p, body, now)); a.status != 404 || a.body["reason"] != "not_found" {
			t.Errorf("%s: got %v, want 404 (off)", p, a)
		}
	}
	body := cloudEvent("e1", "ann")
	if a := post(t, client, l.url, ingest.PathCloudEvents, body, signed(ingest.PathCloudEvents, body, now)); a.status != 200 {
		t.Errorf("cloudevents (configured): got %v, want 200", a)
	}
}
