package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAnalyzeConditions(t *testing.T) {
	// In a transition from retention on nps or referral, with the default
	// domains of the variables.
	sc := baseScope()
	sc.strs[Stage] = strSet("retention")
	sc.strs[Touchpoint] = strSet("nps", "referral")
	sc = sc.normalize()
	cases := []struct {
		name, expr string
		can        truth // may be true, may be false
	}{
		{"open condition", "has_nps && nps <= 6", truth{true, true}},
		{"contradiction on one variable", "nps >= 9 && nps <= 6", truth{false, true}},
		{"strict bounds meet", "nps >= 9 && nps < 9", truth{false, true}},
		{"outside the domain", "nps > 10", truth{false, true}},
		{"has_nps bounds nps", "has_nps && nps < 0", truth{false, true}},
		{"no answer is -1", "!has_nps && nps == -1", truth{true, true}},
		{"counts are never negative", "purchases >= 0", truth{true, false}},
		{"score is 0-100", "score <= 100 || purchases > 3", truth{true, false}},
		{"touchpoint outside on", `touchpoint == "purchase"`, truth{false, true}},
		{"touchpoint inside on", `touchpoint == "referral" || nps >= 9`, truth{true, true}},
		{"stage is known", `stage in ["retention", "loyalty"]`, truth{true, false}},
		{"narrowed by or", `(nps <= 3 || nps <= 4) && nps == 5`, truth{false, true}},
		{"arithmetic", "engagement_7d * 2 + 1 > 0", truth{true, false}},
		{"division by zero is 0", "purchases / 0 == 0", truth{true, true}},
		{"clamp", "clamp(revenue, 0, 100) > 100", truth{false, true}},
		{"ternary", "(has_nps ? nps : 5) > 10", truth{false, true}},
		{"min and max", "min(purchases, 3) > 3 || max(refunds, 2) < 2", truth{false, true}},
		{"abs", "abs(revenue) < 0", truth{false, true}},
		{"compare two variables", "engagement_7d < 0.5 * baseline_weekly", truth{true, true}},
		{"not", "!(purchases >= 0)", truth{false, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := compileBool(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := sc.boolOf(n); !reflect.DeepEqual(got, tc.can) {
				t.Errorf("%s: may be true/false = %v/%v, want %v/%v", tc.expr, got.t, got.f, tc.can.t, tc.can.f)
			}
		})
	}
}

func TestAnalyzeNumbers(t *testing.T) {
	sc := baseScope().normalize()
	cases := []struct {
		expr   string
		lo, hi float64
	}{
		{"0.5 * clamp(100 - days_since_engagement * 100 / 30, 0, 100) + 0.5 * min(100, engagement_30d * 5)", 0, 100},
		{"has_nps ? nps * 10 : 75", 0, 100},
		{"max(0, 100 - open_tickets * 25)", 0, 100},
		{"max(0, (payment_failing ? 40 : 100) - refunds * 15)", 0, 100},
	}
	for _, tc := range cases {
		_, n, err := compileNum(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sc.numOf(n); got.lo != tc.lo || got.hi != tc.hi {
			t.Errorf("%s: range [%v, %v], want [%v, %v]", tc.expr, got.lo, got.hi, tc.lo, tc.hi)
		}
	}
}

// Narrowing under alternating and/or is exponential in the nesting depth;
// the analysis budget keeps a pathological condition from stalling a load
// (a reload must never hang).
func TestAnalyzeDeepNestingIsBounded(t *testing.T) {
	cond := "nps > 1"
	for i := 0; i < 60; i++ {
		if i%2 == 0 {
			cond = "(" + cond + " && nps > 2)"
		} else {
			cond = "(" + cond + " || nps > 3)"
		}
	}
	valid := validPack(t)
	src := valid[:strings.Index(valid, "alerts:")] + "alerts:\n  - {name: x, severity: info, reasons: [\"{nps}\"], when: \"" + cond + "\"}\n"
	start := time.Now()
	if _, _, err := Parse("p.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Parse took %v", d)
	}
}
