package rules

import (
	"strings"
	"testing"
)

// matchPack is a small pack whose touchpoints match in each way: the
// pack's event_match (written by the test) for purchase and engagement,
// and the overrides of signup (exact) and nps (case_insensitive).
func matchPack(t *testing.T, eventMatch string) *Pack {
	t.Helper()
	src := `version: t1
` + eventMatch + `
touchpoints:
  purchase: {events: [Order Completed, invoice.paid]}
  engagement: {events: [Feature Used, "Straße Geöffnet"], calls: [page, page_ping]}
  signup: {match: exact, events: [Signed Up]}
  nps: {match: case_insensitive, events: [NPS Responded]}
  cancel: {events: ["` + strings.Repeat("Very Long Event Name ", 10) + `"]}
stages: [lead, customer, churned]
health:
  components:
    - {name: engagement, weight: 100, score: "100 - days_since_engagement"}
transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead, churned], to: customer, on: [purchase]}
  - {name: promoter, from: [lead], to: customer, on: [nps], when: "nps >= 9"}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
kpis: {converted: customer}
`
	p, _, err := Parse("match.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEventMatch(t *testing.T) {
	long := strings.Repeat("Very Long Event Name ", 10)
	for _, tc := range []struct {
		name       string
		eventMatch string // the pack's event_match line ("" for none)
		call, ev   string
		want       string // category, "" for none
		wantName   string // the event variable ("" for ev itself)
	}{
		{"absent: exact", "", "track", "Order Completed", "purchase", ""},
		{"absent: other case misses", "", "track", "order completed", "", ""},
		{"absent: per-touchpoint case_insensitive still folds", "", "track", "nps responded", "nps", "NPS Responded"},
		{"exact: snake case misses", "event_match: exact", "track", "order_completed", "", ""},
		{"case_insensitive: lower case", "event_match: case_insensitive", "track", "order completed", "purchase", "Order Completed"},
		{"case_insensitive: upper case", "event_match: case_insensitive", "track", "ORDER COMPLETED", "purchase", "Order Completed"},
		{"case_insensitive: snake case misses", "event_match: case_insensitive", "track", "order_completed", "", ""},
		{"loose: verbatim", "event_match: loose", "track", "Order Completed", "purchase", ""},
		{"loose: RudderStack lower case", "event_match: loose", "track", "order completed", "purchase", "Order Completed"},
		{"loose: snake case", "event_match: loose", "track", "order_completed", "purchase", "Order Completed"},
		{"loose: kebab case", "event_match: loose", "track", "Order-Completed", "purchase", "Order Completed"},
		{"loose: two spaces are not one", "event_match: loose", "track", "Order  Completed", "", ""},
		{"loose: camel case is another name", "event_match: loose", "track", "OrderCompleted", "", ""},
		{"loose: a dot is not a separator", "event_match: loose", "stripe", "invoice_paid", "", ""},
		{"loose: a dot keeps, case folds", "event_match: loose", "stripe", "INVOICE.PAID", "purchase", "invoice.paid"},
		{"loose: simple folding: ß is not ss", "event_match: loose", "track", "STRASSE GEÖFFNET", "", ""},
		{"loose: Unicode simple folding", "event_match: loose", "track", "straße_GEÖFFNET", "engagement", "Straße Geöffnet"},
		{"loose: exact override keeps exact", "event_match: loose", "track", "signed_up", "", ""},
		{"loose: exact override, verbatim", "event_match: loose", "track", "Signed Up", "signup", ""},
		{"loose: case_insensitive override does not take snake case", "event_match: loose", "track", "nps_responded", "", ""},
		{"loose: a long name folds past the stack buffer", "event_match: loose", "track", strings.ToUpper(long), "cancel", long},
		{"loose: a longer name cannot match", "event_match: loose", "track", strings.ToUpper(long) + "x", "", ""},
		{"loose: unmapped name falls back to the call type", "event_match: loose", "page_ping", "", "engagement", ""},
		{"loose: invalid UTF-8 misses", "event_match: loose", "track", "Order\xffCompleted", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := matchPack(t, tc.eventMatch)
			cat, name := p.ClassifyName(tc.call, tc.ev)
			if got := p.CategoryName(cat); got != tc.want {
				t.Errorf("ClassifyName(%q, %q) category = %q, want %q", tc.call, tc.ev, got, tc.want)
			}
			want := tc.wantName
			if want == "" {
				want = tc.ev
			}
			if name != want {
				t.Errorf("ClassifyName(%q, %q) name = %q, want %q", tc.call, tc.ev, name, want)
			}
			if c := p.Classify(tc.call, tc.ev); c != cat {
				t.Errorf("Classify = %v, ClassifyName = %v", c, cat)
			}
		})
	}
}

// TestClassifyAllocatesNothing: the lookup runs once per event.
func TestClassifyAllocatesNothing(t *testing.T) {
	p := Default()
	for _, ev := range []string{"Order Completed", "order_completed", "ORDER-COMPLETED", "Cart Viewed In Detail", "straße", ""} {
		if n := testing.AllocsPerRun(100, func() { p.ClassifyName("track", ev) }); n != 0 {
			t.Errorf("ClassifyName(track, %q): %v allocations per call, want 0", ev, n)
		}
	}
}

func TestNearestEvent(t *testing.T) {
	p := Default()
	for _, tc := range []struct{ in, want string }{
		{"Order Complted", "Order Completed"},
		{"order_complete", "Order Completed"},
		{"Sigend Up", "Signed Up"},
		{"invoice.payed", "invoice.paid"},
		{"Webinar Attended", ""},
		{"", ""},
	} {
		if got, _ := p.NearestEvent(tc.in); got != tc.want {
			t.Errorf("NearestEvent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzFoldName(f *testing.F) {
	for _, s := range []string{"Order Completed", "order_completed", "STRASSE", "K\u212a", "\xff", "invoice.paid"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range []Match{MatchCaseInsensitive, MatchLoose} {
			// Folding is idempotent: a key is its own key, so a pack
			// name matches every spelling whose key it shares.
			k := foldKey(s, m)
			if k2 := foldKey(k, m); k2 != k {
				t.Fatalf("%v: key of %q is %q, whose key is %q", m, s, k, k2)
			}
			var buf [foldBuf]byte
			got, ok := foldName(buf[:0], s, m, len(k))
			if !ok || string(got) != k {
				t.Fatalf("%v: foldName(%q) with limit %d = %q, %v; want %q", m, s, len(k), got, ok, k)
			}
			if len(k) > 0 {
				if _, ok := foldName(buf[:0], s, m, len(k)-1); ok {
					t.Fatalf("%v: foldName(%q) fits %d bytes, but its key is %q", m, s, len(k)-1, k)
				}
			}
		}
	})
}
