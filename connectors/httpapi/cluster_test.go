package httpapi

// Cluster-wide answers against real runtimes: two instances of one group
// on a kfake broker, each holding part of the partitions, asking each
// other as peers; the funnel, KPIs and alert list from either cover every
// partition, and say which they miss when a peer is down.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/connectors/ndjson"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// journeyLines are customer i's records: signed up and bought (revenue
// 100+i); every third answers NPS 2 (detractor, critical), every fourth
// has a payment fail (payment-failed, critical), every fifth opens three
// tickets (support-overload, warning), every seventh renews (retention).
func journeyLines(i int, id string) []string {
	lines := customerEvents(id, 100+i)
	ev := func(n int, day int, event, props string) string {
		return fmt.Sprintf(`{"type":"track","event":%q,"userId":%q,"messageId":"%s-x%d","timestamp":"2026-01-%02dT10:00:00Z","properties":{%s}}`, event, id, id, n, day, props)
	}
	if i%3 == 0 {
		lines = append(lines, ev(1, 12, "NPS Responded", `"score":2`))
	}
	if i%4 == 0 {
		lines = append(lines, ev(2, 13, "Payment Failed", ""))
	}
	if i%7 == 0 {
		lines = append(lines, ev(6, 15, "Subscription Renewed", `"revenue":10`))
	}
	if i%5 == 0 {
		for k := range 3 {
			lines = append(lines, ev(3+k, 14, "Ticket Opened", ""))
		}
	}
	return lines
}

// produceJourneys writes the customers' journeyLines keyed by customer to
// their murmur2 partitions, and returns the end offsets and every line in
// the order written.
func produceJourneys(t *testing.T, c *cluster, customers []string) (map[int32]int64, []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var recs []*kgo.Record
	var all []string
	for i, id := range customers {
		for _, v := range journeyLines(i, id) {
			all = append(all, v)
			recs = append(recs, &kgo.Record{Topic: c.cfg.Topics.Input, Partition: kafka.PartitionFor(id, c.parts), Key: []byte(id), Value: []byte(v)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	ends := map[int32]int64{}
	for _, r := range recs {
		ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
	}
	return ends, all
}

// replayTotals is the offline engine's meta over lines: what `lifeline
// replay` counts.
func replayTotals(t *testing.T, lines []string) engine.Meta {
	t.Helper()
	eng, err := engine.Open(t.TempDir(), rules.Default(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	p, err := eng.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Release(p)
	if _, err := ndjson.Replay(context.Background(), strings.NewReader(strings.Join(lines, "\n")), p, io.Discard, ndjson.Options{}); err != nil {
		t.Fatal(err)
	}
	return p.Meta()
}

// funnelAnswer is what GET /v1/funnel answers.
type funnelAnswer struct {
	engine.Funnel
	Partitions Partitions  `json:"partitions"`
	Partial    bool        `json:"partial"`
	PeerErrors []PeerError `json:"peer_errors"`
}

// kpisAnswer is what GET /v1/kpis answers.
type kpisAnswer struct {
	engine.KPIs
	Bands      map[string]int64 `json:"bands"`
	Partitions Partitions       `json:"partitions"`
	Partial    bool             `json:"partial"`
}

func TestClusterFunnelKPIsAndAlerts(t *testing.T) {
	t.Parallel()
	const parts = 6
	c := newCluster(t, parts)
	c.cfg.Engine.TimelineRecords = 50
	a, b := twoNodes(t, c)
	var customers []string
	for i := range 60 {
		customers = append(customers, fmt.Sprintf("cus_%03d", i))
	}
	ends, lines := produceJourneys(t, c, customers)
	waitProcessed(t, ends, a, b)
	pack := rules.Default()
	want := replayTotals(t, lines)
	wantFunnel, wantKPIs := engine.FunnelOf(pack, want), engine.KPIsOf(pack, want)
	all := []int32{0, 1, 2, 3, 4, 5}

	for _, n := range []*node{a, b} {
		var f funnelAnswer
		if code := get(t, n.url+"/v1/funnel", &f); code != http.StatusOK || f.Partial || !slices.Equal(f.Partitions.Answered, all) || len(f.Partitions.Missing) != 0 {
			t.Errorf("funnel from %s: %d, partial %v, partitions %+v; want 200 covering all 6", n.name, code, f.Partial, f.Partitions)
		}
		if got, want := jsonOf(t, f.Funnel), jsonOf(t, wantFunnel); got != want {
			t.Errorf("funnel from %s:\n%s\nwant replay's\n%s", n.name, got, want)
		}
		var k kpisAnswer
		if code := get(t, n.url+"/v1/kpis", &k); code != http.StatusOK || k.Partial {
			t.Errorf("kpis from %s: %d, partial %v", n.name, code, k.Partial)
		}
		if k.Customers != wantKPIs.Customers || k.Converted != wantKPIs.Converted || k.LifetimeValue != wantKPIs.LifetimeValue ||
			!maps.Equal(k.AlertsOpen, wantKPIs.AlertsOpen) || !maps.Equal(k.Bands, want.Bands) {
			t.Errorf("kpis from %s: customers %d converted %d ltv %v alerts %v bands %v; want replay's %d %d %v %v %v", n.name,
				k.Customers, k.Converted, k.LifetimeValue, k.AlertsOpen, k.Bands,
				wantKPIs.Customers, wantKPIs.Converted, wantKPIs.LifetimeValue, wantKPIs.AlertsOpen, want.Bands)
		}
	}
	if wantKPIs.Customers != 60 || wantKPIs.AlertsOpen["detractor"] != 20 {
		t.Fatalf("replay counts %d customers, %v alerts: the journeys are not what the test expects", wantKPIs.Customers, wantKPIs.AlertsOpen)
	}

	// Every open alert, from either instance, each once, critical first
	// and with its reasons.
	var wantAlerts int64
	for _, n := range wantKPIs.AlertsOpen {
		wantAlerts += n
	}
	for _, n := range []*node{a, b} {
		var l AlertList
		if code := get(t, n.url+"/v1/alerts?limit=1000", &l); code != http.StatusOK || l.Partial || int64(len(l.Alerts)) != wantAlerts || l.NextCursor != "" {
			t.Fatalf("alerts from %s: %d, partial %v, %d alerts, next %q; want 200, all %d", n.name, code, l.Partial, len(l.Alerts), l.NextCursor, wantAlerts)
		}
		seen := map[string]bool{}
		for i, al := range l.Alerts {
			if seen[al.AlertID] {
				t.Errorf("alert %s listed twice", al.AlertID)
			}
			seen[al.AlertID] = true
			if i > 0 && severityRank(l.Alerts[i-1].Severity) > severityRank(al.Severity) {
				t.Errorf("alert %d (%s) after a less severe one (%s)", i, al.Severity, l.Alerts[i-1].Severity)
			}
			if len(al.Reasons) == 0 || al.Stage == "" || al.HealthBand == "" || al.Status != "firing" {
				t.Errorf("alert %+v: want reasons, stage, health band, status firing", al)
			}
			if al.Rule == "detractor" && al.Reasons[0] != "NPS answer 2 (detractor: 0-6)" {
				t.Errorf("detractor reasons %q", al.Reasons)
			}
		}
	}

	// Filters and pages: rule=detractor, 7 at a time, from A.
	var got []string
	cursor := ""
	for range 10 {
		var l AlertList
		u := a.url + "/v1/alerts?rule=detractor&limit=7"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		if code := get(t, u, &l); code != http.StatusOK {
			t.Fatalf("%s: %d", u, code)
		}
		for _, al := range l.Alerts {
			if al.Rule != "detractor" || al.Severity != "critical" {
				t.Errorf("rule=detractor listed %s (%s)", al.Rule, al.Severity)
			}
			got = append(got, al.CustomerID)
		}
		if cursor = l.NextCursor; cursor == "" {
			break
		}
	}
	slices.Sort(got)
	var wantDetractors []string
	for i, id := range customers {
		if i%3 == 0 {
			wantDetractors = append(wantDetractors, id)
		}
	}
	if !slices.Equal(got, wantDetractors) {
		t.Errorf("detractors over pages of 7: %v\nwant %v", got, wantDetractors)
	}
	var sev AlertList
	get(t, a.url+"/v1/alerts?severity=warning", &sev)
	if len(sev.Alerts) != int(wantKPIs.AlertsOpen["support-overload"]) {
		t.Errorf("severity=warning: %d alerts, want the %d support-overload ones", len(sev.Alerts), wantKPIs.AlertsOpen["support-overload"])
	}
	for _, bad := range []string{"status=resolved", "status=open", "limit=0", "limit=1001", "cursor=zzz", "scope=everywhere"} {
		var e map[string]string
		if code := get(t, a.url+"/v1/alerts?"+bad, &e); code != http.StatusBadRequest || e["error"] == "" {
			t.Errorf("alerts?%s: %d %v; want 400 with an error", bad, code, e)
		}
	}

	// Each customer's timeline, from either instance (the other asked
	// when it holds the customer): its records, in the order produced.
	for _, n := range []*node{a, b} {
		for _, id := range []string{"cus_000", "cus_003", "cus_012", "cus_021"} {
			var tl struct {
				ID      string `json:"customer_id"`
				Records []struct {
					Kind       string `json:"kind"`
					CustomerID string `json:"customer_id"`
					To         string `json:"to"`
					Rule       string `json:"rule"`
					Status     string `json:"status"`
					At         string `json:"at"`
				} `json:"records"`
			}
			if code := get(t, n.url+"/v1/customers/"+id+"/timeline", &tl); code != http.StatusOK || tl.ID != id {
				t.Fatalf("timeline of %s from %s: %d %+v", id, n.name, code, tl)
			}
			var got []string
			for i, r := range tl.Records {
				if r.CustomerID != id {
					t.Errorf("timeline of %s from %s: record %d %+v is another customer's", id, n.name, i, r)
				}
				if r.Kind != "health" {
					got = append(got, r.Kind+" "+r.To+r.Rule+" "+r.Status)
				}
			}
			want := []string{"stage acquisitionsignup ", "stage conversionfirst-purchase ", "alert detractor firing"}
			if len(got) < 3 || !slices.Equal(got[:3], want) {
				t.Errorf("timeline of %s from %s: %q; want it to begin %q", id, n.name, got, want)
			}
		}
	}

	// B's HTTP goes down (it keeps its partitions): A's answers are
	// partial and name B's partitions as missing.
	b.stopHTTP()
	ofA := slices.Sorted(maps.Keys(a.rt.Partitions()))
	ofB := slices.Sorted(maps.Keys(b.rt.Partitions()))
	var f funnelAnswer
	if code := get(t, a.url+"/v1/funnel", &f); code != http.StatusOK || !f.Partial || !slices.Equal(f.Partitions.Missing, ofB) ||
		!slices.Equal(f.Partitions.Answered, ofA) || len(f.PeerErrors) != 1 {
		t.Errorf("funnel with B down: %d partial %v %+v peer errors %v; want partial, missing %v", code, f.Partial, f.Partitions, f.PeerErrors, ofB)
	}
	var k kpisAnswer
	if get(t, a.url+"/v1/kpis", &k); !k.Partial || !slices.Equal(k.Partitions.Missing, ofB) || k.Customers >= 60 {
		t.Errorf("kpis with B down: partial %v %+v, %d customers; want partial, missing %v, fewer than 60", k.Partial, k.Partitions, k.Customers, ofB)
	}
	var l AlertList
	if get(t, a.url+"/v1/alerts", &l); !l.Partial || !slices.Equal(l.Partitions.Missing, ofB) || len(l.PeerErrors) != 1 {
		t.Errorf("alerts with B down: partial %v %+v %v; want partial, missing %v", l.Partial, l.Partitions, l.PeerErrors, ofB)
	}
	for _, al := range l.Alerts {
		if slices.Contains(ofB, al.Partition) {
			t.Errorf("alert of B's partition %d listed with B down", al.Partition)
		}
	}
	for _, id := range customers {
		if slices.Contains(ofB, kafka.PartitionFor(id, parts)) {
			var inc Incomplete
			if code := get(t, a.url+"/v1/customers/"+id+"/timeline", &inc); code != http.StatusServiceUnavailable || !slices.Equal(inc.Unsearched, ofB) {
				t.Errorf("timeline of %s, on B's partition, with B down: %d %+v; want 503 naming %v", id, code, inc, ofB)
			}
			break
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Without peers, an instance that holds some of the partitions says its
// funnel, KPIs and alerts are partial, and which partitions they miss.
func TestPartialWithoutPeers(t *testing.T) {
	srv, src := newServer(t)
	src.parts, src.held = 3, map[int32]bool{0: true, 2: false}
	var f funnelAnswer
	if code := get(t, srv.URL+"/v1/funnel", &f); code != http.StatusOK || !f.Partial || !slices.Equal(f.Partitions.Answered, []int32{0}) ||
		!slices.Equal(f.Partitions.Missing, []int32{1, 2}) || f.Customers != 3 {
		t.Errorf("funnel holding 1 of 3: %d partial %v %+v customers %d; want partial, missing [1 2], 3 customers", code, f.Partial, f.Partitions, f.Customers)
	}
	var l AlertList
	if code := get(t, srv.URL+"/v1/alerts", &l); code != http.StatusOK || !l.Partial || !slices.Equal(l.Partitions.Missing, []int32{1, 2}) ||
		len(l.Alerts) != 1 || l.Alerts[0].CustomerID != "ann" || l.Alerts[0].Reasons[0] != "NPS answer 2 (detractor: 0-6)" {
		t.Errorf("alerts holding 1 of 3: %d %+v; want partial, ann's detractor alert with its reason", code, l)
	}
	src.parts, src.held = 1, map[int32]bool{0: true}
	var k kpisAnswer
	if code := get(t, srv.URL+"/v1/kpis", &k); code != http.StatusOK || k.Partial || !slices.Equal(k.Partitions.Answered, []int32{0}) {
		t.Errorf("kpis holding all: %d partial %v %+v; want complete", code, k.Partial, k.Partitions)
	}
}

// With a console, / serves it and /ui redirects to it relatively (so that
// a proxy's path prefix is kept); without one, / is 404.
func TestConsoleRoutes(t *testing.T) {
	srv, src := newServer(t)
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console "+r.URL.Path) })
	with := httptest.NewServer(Handler(src, prometheus.NewRegistry(), zerolog.Nop(), WithConsole(page)))
	defer with.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(with.URL + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "./" {
		t.Errorf("/ui: %d Location %q; want 302 to ./", resp.StatusCode, resp.Header.Get("Location"))
	}
	for path, want := range map[string]string{"/": "console /", "/console/app.js": "console /console/app.js"} {
		resp, err := http.Get(with.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("GET %s: %d %q; want the console's %q", path, resp.StatusCode, body, want)
		}
	}
	if code := get(t, with.URL+"/v1/funnel", nil); code != http.StatusOK {
		t.Errorf("/v1/funnel beside the console: %d", code)
	}
	if code := get(t, srv.URL+"/", nil); code != http.StatusNotFound {
		t.Errorf("/ without a console: %d, want 404", code)
	}
}
