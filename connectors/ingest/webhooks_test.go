package ingest_test

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/ingest"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/engine"
)

// Payloads shaped as each tool's documentation shows them (trimmed to the
// fields that matter).
var webhookBodies = map[string]string{
	ingest.PathStripe:      `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","api_version":"2022-11-15","created":1686089970,"type":"invoice.paid","data":{"object":{"id":"in_1NG8Du2eZvKYlo2C","object":"invoice","customer":"cus_NffrFeUfNV2Hib","amount_paid":2000,"currency":"usd"}}}`,
	ingest.PathZendesk:     `{"type":"zen:event-type:ticket.created","account_id":22129848,"id":"cbe4028c-7239-495d-b020-f22348516046","time":"2024-02-02T11:10:57Z","zendesk_event_version":"2022-11-06","subject":"zen:ticket:35436","detail":{"id":"35436","requester_id":"20978392","status":"OPEN"}}`,
	ingest.PathIntercom:    `{"type":"notification_event","app_id":"ecahpwf5","data":{"type":"notification_event_data","item":{"type":"ticket","id":"1","contacts":{"type":"contact.list","contacts":[{"type":"contact","id":"6329bd9ffe4e2e91dac76188","external_id":"cus_ann"}]}}},"topic":"ticket.created","id":"notif_ccd8a4d0","created_at":1669989000}`,
	ingest.PathDelighted:   `{"event_type":"survey_response.created","event_id":"ec_1","event_data":{"id":"1","person":{"id":"5","email":"ann@example.com"},"score":9,"created_at":1669989000}}`,
	ingest.PathTypeform:    `{"event_id":"01GRC","event_type":"form_response","form_response":{"form_id":"lT4Z3j","submitted_at":"2026-03-01T10:00:00Z","hidden":{"customer_id":"ann"},"answers":[{"type":"number","number":9,"field":{"id":"nps","type":"opinion_scale"}}]}}`,
	ingest.PathCloudEvents: `{"specversion":"1.0","id":"e1","source":"/billing","type":"Payment Succeeded","subject":"ann","time":"2026-03-01T10:00:00Z","data":{"revenue":10}}`,
}

// TestWebhookSignatures: each path checks its tool's scheme before it
// decodes anything: a wrong, missing, tampered or stale signature is 401,
// whatever the body; a right one gets past the check.
func TestWebhookSignatures(t *testing.T) {
	_, addr := newCluster(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := startListener(t, testConfig(t, addr), ingest.Options{Clock: func() time.Time { return now }})
	client := &http.Client{Timeout: 30 * time.Second}

	with := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for kk, vv := range h {
			out[kk] = vv
		}
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	type tcase struct {
		name string
		path string
		body string
		hdr  map[string]string
		msg  string // "" when the signature is right
	}
	var cases []tcase
	for path, body := range webhookBodies {
		good := signed(path, []byte(body), now)
		cases = append(cases,
			tcase{name: path + " right", path: path, body: body, hdr: good},
			tcase{name: path + " tampered body", path: path, body: strings.Replace(body, "}", " }", 1), hdr: good, msg: "match"},
			tcase{name: path + " no header", path: path, body: body, hdr: map[string]string{}, msg: "no "},
		)
		if path == ingest.PathCloudEvents {
			cases[len(cases)-2].msg = "" // a bearer token does not cover the body
		}
	}
	stripe := webhookBodies[ingest.PathStripe]
	sig := func(secret string, ts int64) string {
		h := stripeHeader(secret, ts, []byte(stripe))
		return h[strings.Index(h, "v1=")+3:]
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	old := now.Add(-6 * time.Minute).Unix()
	cases = append(cases,
		tcase{name: "stripe wrong secret", path: ingest.PathStripe, body: stripe, hdr: map[string]string{"Stripe-Signature": stripeHeader("whsec_other", now.Unix(), []byte(stripe))}, msg: "no v1 signature in Stripe-Signature matches"},
		tcase{name: "stripe several v1, one right (a secret being rolled)", path: ingest.PathStripe, body: stripe,
			hdr: map[string]string{"Stripe-Signature": "t=" + ts + ",v1=" + sig("whsec_old", now.Unix()) + ",v1=" + sig(stripeSecret, now.Unix()) + ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"}},
		tcase{name: "stripe only v0", path: ingest.PathStripe, body: stripe, hdr: map[string]string{"Stripe-Signature": "t=" + ts + ",v0=" + sig(stripeSecret, now.Unix())}, msg: "no v1 signature"},
		tcase{name: "stripe no timestamp", path: ingest.PathStripe, body: stripe, hdr: map[string]string{"Stripe-Signature": "v1=" + sig(stripeSecret, now.Unix())}, msg: "no t=<unix seconds>"},
		tcase{name: "stripe timestamp past the tolerance", path: ingest.PathStripe, body: stripe, hdr: map[string]string{"Stripe-Signature": stripeHeader(stripeSecret, old, []byte(stripe))}, msg: "older than the tolerance"},
		tcase{name: "stripe timestamp within the tolerance", path: ingest.PathStripe, body: stripe, hdr: map[string]string{"Stripe-Signature": stripeHeader(stripeSecret, now.Add(-4*time.Minute).Unix(), []byte(stripe))}},
		tcase{name: "stripe timestamp signed is not the header's", path: ingest.PathStripe, body: stripe,
			hdr: map[string]string{"Stripe-Signature": "t=" + strconv.FormatInt(now.Unix()+1, 10) + ",v1=" + sig(stripeSecret, now.Unix())}, msg: "matches"},
		tcase{name: "zendesk timestamp not the signed one", path: ingest.PathZendesk, body: webhookBodies[ingest.PathZendesk],
			hdr: with(signed(ingest.PathZendesk, []byte(webhookBodies[ingest.PathZendesk]), now), "X-Zendesk-Webhook-Signature-Timestamp", "2026-03-01T12:00:01Z"), msg: "does not match"},
		tcase{name: "intercom sha256 prefix", path: ingest.PathIntercom, body: webhookBodies[ingest.PathIntercom],
			hdr: map[string]string{"X-Hub-Signature": "sha256=" + hex.EncodeToString(make([]byte, 32))}, msg: `does not start with "sha1="`},
		tcase{name: "typeform hex instead of base64", path: ingest.PathTypeform, body: webhookBodies[ingest.PathTypeform],
			hdr: map[string]string{"Typeform-Signature": "sha256=" + hex.EncodeToString(make([]byte, 32))}, msg: "does not match"},
		tcase{name: "delighted base64 instead of hex", path: ingest.PathDelighted, body: webhookBodies[ingest.PathDelighted],
			hdr: map[string]string{"X-Delighted-Webhook-Signature": "sha256=" + base64.StdEncoding.EncodeToString(make([]byte, 32))}, msg: "does not match"},
		tcase{name: "cloudevents wrong token", path: ingest.PathCloudEvents, body: webhookBodies[ingest.PathCloudEvents], hdr: map[string]string{"Authorization": "Bearer ce_tokem"}, msg: "not ingest.http.webhooks.cloudevents.secret"},
		tcase{name: "cloudevents basic auth", path: ingest.PathCloudEvents, body: webhookBodies[ingest.PathCloudEvents], hdr: basic(ceToken), msg: "no Authorization: Bearer"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, client, l.url, tc.path, []byte(tc.body), tc.hdr)
			msg, _ := a.body["error"].(string)
			if tc.msg != "" {
				if a.status != 401 || a.body["reason"] != "unauthorized" || !strings.Contains(msg, tc.msg) {
					t.Errorf("got %v, want 401 saying %q", a, tc.msg)
				}
				// A bearer token is HTTP auth, with its challenge; a
				// signature is not.
				want := ""
				if tc.path == ingest.PathCloudEvents {
					want = `Bearer realm="lifeline ingest"`
				}
				if got := a.header.Get("WWW-Authenticate"); got != want {
					t.Errorf("WWW-Authenticate %q, want %q", got, want)
				}
				return
			}
			// Past the check, the decoder reads each tool's shape.
			if a.status != 200 {
				t.Errorf("got %v, want 200", a)
			}
		})
	}
}

// TestCloudEventsBinaryMode: a binary-mode HTTP CloudEvent (ce-* headers,
// the data as body) becomes a Kafka binary-mode record: ce_ headers
// (percent-decoded), content-type, the data as value, keyed by subject.
func TestCloudEventsBinaryMode(t *testing.T) {
	_, addr := newCluster(t)
	l := startListener(t, testConfig(t, addr), ingest.Options{})
	client := &http.Client{Timeout: 30 * time.Second}
	hdr := map[string]string{
		"Authorization":  "Bearer " + ceToken,
		"Ce-Specversion": "1.0", "Ce-Id": "pay-7", "Ce-Source": "/billing",
		"Ce-Type": "Payment Succeeded", "Ce-Time": "2026-03-01T10:00:00Z", "Ce-Subject": "ann%20lee",
		"Content-Type": "application/json",
	}
	if a := post(t, client, l.url, ingest.PathCloudEvents, []byte(`{"revenue":10}`), hdr); a.status != 200 {
		t.Fatalf("got %v", a)
	}
	delete(hdr, "Ce-Subject")
	if a := post(t, client, l.url, ingest.PathCloudEvents, []byte(`{"revenue":10}`), hdr); a.status != 400 || a.body["reason"] != "no_customer_id" {
		t.Errorf("binary mode without subject nor data.customer_id: got %v, want 400 no_customer_id", a)
	}
	recs := readAll(t, addr, 1, time.Second)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	r := recs[0]
	got := map[string]string{}
	for _, h := range r.Headers {
		got[h.Key] = string(h.Value)
	}
	want := map[string]string{"ce_specversion": "1.0", "ce_id": "pay-7", "ce_source": "/billing", "ce_type": "Payment Succeeded",
		"ce_time": "2026-03-01T10:00:00Z", "ce_subject": "ann lee", "content-type": "application/json"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if string(r.Key) != "ann lee" || string(r.Value) != `{"revenue":10}` {
		t.Errorf("record key %q value %s", r.Key, r.Value)
	}
}

// TestWebhookSources: each tool's published example payloads
// (connectors/decode/testdata/sources), signed as the tool signs them and
// posted to its path, are acknowledged and land keyed by the customer the
// engine's decoder finds, on its murmur2 partition; a payload of one tool
// on another tool's path is refused.
func TestWebhookSources(t *testing.T) {
	_, addr := newCluster(t)
	cfg := testConfig(t, addr)
	l := startListener(t, cfg, ingest.Options{})
	client := &http.Client{Timeout: 30 * time.Second}
	dir := filepath.Join("..", "decode", "testdata", "sources")
	paths := map[string]string{"stripe": ingest.PathStripe, "zendesk": ingest.PathZendesk, "intercom": ingest.PathIntercom,
		"delighted": ingest.PathDelighted, "typeform": ingest.PathTypeform}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	d := decode.New(cfg.DecodeOptions())
	want := map[string]string{} // body: customer
	for _, f := range files {
		tool, _, _ := strings.Cut(filepath.Base(f), "_")
		path, ok := paths[tool]
		if !ok {
			continue // Snowplow has no webhook
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev engine.Event
		if err := d.Decode(body, nil, &ev); err != nil {
			t.Fatalf("%s: the decoder refuses its own fixture: %v", f, err)
		}
		want[string(body)] = strings.Clone(ev.CustomerID) // it aliases the decoder's buffers
		if a := post(t, client, l.url, path, body, signed(path, body, time.Now())); a.status != 200 || a.body["records"] != 1.0 {
			t.Errorf("%s on %s: got %v, want 200", filepath.Base(f), path, a)
		}
		other := ingest.PathZendesk
		if path == other {
			other = ingest.PathStripe
		}
		if a := post(t, client, l.url, other, body, signed(other, body, time.Now())); a.status != 400 || a.body["reason"] != "wrong_source" {
			t.Errorf("%s on %s: got %v, want 400 wrong_source", filepath.Base(f), other, a)
		}
	}
	if len(want) < 5 {
		t.Fatalf("only %d fixtures of webhook tools", len(want))
	}
	recs := readAll(t, addr, len(want), time.Second)
	if len(recs) != len(want) {
		t.Errorf("%d records on the topic, want %d", len(recs), len(want))
	}
	for _, r := range recs {
		cus, ok := want[string(r.Value)]
		switch {
		case !ok:
			t.Errorf("record %.80s: not a body as posted", r.Value)
		case string(r.Key) != cus:
			t.Errorf("record keyed %q, want the decoder's customer %q", r.Key, cus)
		case r.Partition != kafka.PartitionFor(cus, partitions):
			t.Errorf("customer %q on partition %d, murmur2 says %d", cus, r.Partition, kafka.PartitionFor(cus, partitions))
		}
		delete(want, string(r.Value))
	}
}
