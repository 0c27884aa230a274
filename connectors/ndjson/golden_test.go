package ndjson_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/ndjson"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden from the current output")

// The golden inputs, hand-written: testdata/golden/NAME.ndjson is replayed
// with the default rule pack and must give testdata/golden/NAME.golden byte
// for byte.
//
//   - lifecycle: nine named customers walk every default transition and
//     fire and resolve every default alert (see journeys below). Timers fire
//     because the other customers' events move the watermark.
//   - until: three customers go quiet; only Options.Until (the end of the
//     replay) makes their timers fall due.
var goldenCases = []struct {
	name  string
	until string // Options.Until, RFC 3339; "" for none
}{
	{"lifecycle", ""},
	{"until", "2026-05-10T00:00:00Z"},
}

// replay runs the input through a fresh engine over Pebble in a temp dir.
func replay(t testing.TB, input []byte, opts ndjson.Options, eopts engine.Options) ([]byte, ndjson.Summary) {
	t.Helper()
	eng, err := engine.Open(t.TempDir(), rules.Default(), eopts)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	p, err := eng.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Release(p)
	var out bytes.Buffer
	sum, err := ndjson.Replay(context.Background(), bytes.NewReader(input), p, &out, opts)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return out.Bytes(), sum
}

func untilMillis(t testing.TB, s string) int64 {
	t.Helper()
	if s == "" {
		return 0
	}
	u, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return u.UnixMilli()
}

func readInput(t testing.TB, name string) []byte {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", "golden", name+".ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			in := readInput(t, tc.name)
			// A small batch: the file crosses many checkpoints.
			got, _ := replay(t, in, ndjson.Options{BatchSize: 7, Until: untilMillis(t, tc.until)}, engine.Options{})
			path := filepath.Join("testdata", "golden", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./connectors/ndjson -run Golden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (if the change is intended, rerun with -update and review the diff):\n%s", path, lineDiff(want, got))
			}
		})
	}
}

// lineDiff shows the first differing lines.
func lineDiff(want, got []byte) string {
	w := strings.Split(string(want), "\n")
	g := strings.Split(string(got), "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 5; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
			shown++
		}
	}
	fmt.Fprintf(&b, "(%d lines wanted, %d got)", len(w)-1, len(g)-1)
	return b.String()
}

// record is one output record. Its fields are pointers where absence must
// be told from a zero value.
type record struct {
	Kind         string             `json:"kind"`
	CustomerID   string             `json:"customer_id"`
	At           string             `json:"at"`
	RulesVersion string             `json:"rules_version"`
	From         string             `json:"from"`
	To           string             `json:"to"`
	Rule         string             `json:"rule"`
	EventID      string             `json:"event_id"`
	Score        float64            `json:"score"`
	Band         string             `json:"band"`
	Components   map[string]float64 `json:"components"`
	AlertID      string             `json:"alert_id"`
	Severity     string             `json:"severity"`
	Status       string             `json:"status"`
	Reasons      []string           `json:"reasons"`
	ResolvedBy   string             `json:"resolved_by"`

	line int
	raw  string
}

// The fields of each kind of record (README.md, "Output records").
var recordFields = map[string][]string{
	"stage":  {"kind", "schema_version", "customer_id", "at", "rules_version", "from", "to", "rule"},
	"health": {"kind", "schema_version", "customer_id", "at", "rules_version", "score", "band", "components"},
	"alert":  {"kind", "schema_version", "customer_id", "at", "rules_version", "alert_id", "rule", "severity", "status", "reasons"},
}

// parseRecords parses replay output and checks every record's shape.
func parseRecords(t *testing.T, out []byte) []record {
	t.Helper()
	var recs []record
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(line, &fields); err != nil {
			t.Fatalf("output line %d is not a JSON object: %v: %s", n, err, line)
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("output line %d: %v: %s", n, err, line)
		}
		r.line, r.raw = n, string(line)
		want, ok := recordFields[r.Kind]
		if !ok {
			t.Fatalf("output line %d: unknown kind %q", n, r.Kind)
		}
		var keys []string
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		wantKeys := append([]string(nil), want...)
		if r.Kind == "alert" && r.Status == "resolved" {
			// A resolved record says why (README.md, "Output records").
			wantKeys = append(wantKeys, "resolved_by")
			switch r.ResolvedBy {
			case "condition_cleared", "stage_left", "churned", "pack_changed":
			default:
				t.Errorf("output line %d: resolved_by %q is none of condition_cleared, stage_left, churned, pack_changed", n, r.ResolvedBy)
			}
		}
		if id, ok := fields["event_id"]; ok && r.Kind != "health" {
			// The cause; a record a timer caused has none, not "".
			wantKeys = append(wantKeys, "event_id")
			if string(id) == `""` {
				t.Errorf("output line %d: event_id is empty: a timer's record leaves it out", n)
			}
		}
		sort.Strings(wantKeys)
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Errorf("output line %d (%s): fields %v, want %v", n, r.Kind, keys, wantKeys)
		}
		if _, err := time.Parse(time.RFC3339, r.At); err != nil {
			t.Errorf("output line %d: at %q is not RFC 3339", n, r.At)
		}
		recs = append(recs, r)
	}
	return recs
}

// base is day 0 of the lifecycle journeys: d(n, hh, mm) is day n at hh:mm UTC.
var base = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func d(n, hh, mm int) string {
	return base.Add(time.Duration(n)*24*time.Hour + time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute).Format("2006-01-02T15:04:05.000Z07:00")
}

// step is one expected stage or alert record of a customer. timer marks a
// record caused by a timer (no event_id); the others carry the id of the
// event that caused them, dated by it.
type step struct {
	kind     string // stage | alert
	at       string
	rule     string
	from, to string // stage
	status   string // alert: firing | resolved
	severity string
	reasons  []string // each must appear in the record's reasons
	timer    bool
}

func stage(at, rule, from, to string) step {
	return step{kind: "stage", at: at, rule: rule, from: from, to: to}
}

func alert(at, rule, status, severity string, reasons ...string) step {
	return step{kind: "alert", at: at, rule: rule, status: status, severity: severity, reasons: reasons}
}

func byTimer(s step) step { s.timer = true; return s }

// journeys is what each customer of lifecycle.ndjson must go through, from
// the story the input tells (see the comments on each), not from the
// engine's output.
var journeys = map[string][]step{
	// Email, sign-up, order, renewal on day 32, a referral the next day.
	"alice-loyal": {
		stage(d(0, 9, 0), "first-touch", "", "reach"),
		stage(d(1, 9, 0), "signup", "reach", "acquisition"),
		stage(d(2, 9, 0), "first-purchase", "acquisition", "conversion"),
		stage(d(32, 9, 0), "repeat-purchase", "conversion", "retention"),
		stage(d(33, 9, 0), "advocate", "retention", "loyalty"),
	},
	// Signs up on day 1 (a CloudEvent), browses once, buys only on day 40:
	// abandoned-signup at day 31, resolved by the purchase.
	"bob-abandons": {
		stage(d(0, 10, 0), "first-touch", "", "reach"),
		stage(d(1, 10, 0), "signup", "reach", "acquisition"),
		byTimer(alert(d(31, 10, 0), "abandoned-signup", "firing", "info", "signed up 30 days ago", "has not purchased")),
		stage(d(40, 10, 0), "first-purchase", "acquisition", "conversion"),
		alert(d(40, 10, 0), "abandoned-signup", "resolved", "info", "left acquisition for conversion"),
	},
	// Buys on day 3, signs in on day 4, then nothing ever again: silent 14
	// days after the sign-in, lapsed (churned) 60 days after it.
	"carol-churns-silent": {
		stage(d(0, 11, 0), "signup", "", "acquisition"),
		stage(d(3, 11, 0), "first-purchase", "acquisition", "conversion"),
		byTimer(alert(d(18, 11, 0), "silent-customer", "firing", "warning", "no engagement for 14 days", "conversion")),
		byTimer(stage(d(64, 11, 0), "lapsed", "conversion", "churned")),
		byTimer(alert(d(64, 11, 0), "silent-customer", "resolved", "warning", "60 days since the last engagement", "churned")),
	},
	// Renews on day 20, answers NPS 10 on day 22 (promoter), 2 on day 30
	// (detractor), "8" (a string) on day 45.
	"dave-detractor": {
		stage(d(0, 12, 0), "signup", "", "acquisition"),
		stage(d(2, 12, 0), "first-purchase", "acquisition", "conversion"),
		stage(d(20, 12, 0), "repeat-purchase", "conversion", "retention"),
		stage(d(22, 12, 0), "advocate", "retention", "loyalty"),
		stage(d(30, 12, 0), "detractor-demotion", "loyalty", "retention"),
		alert(d(30, 12, 0), "detractor", "firing", "critical", "NPS answer 2"),
		alert(d(45, 12, 0), "detractor", "resolved", "critical", "NPS answer 8"),
	},
	// Tickets opened on days 10, 11, 12; solved on 16, 20, 22.
	"erin-tickets": {
		stage(d(0, 13, 0), "first-purchase", "", "conversion"),
		alert(d(12, 13, 0), "support-overload", "firing", "warning", "3 support tickets open"),
		alert(d(16, 13, 0), "support-overload", "resolved", "warning", "2 support tickets open"),
	},
	// A renewal fails on day 31 (delivered twice: counted once), succeeds on
	// day 33. Written with the Spec's tolerated spellings (action, user_id).
	"frank-payment": {
		stage(d(0, 14, 0), "signup", "", "acquisition"),
		stage(d(1, 14, 0), "first-purchase", "acquisition", "conversion"),
		alert(d(31, 14, 0), "payment-failed", "firing", "critical", "payment failed (1 failed payments so far)"),
		// The success on day 33 is the failed renewal's retry, not a
		// second purchase: frank stays in conversion.
		alert(d(33, 14, 0), "payment-failed", "resolved", "critical", "Payment Succeeded"),
	},
	// Daily use on days 1-28, a silent week, then one use a day from day
	// 36: the drop holds from day 36 15:30 and has lasted the 2 days of
	// usage-drop's for by day 38 (3 against a baseline of 25/4 = 6.25);
	// it resolves at 75% of the baseline, on day 40 (5 against 23/4).
	"gina-usage-drop": {
		stage(d(0, 15, 0), "signup", "", "acquisition"),
		stage(d(1, 15, 0), "first-purchase", "acquisition", "conversion"),
		alert(d(38, 15, 30), "usage-drop", "firing", "warning", "3 engagements in the last 7 days", "baseline of 6.25"),
		alert(d(40, 15, 30), "usage-drop", "resolved", "warning", "5 engagements in the last 7 days", "baseline of 5.75"),
	},
	// Buys on day 2, signs in on day 3, silent until day 20, cancels on day
	// 22, buys again on day 40.
	"hank-winback": {
		stage(d(0, 16, 0), "first-touch", "", "reach"),
		stage(d(1, 16, 0), "signup", "reach", "acquisition"),
		stage(d(2, 16, 0), "first-purchase", "acquisition", "conversion"),
		byTimer(alert(d(17, 16, 0), "silent-customer", "firing", "warning", "no engagement for 14 days", "conversion")),
		alert(d(20, 16, 0), "silent-customer", "resolved", "warning", "0 days since the last engagement"),
		stage(d(22, 16, 0), "cancel", "conversion", "churned"),
		stage(d(40, 16, 0), "win-back", "churned", "retention"),
	},
	// Starts a trial on day 2, deletes her account on day 6 (no
	// abandoned-signup on day 32), orders on day 45, signs in on day 60.
	"jill-deletes-trial": {
		stage(d(2, 18, 0), "signup", "", "acquisition"),
		stage(d(6, 18, 0), "cancel-before-purchase", "acquisition", "churned"),
		stage(d(45, 18, 0), "late-first-purchase", "churned", "conversion"),
		byTimer(alert(d(59, 18, 0), "silent-customer", "firing", "warning", "while in conversion")),
		alert(d(60, 18, 0), "silent-customer", "resolved", "warning", "0 days since the last engagement"),
	},
	// CloudEvents only: subscribes, uses, deletes her account on day 10.
	"ivy-cancels": {
		stage(d(0, 17, 0), "signup", "", "acquisition"),
		stage(d(1, 17, 0), "first-purchase", "acquisition", "conversion"),
		stage(d(10, 17, 0), "cancel", "conversion", "churned"),
	},
}

// inputEvent is what the decoder made of one input line.
type inputEvent struct {
	customer string
	at       string
}

// decodeInput maps each event id of an input to its customer and time.
func decodeInput(t *testing.T, in []byte) map[string]inputEvent {
	t.Helper()
	dec := decode.New(decode.Options{})
	ids := map[string]inputEvent{}
	for _, line := range bytes.Split(in, []byte("\n")) {
		var ev engine.Event
		if len(bytes.TrimSpace(line)) == 0 || dec.Decode(line, nil, &ev) != nil {
			continue
		}
		if _, dup := ids[ev.ID]; dup {
			continue // a redelivery: the first one counts
		}
		// The event's strings alias the decoder's buffers: copy them.
		ids[strings.Clone(ev.ID)] = inputEvent{strings.Clone(ev.CustomerID), time.UnixMilli(ev.Time).UTC().Format("2006-01-02T15:04:05.000Z07:00")}
	}
	return ids
}

// TestGoldenJourneys checks lifecycle.ndjson's output record by record
// against the journeys above, and the contracts every record must keep.
func TestGoldenJourneys(t *testing.T) {
	in := readInput(t, "lifecycle")
	out, sum := replay(t, in, ndjson.Options{BatchSize: 7}, engine.Options{})
	recs := parseRecords(t, out)
	pack := rules.Default()
	events := decodeInput(t, in)

	badLine := int64(0)
	for i, l := range strings.Split(string(in), "\n") {
		if strings.Contains(l, "not a time") {
			badLine = int64(i + 1)
		}
	}
	if sum.Duplicates != 1 || sum.BadCount != 1 || len(sum.Bad) != 1 || sum.Bad[0].Line != badLine || sum.Bad[0].Reason != decode.ReasonBadTimestamp {
		t.Errorf("summary: %d duplicates, %d bad %+v; want frank's redelivered payment failure as the one duplicate and line %d as a bad_timestamp", sum.Duplicates, sum.BadCount, sum.Bad, badLine)
	}

	got := map[string][]record{}
	for _, r := range recs {
		if r.RulesVersion != pack.Version {
			t.Errorf("line %d: rules_version %q, want %q", r.line, r.RulesVersion, pack.Version)
		}
		if r.Kind != "health" {
			got[r.CustomerID] = append(got[r.CustomerID], r)
		}
		// Event-caused records carry the event's id and time.
		if r.Kind != "health" && r.EventID != "" {
			ev, ok := events[r.EventID]
			if !ok || ev.customer != r.CustomerID || ev.at != r.At {
				t.Errorf("line %d: event_id %q is not an input event of %s at %s (input: %+v)", r.line, r.EventID, r.CustomerID, r.At, ev)
			}
		}
	}
	for customer := range got {
		if _, ok := journeys[customer]; !ok {
			t.Errorf("unexpected customer %s in the output", customer)
		}
	}
	for customer, want := range journeys {
		t.Run(customer, func(t *testing.T) {
			rs := got[customer]
			for i := 0; i < max(len(rs), len(want)); i++ {
				if i >= len(rs) {
					t.Errorf("missing record %d: %+v", i+1, want[i])
					continue
				}
				if i >= len(want) {
					t.Errorf("unexpected record: %s", rs[i].raw)
					continue
				}
				checkStep(t, rs[i], want[i])
			}
		})
	}
	checkAlertIDs(t, recs, true)
	checkHealth(t, recs)
	checkTimerOrder(t, recs)

	// Every transition and every alert rule of the default pack is covered:
	// a rule added to the pack without a journey here fails this test.
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Kind+" "+r.Rule+" "+r.Status] = true
	}
	for _, tr := range pack.Transitions {
		if !seen["stage "+tr.Name+" "] {
			t.Errorf("no journey takes transition %s", tr.Name)
		}
	}
	for _, a := range pack.Alerts {
		if !seen["alert "+a.Name+" firing"] || !seen["alert "+a.Name+" resolved"] {
			t.Errorf("alert %s does not both fire and resolve", a.Name)
		}
	}

	// The health record of the moment an alert fires shows its cause.
	for _, c := range []struct {
		customer, at, component string
		value                   float64
	}{
		{"dave-detractor", d(30, 12, 0), "sentiment", 20},      // NPS 2 × 10
		{"erin-tickets", d(12, 13, 0), "support", 25},          // 100 - 3 open × 25
		{"frank-payment", d(31, 14, 0), "commercial", 40},      // a failing payment
		{"frank-payment", d(33, 14, 0), "commercial", 100},     // recovered
		{"carol-churns-silent", d(18, 11, 0), "sentiment", 75}, // never answered: neutral
	} {
		h := healthAt(recs, c.customer, c.at)
		if h == nil {
			t.Errorf("%s: no health record at %s", c.customer, c.at)
			continue
		}
		if h.Components[c.component] != c.value {
			t.Errorf("%s at %s: %s component %v, want %v (%s)", c.customer, c.at, c.component, h.Components[c.component], c.value, h.raw)
		}
	}
	// Dave's detractor answer moves his band: a health record says so.
	prev, h := previousHealth(recs, "dave-detractor", d(30, 12, 0)), healthAt(recs, "dave-detractor", d(30, 12, 0))
	if prev == nil || h == nil || prev.Band == h.Band {
		t.Errorf("dave-detractor: want a health record with a new band at %s; before %+v, then %+v", d(30, 12, 0), prev, h)
	}
}

func checkStep(t *testing.T, r record, s step) {
	t.Helper()
	ok := r.Kind == s.kind && r.At == s.at && r.Rule == s.rule
	switch s.kind {
	case "stage":
		ok = ok && r.From == s.from && r.To == s.to
	case "alert":
		ok = ok && r.Status == s.status && r.Severity == s.severity
		all := strings.Join(r.Reasons, "\n")
		for _, sub := range s.reasons {
			if !strings.Contains(all, sub) {
				t.Errorf("line %d: reasons %q do not contain %q", r.line, r.Reasons, sub)
			}
		}
	}
	if s.timer != (r.EventID == "") {
		ok = false
	}
	if !ok {
		t.Errorf("line %d: got %s\nwant %+v", r.line, r.raw, s)
	}
}

// checkAlertIDs: a resolution carries its firing's alert_id, and the id is
// AlertID(customer, rule, firing time, the customer's firing number); an
// alert fires at most once until resolved. With allResolved, every firing is resolved by the end.
func checkAlertIDs(t *testing.T, recs []record, allResolved bool) {
	t.Helper()
	open := map[string]record{}  // customer + rule → firing
	fired := map[string]uint32{} // customer → firings so far
	for _, r := range recs {
		if r.Kind != "alert" {
			continue
		}
		key := r.CustomerID + "/" + r.Rule
		switch r.Status {
		case "firing":
			if prev, dup := open[key]; dup {
				t.Errorf("line %d: %s fires again while open since line %d", r.line, key, prev.line)
			}
			at, _ := time.Parse(time.RFC3339, r.At)
			fired[r.CustomerID]++
			if want := engine.AlertID(r.CustomerID, r.Rule, at.UnixMilli(), fired[r.CustomerID]); r.AlertID != want {
				t.Errorf("line %d: alert_id %s, want %s (customer, rule, firing time, firing number)", r.line, r.AlertID, want)
			}
			open[key] = r
		case "resolved":
			f, ok := open[key]
			if !ok {
				t.Errorf("line %d: %s resolves but is not open", r.line, key)
				continue
			}
			if r.AlertID != f.AlertID || r.Severity != f.Severity {
				t.Errorf("line %d: resolution alert_id %s/%s, firing (line %d) %s/%s", r.line, r.AlertID, r.Severity, f.line, f.AlertID, f.Severity)
			}
			delete(open, key)
		default:
			t.Errorf("line %d: status %q", r.line, r.Status)
		}
		if len(r.Reasons) == 0 || r.Reasons[0] == "" {
			t.Errorf("line %d: an alert must say why", r.line)
		}
	}
	if allResolved {
		for key, f := range open {
			t.Errorf("%s fired at line %d and never resolved", key, f.line)
		}
	}
}

// checkHealth: every health record is the weighted scorecard of its
// components (engagement 40%, sentiment 20%, support 20%, commercial 20%),
// banded green >= 75, yellow >= 50, red below, and is emitted only when the
// band changed or the score moved at least 5 since the customer's last one.
func checkHealth(t *testing.T, recs []record) {
	t.Helper()
	weights := map[string]float64{"engagement": 40, "sentiment": 20, "support": 20, "commercial": 20}
	last := map[string]record{}
	for _, r := range recs {
		if r.Kind != "health" {
			continue
		}
		if len(r.Components) != len(weights) {
			t.Errorf("line %d: components %v, want %v", r.line, r.Components, weights)
		}
		var sum float64
		for name, w := range weights {
			c, ok := r.Components[name]
			if !ok || c < 0 || c > 100 {
				t.Errorf("line %d: component %s = %v (present %v)", r.line, name, c, ok)
			}
			sum += c * w / 100
		}
		if want := math.Round(sum); r.Score != want {
			t.Errorf("line %d: score %v, want %v from the components", r.line, r.Score, want)
		}
		band := "red"
		switch {
		case r.Score >= 75:
			band = "green"
		case r.Score >= 50:
			band = "yellow"
		}
		if r.Band != band {
			t.Errorf("line %d: band %s for score %v, want %s", r.line, r.Band, r.Score, band)
		}
		if prev, ok := last[r.CustomerID]; ok && prev.Band == r.Band && math.Abs(prev.Score-r.Score) < 5 {
			t.Errorf("line %d: health emitted with the same band and a move of %v (< 5) since line %d", r.line, r.Score-prev.Score, prev.line)
		}
		last[r.CustomerID] = r
	}
}

// checkTimerOrder: timer-caused records (no event_id) come out in
// non-decreasing event time: the watermark only moves forward and timers
// fire in due order.
func checkTimerOrder(t *testing.T, recs []record) {
	t.Helper()
	last := ""
	for _, r := range recs {
		if r.Kind == "health" || r.EventID != "" {
			continue
		}
		if r.At < last { // same format and zone: text order is time order
			t.Errorf("line %d: timer record at %s comes after one at %s", r.line, r.At, last)
		}
		last = r.At
	}
}

func healthAt(recs []record, customer, at string) *record {
	for i := range recs {
		if recs[i].Kind == "health" && recs[i].CustomerID == customer && recs[i].At == at {
			return &recs[i]
		}
	}
	return nil
}

func previousHealth(recs []record, customer, at string) *record {
	var prev *record
	for i := range recs {
		r := &recs[i]
		if r.Kind == "health" && r.CustomerID == customer {
			if r.At == at {
				return prev
			}
			prev = r
		}
	}
	return nil
}

// TestGoldenUntil: with no event after them, timers fire only because
// Options.Until raises the watermark at the end, and only those due by then.
func TestGoldenUntil(t *testing.T) {
	in := readInput(t, "until")
	for _, tc := range []struct {
		until string
		want  []string // customer rule status at, for non-health records caused by timers
	}{
		{"", nil},
		{"2026-03-18T08:59:59.999Z", nil},
		{"2026-03-18T09:00:00Z", []string{
			"kim-quiet silent-customer firing 2026-03-18T09:00:00.000Z",
		}},
		{"2026-05-10T00:00:00Z", []string{
			"kim-quiet silent-customer firing 2026-03-18T09:00:00.000Z",
			"jane-trial abandoned-signup firing 2026-04-01T08:00:00.000Z",
			"kim-quiet lapsed  2026-05-03T09:00:00.000Z",
			"kim-quiet silent-customer resolved 2026-05-03T09:00:00.000Z",
		}},
	} {
		t.Run("until="+tc.until, func(t *testing.T) {
			var until int64
			if tc.until != "" {
				u, err := time.Parse(time.RFC3339Nano, tc.until)
				if err != nil {
					t.Fatal(err)
				}
				until = u.UnixMilli()
			}
			out, _ := replay(t, in, ndjson.Options{Until: until}, engine.Options{})
			recs := parseRecords(t, out)
			var got []string
			for _, r := range recs {
				if r.Kind != "health" && r.EventID == "" {
					got = append(got, strings.Join([]string{r.CustomerID, r.Rule, r.Status, r.At}, " "))
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("timer records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			checkAlertIDs(t, recs, false)
			checkHealth(t, recs)
		})
	}
}

// TestReplayDeterministic: the same input gives byte-identical output run
// after run, whatever the checkpoint interval and however small the state
// cache (customers then go through their Pebble encoding between batches).
func TestReplayDeterministic(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			in := readInput(t, tc.name)
			until := untilMillis(t, tc.until)
			first, _ := replay(t, in, ndjson.Options{Until: until}, engine.Options{})
			for _, v := range []struct {
				name  string
				opts  ndjson.Options
				eopts engine.Options
			}{
				{"again", ndjson.Options{Until: until}, engine.Options{}},
				{"batch 1", ndjson.Options{BatchSize: 1, Until: until}, engine.Options{}},
				{"batch 13, cache of 1", ndjson.Options{BatchSize: 13, Until: until}, engine.Options{CacheStates: 1}},
			} {
				got, _ := replay(t, in, v.opts, v.eopts)
				if !bytes.Equal(got, first) {
					t.Errorf("%s: output differs from the first run:\n%s", v.name, lineDiff(first, got))
				}
			}
		})
	}
}
