package journey

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

// generate runs cfg to the end and returns copies of its records.
func generate(t testing.TB, cfg Config) []Record {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for {
		r, ok := g.Next()
		if !ok {
			return out
		}
		r.Value = bytes.Clone(r.Value)
		out = append(out, r)
	}
}

func writeAll(t testing.TB, cfg Config) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string // "" when valid
	}{
		{"zero is the default", Config{}, ""},
		{"negative customers", Config{Customers: -1}, "Customers"},
		{"too many customers", Config{Customers: 2_000_000_000}, "Customers"},
		{"negative days", Config{Days: -3}, "Days"},
		{"too many days", Config{Days: 40000}, "Days"},
		{"start before 1970", Config{Start: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, "Start"},
		{"bad rate above half", Config{BadRate: 0.7}, "BadRate"},
		{"bad rate NaN", Config{BadRate: math.NaN()}, "BadRate"},
		{"no bad records", Config{BadRate: -1}, ""},
		{"skew too large", Config{Skew: 5}, "Skew"},
		{"skew NaN", Config{Skew: math.NaN()}, "Skew"},
		{"no skew", Config{Skew: -1}, ""},
		{"skew exactly 1", Config{Skew: 1}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New: error %v, want ErrConfig naming %s", err, tc.field)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	g, err := New(Config{BadRate: -1, Skew: -1})
	if err != nil {
		t.Fatal(err)
	}
	got := g.Config()
	want := Config{Customers: 1000, Days: 90, Seed: 1, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if got != want {
		t.Fatalf("Config() = %+v, want %+v", got, want)
	}
	g, _ = New(Config{})
	if c := g.Config(); c.BadRate != 0.001 || c.Skew != 1.1 {
		t.Fatalf("default BadRate %v, Skew %v; want 0.001 and 1.1", c.BadRate, c.Skew)
	}
}

func TestDeterminism(t *testing.T) {
	cfg := Config{Customers: 300, Days: 40}
	a, b := writeAll(t, cfg), writeAll(t, cfg)
	if !bytes.Equal(a, b) {
		t.Fatal("the same config gave different output")
	}
	cfg.Seed = 2
	if c := writeAll(t, cfg); bytes.Equal(a, c) {
		t.Fatal("a different seed gave the same output")
	}
	if n := bytes.Count(a, []byte("\n")); n < 1000 {
		t.Fatalf("only %d lines", n)
	}
}

// Bad records are inserted, never substituted: the good records do not
// depend on BadRate.
func TestBadRateKeepsGoodRecords(t *testing.T) {
	good := func(cfg Config) [][]byte {
		var out [][]byte
		for _, r := range generate(t, cfg) {
			if !r.Bad {
				out = append(out, r.Value)
			}
		}
		return out
	}
	none := good(Config{Customers: 200, Days: 30, BadRate: -1})
	some := good(Config{Customers: 200, Days: 30, BadRate: 0.2})
	if len(none) != len(some) {
		t.Fatalf("%d good records without bad ones, %d with", len(none), len(some))
	}
	for i := range none {
		// Message ids count every record, so they differ; the rest may not.
		if strip(none[i]) != strip(some[i]) {
			t.Fatalf("record %d differs:\n%s\n%s", i, none[i], some[i])
		}
	}
}

func strip(b []byte) string {
	s := string(b)
	i := strings.Index(s, `"messageId":"`)
	return s[:i] + s[i+len(`"messageId":"msg_0123456789abcdef"`):]
}

func TestTimeOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"many customers", Config{Customers: 2000, Days: 60, BadRate: 0.01}},
		{"one customer", Config{Customers: 1, Days: 365}},
		{"ten years, coarse calendar", Config{Customers: 100, Days: 3650}},
		{"steep skew", Config{Customers: 500, Days: 30, Skew: 4}},
		{"no skew", Config{Customers: 500, Days: 30, Skew: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := generate(t, tc.cfg)
			if len(recs) == 0 {
				t.Fatal("no records")
			}
			for i := 1; i < len(recs); i++ {
				if recs[i].Time.Before(recs[i-1].Time) {
					t.Fatalf("record %d at %v is before record %d at %v", i, recs[i].Time, i-1, recs[i-1].Time)
				}
			}
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			end := start.AddDate(0, 0, tc.cfg.Days)
			if first, last := recs[0].Time, recs[len(recs)-1].Time; first.Before(start) || !last.Before(end) {
				t.Fatalf("records span %v to %v, outside [%v, %v)", first, last, start, end)
			}
		})
	}
}

func TestStart(t *testing.T) {
	start := time.Date(2030, 6, 15, 12, 30, 0, 0, time.FixedZone("X", 3600))
	recs := generate(t, Config{Customers: 50, Days: 10, Start: start})
	if len(recs) == 0 || recs[0].Time.Before(start) || recs[len(recs)-1].Time.After(start.AddDate(0, 0, 10)) {
		t.Fatalf("records outside [%v, +10d]", start)
	}
	if loc := recs[0].Time.Location(); loc != time.UTC {
		t.Fatalf("Record.Time in %v, want UTC", loc)
	}
}

func TestScale(t *testing.T) {
	count := func(customers int) int {
		g, err := New(Config{Customers: customers, Days: 30})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ok := g.Next(); ok; _, ok = g.Next() {
			n++
		}
		return n
	}
	small, large := count(1000), count(4000)
	if ratio := float64(large) / float64(small); ratio < 3.4 || ratio > 4.6 {
		t.Fatalf("1000 customers: %d records, 4000: %d (ratio %.2f, want ~4)", small, large, ratio)
	}
}

func TestCustomerIDs(t *testing.T) {
	for _, tc := range []struct {
		customers int
		want      string
	}{
		{10, "cus_000000"},
		{1_000_000, "cus_000000"},
		{1_000_001, "cus_0000000"},
	} {
		g, err := New(Config{Customers: tc.customers, Days: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := g.key(0); got != tc.want {
			t.Errorf("Customers %d: id %q, want %q", tc.customers, got, tc.want)
		}
	}
}

// segment is what the tests read of a record.
type segment struct {
	Type        string          `json:"type"`
	Event       string          `json:"event"`
	Name        string          `json:"name"`
	UserID      string          `json:"userId"`
	AnonymousID string          `json:"anonymousId"`
	MessageID   string          `json:"messageId"`
	Timestamp   *string         `json:"timestamp"`
	Properties  json.RawMessage `json:"properties"`
	Traits      json.RawMessage `json:"traits"`
	Context     *struct {
		GroupID string `json:"groupId"`
	} `json:"context"`
}

type properties struct {
	Revenue  *float64 `json:"revenue"`
	Total    *float64 `json:"total"`
	Score    *float64 `json:"score"`
	TicketID string   `json:"ticket_id"`
	OrderID  string   `json:"order_id"`
}

// badKind classifies a record the way an input decoder would; "" means good.
func badKind(value []byte) string {
	if !json.Valid(value) {
		return "malformed"
	}
	if bytes.HasPrefix(value, []byte("[")) {
		return "array"
	}
	var s segment
	if json.Unmarshal(value, &s) != nil {
		return "not-an-object"
	}
	switch {
	case s.UserID == "" && s.AnonymousID == "":
		return "no-id"
	case s.Timestamp == nil:
		return "no-timestamp"
	}
	if _, err := time.Parse(time.RFC3339, *s.Timestamp); err != nil {
		return "bad-timestamp"
	}
	return ""
}

func TestBadRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"default rate", Config{}},
		{"five percent", Config{Customers: 1000, Days: 30, BadRate: 0.05}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := New(tc.cfg)
			rate := g.Config().BadRate
			kinds := map[string]int{}
			total, bad := 0, 0
			for r, ok := g.Next(); ok; r, ok = g.Next() {
				total++
				if bytes.ContainsAny(r.Value, "\n\r") {
					t.Fatalf("record with a line break: %q", r.Value)
				}
				kind := badKind(r.Value)
				if (kind != "") != r.Bad {
					t.Fatalf("Bad = %v but the record classifies as %q: %s", r.Bad, kind, r.Value)
				}
				if !r.Bad {
					continue
				}
				bad++
				kinds[kind]++
				if (kind == "no-id") != (r.Key == "") {
					t.Fatalf("bad record of kind %s has key %q", kind, r.Key)
				}
			}
			want := rate * float64(total)
			if tol := 4*math.Sqrt(want) + 1; math.Abs(float64(bad)-want) > tol {
				t.Fatalf("%d bad records of %d, want %.0f ± %.0f", bad, total, want, tol)
			}
			for _, k := range []string{"malformed", "array", "no-id", "no-timestamp", "bad-timestamp"} {
				if kinds[k] == 0 {
					t.Errorf("no bad record of kind %s (%v)", k, kinds)
				}
			}
			t.Logf("%d records, %d bad: %v", total, bad, kinds)
		})
	}
	if recs := generate(t, Config{Customers: 500, Days: 30, BadRate: -1}); len(recs) == 0 {
		t.Fatal("no records")
	} else {
		for _, r := range recs {
			if r.Bad {
				t.Fatal("a bad record with BadRate < 0")
			}
		}
	}
}

// TestGoodRecords checks every good record of the default workload against
// what the engine's decoder and the rule pack need.
func TestGoodRecords(t *testing.T) {
	g, _ := New(Config{})
	ids := map[string]bool{}
	names := map[string]int{}
	for r, ok := g.Next(); ok; r, ok = g.Next() {
		if r.Bad {
			continue
		}
		var s segment
		if err := json.Unmarshal(r.Value, &s); err != nil {
			t.Fatalf("%v: %s", err, r.Value)
		}
		if s.UserID == "" || s.UserID != r.Key {
			t.Fatalf("userId %q, key %q: %s", s.UserID, r.Key, r.Value)
		}
		if s.Timestamp == nil {
			t.Fatalf("no timestamp: %s", r.Value)
		}
		ts, err := time.Parse("2006-01-02T15:04:05.000Z07:00", *s.Timestamp)
		if err != nil || !strings.HasSuffix(*s.Timestamp, "Z") || !ts.Equal(r.Time) {
			t.Fatalf("timestamp %q (%v) for record time %v", *s.Timestamp, err, r.Time)
		}
		if !strings.HasPrefix(s.MessageID, "msg_") || ids[s.MessageID] {
			t.Fatalf("messageId %q missing or repeated", s.MessageID)
		}
		ids[s.MessageID] = true
		var p properties
		if s.Properties != nil {
			if err := json.Unmarshal(s.Properties, &p); err != nil {
				t.Fatalf("properties: %v: %s", err, r.Value)
			}
		}
		name := s.Event
		switch s.Type {
		case "track":
		case "page", "screen":
			name = s.Type
			if s.Name == "" {
				t.Fatalf("%s call without a name: %s", s.Type, r.Value)
			}
		case "identify":
			name = s.Type
			var traits struct{ Email, Plan string }
			if json.Unmarshal(s.Traits, &traits); traits.Email == "" || traits.Plan == "" {
				t.Fatalf("identify without traits email and plan: %s", r.Value)
			}
		default:
			t.Fatalf("type %q: %s", s.Type, r.Value)
		}
		names[name]++
		switch name {
		case "Order Completed", "Subscription Started", "Subscription Renewed", "Payment Succeeded":
			if p.Revenue == nil || *p.Revenue < 9.99 || *p.Revenue > 499 {
				t.Fatalf("purchase without revenue in [9.99, 499]: %s", r.Value)
			}
		case "Order Refunded":
			if p.Total == nil || p.OrderID == "" {
				t.Fatalf("refund without total and order_id: %s", r.Value)
			}
		case "NPS Responded":
			if p.Score == nil || *p.Score != math.Trunc(*p.Score) || *p.Score < 0 || *p.Score > 10 {
				t.Fatalf("NPS without an integer score 0-10: %s", r.Value)
			}
		case "Ticket Opened", "Ticket Solved":
			if p.TicketID == "" {
				t.Fatalf("ticket without ticket_id: %s", r.Value)
			}
		}
	}
	// The default pack's touchpoint vocabulary (rules/default.yaml).
	for _, n := range []string{
		"Email Opened", "Email Link Clicked", "Promotion Viewed", "Promotion Clicked",
		"Signed Up", "Account Created", "Trial Started",
		"Order Completed", "Subscription Started", "Subscription Renewed", "Payment Succeeded",
		"Signed In", "Application Opened", "Product Viewed", "Feature Used", "Invite Sent", "page", "screen",
		"Ticket Opened", "Ticket Solved", "NPS Responded", "Referral Sent", "Payment Failed",
		"Order Refunded", "Subscription Cancelled", "Account Deleted", "identify",
	} {
		if names[n] < 5 {
			t.Errorf("%q appears %d times, want at least 5", n, names[n])
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("counts: %v", names)
	}
}

// TestMemory: per-customer memory stays small, so that 10 million customers
// fit.
func TestMemory(t *testing.T) {
	const customers = 200_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g, err := New(Config{Customers: customers, Days: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ok := g.Next(); ok; _, ok = g.Next() {
		n++
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(g)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	perCustomer := float64(growth) / customers
	t.Logf("%d records; heap grew %d bytes, %.1f a customer; %.1f bytes allocated a record",
		n, growth, perCustomer, float64(after.TotalAlloc-before.TotalAlloc-uint64(growth))/float64(n))
	if perCustomer > 100 {
		t.Fatalf("heap grew %.0f bytes a customer, want < 100", perCustomer)
	}
}

func BenchmarkNext(b *testing.B) {
	cfg := Config{Customers: 100_000, Days: 30}
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, ok := g.Next()
		if !ok {
			b.StopTimer()
			g, _ = New(cfg)
			b.StartTimer()
			r, _ = g.Next()
		}
		bytes += int64(len(r.Value))
	}
	b.SetBytes(bytes / int64(b.N))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := New(Config{Customers: 1_000_000, Days: 30}); err != nil {
			b.Fatal(err)
		}
	}
}
