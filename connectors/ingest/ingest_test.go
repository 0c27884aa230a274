package ingest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeline-hq/lifeline/connectors/ingest"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
)

// call is one request of a workload and what it must get.
type call struct {
	path   string
	body   []byte
	hdr    map[string]string
	status int
	reason string // of a rejection
	// ids are the dedupe ids of the records the request carries (Segment
	// messageId, CloudEvents id); keys their customers.
	ids, keys []string
}

func track(id, customer string) []byte {
	return fmt.Appendf(nil, `{"event":"Feature Used","userId":%q,"messageId":%q,"timestamp":"2026-03-01T10:00:00Z","properties":{"feature":"export"}}`, customer, id)
}

func batchOf(msgs ...string) []byte {
	return []byte(`{"batch":[` + strings.Join(msgs, ",") + `],"context":{"library":{"name":"analytics-go"}},"sentAt":"2026-03-01T10:00:01Z"}`)
}

func batchMsg(id, customer string) string {
	return fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":%q,"messageId":%q,"timestamp":"2026-03-01T10:00:00Z","properties":{"revenue":49}}`, customer, id)
}

func cloudEvent(id, customer string) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/billing","type":"Payment Succeeded","subject":%q,"time":"2026-03-01T10:00:00Z","data":{"revenue":10}}`, id, customer)
}

func stripeEvent(id, customer string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":"2022-11-15","created":1772359200,"type":"invoice.paid","data":{"object":{"id":"in_1","object":"invoice","customer":%q,"amount_paid":2000,"currency":"usd"}}}`, id, customer)
}

// workload is n rounds of accepted and rejected requests of every kind.
func workload(n int) []call {
	var calls []call
	now := time.Now()
	big := strings.Repeat("x", ingest.SegmentMessageLimit)
	for i := range n {
		cus := fmt.Sprintf("cus_%03d", i%37)
		id := func(kind string) string { return fmt.Sprintf("%s-%d", kind, i) }
		calls = append(calls,
			call{path: ingest.PathTrack, body: track(id("ok-track"), cus), hdr: basic(writeKey), status: 200,
				ids: []string{id("ok-track")}, keys: []string{cus}},
			call{path: ingest.PathBatch, body: batchOf(batchMsg(id("ok-batch-a"), cus), batchMsg(id("ok-batch-b"), "cus_other_"+cus), batchMsg(id("ok-batch-c"), cus)),
				hdr: basic("wk_other"), status: 200,
				ids: []string{id("ok-batch-a"), id("ok-batch-b"), id("ok-batch-c")}, keys: []string{cus, "cus_other_" + cus, cus}},
			// No type in the body: the path gives it one.
			call{path: ingest.PathIdentify, body: fmt.Appendf(nil, `{"userId":%q,"messageId":%q,"traits":{"plan":"pro"}}`, cus, id("ok-identify")),
				hdr: basic(writeKey), status: 200, ids: []string{id("ok-identify")}, keys: []string{cus}},
			call{path: ingest.PathCloudEvents, body: cloudEvent(id("ok-ce"), cus), hdr: signed(ingest.PathCloudEvents, nil, now), status: 200,
				ids: []string{"/billing/" + id("ok-ce")}, keys: []string{cus}},

			// A Stripe event, signed: keyed by its customer.
			call{path: ingest.PathStripe, body: stripeEvent(id("ok-stripe"), cus), hdr: signed(ingest.PathStripe, stripeEvent(id("ok-stripe"), cus), now), status: 200,
				ids: []string{"/" + id("ok-stripe")}, keys: []string{cus}},

			// Rejected: none of these may reach the topic.
			call{path: ingest.PathZendesk, body: stripeEvent(id("rej-source"), cus), hdr: signed(ingest.PathZendesk, stripeEvent(id("rej-source"), cus), now), status: 400, reason: "wrong_source"},
			call{path: ingest.PathTrack, body: track(id("rej-key"), cus), hdr: basic("wk_wrong"), status: 401, reason: "unauthorized"},
			call{path: ingest.PathTrack, body: track(id("rej-noauth"), cus), status: 401, reason: "unauthorized"},
			call{path: ingest.PathBatch, body: batchOf(batchMsg(id("rej-batch-a"), cus), `{"type":"track","event":"X","messageId":"`+id("rej-batch-b")+`","timestamp":"2026-03-01T10:00:00Z"}`),
				hdr: basic(writeKey), status: 400, reason: "no_customer_id"},
			call{path: ingest.PathTrack, body: fmt.Appendf(nil, `{"event":"X","userId":%q,"messageId":%q,"timestamp":"2026-03-01T10:00:00Z","properties":{"pad":%q}}`, cus, id("rej-large"), big),
				hdr: basic(writeKey), status: 413, reason: "too_large"},
			call{path: ingest.PathTrack, body: []byte(`{"event":"X","userId":"` + cus + `","messageId":"` + id("rej-malformed") + `",`), hdr: basic(writeKey), status: 400, reason: "malformed_json"},
			call{path: ingest.PathIdentify, body: track(id("rej-type"), cus)[:0:0], hdr: basic(writeKey), status: 400, reason: "malformed_json"},
			call{path: ingest.PathIdentify, body: []byte(`{"type":"track","userId":"` + cus + `","messageId":"` + id("rej-type") + `"}`), hdr: basic(writeKey), status: 400, reason: "type_mismatch"},
			call{path: ingest.PathCloudEvents, body: cloudEvent(id("rej-ce"), cus), hdr: map[string]string{"Authorization": "Bearer nope"}, status: 401, reason: "unauthorized"},
			// A body the decoder would take, with a bad signature: 401,
			// never produced.
			call{path: ingest.PathStripe, body: track(id("rej-stripe"), cus), hdr: map[string]string{"Stripe-Signature": stripeHeader("whsec_wrong", now.Unix(), track(id("rej-stripe"), cus))}, status: 401, reason: "unauthorized"},
			call{path: ingest.PathTypeform, body: track(id("rej-typeform"), cus), hdr: map[string]string{"Typeform-Signature": "sha256=AAAA"}, status: 401, reason: "unauthorized"},
		)
	}
	return calls
}

// TestIngestExactlyOnce drives the listener with concurrent real HTTP
// requests of every kind, accepted and rejected, then reads the input topic
// with read_committed: every acknowledged record is there exactly once, on
// the murmur2 partition of its customer, and nothing of a rejected request
// is.
func TestIngestExactlyOnce(t *testing.T) {
	_, addr := newCluster(t)
	l := startListener(t, testConfig(t, addr), ingest.Options{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}

	calls := workload(40)
	work := make(chan int)
	var wg sync.WaitGroup
	answers := make([]answer, len(calls))
	errs := make([]error, len(calls))
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				answers[i], errs[i] = tryPost(client, l.url, calls[i].path, calls[i].body, calls[i].hdr)
			}
		}()
	}
	for i := range calls {
		work <- i
	}
	close(work)
	wg.Wait()

	acked := map[string]string{} // id: key
	rejected := 0
	for i, c := range calls {
		if errs[i] != nil {
			t.Fatalf("%s: %v", c.path, errs[i])
		}
		a := answers[i]
		if a.status != c.status || (c.reason != "" && a.body["reason"] != c.reason) {
			t.Errorf("%s %.60s: got %v, want %d %s", c.path, c.body, a, c.status, c.reason)
			continue
		}
		if a.status != 200 {
			rejected++
			if msg, _ := a.body["error"].(string); msg == "" {
				t.Errorf("%s: rejection without an error message: %v", c.path, a)
			}
			continue
		}
		if got := a.body["records"]; got != float64(len(c.ids)) {
			t.Errorf("%s: answer says %v records, sent %d", c.path, got, len(c.ids))
		}
		for j, id := range c.ids {
			acked[id] = c.keys[j]
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	recs := readAll(t, addr, len(acked), 2*time.Second)
	seen := map[string]int{}
	for _, r := range recs {
		var v struct {
			MessageID, Source, ID string
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("record at %d/%d is not JSON: %v", r.Partition, r.Offset, err)
		}
		id := v.MessageID
		if id == "" {
			id = v.Source + "/" + v.ID
		}
		seen[id]++
		want, ok := acked[id]
		switch {
		case !ok:
			t.Errorf("record %s (key %s) on the topic: no acknowledged request carried it", id, r.Key)
		case string(r.Key) != want:
			t.Errorf("record %s keyed %q, want its customer %q", id, r.Key, want)
		}
		if p := kafka.PartitionFor(string(r.Key), partitions); r.Partition != p {
			t.Errorf("record %s (key %s) on partition %d, murmur2 says %d", id, r.Key, r.Partition, p)
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged record %s is on the topic %d times, want once", id, seen[id])
		}
	}
	t.Logf("%d requests (%d rejected), %d records acknowledged, %d on the topic", len(calls), rejected, len(acked), len(recs))

	// The metrics agree, and pass promlint.
	if got := sum(t, l.reg, "lifeline_ingest_records_total"); got != float64(len(acked)) {
		t.Errorf("lifeline_ingest_records_total = %v, want %d", got, len(acked))
	}
	if got := sum(t, l.reg, "lifeline_ingest_requests_total"); got != float64(len(calls)) {
		t.Errorf("lifeline_ingest_requests_total = %v, want %d", got, len(calls))
	}
	problems, err := testutil.GatherAndLint(l.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// sum adds up every series of a metric family.
func sum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				total += m.Counter.GetValue()
			case m.Gauge != nil:
				total += m.Gauge.GetValue()
			}
		}
	}
	return total
}
