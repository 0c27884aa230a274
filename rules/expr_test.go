package rules

import (
	"math"
	"testing"
)

// TestNumbers evaluates numeric expressions as the engine does, through
// the compiled closures.
func TestNumbers(t *testing.T) {
	var v Vars
	v.Num[Revenue] = 17.5
	v.Num[NPS] = -7
	v.Num[Purchases] = 3
	cases := []struct {
		name, expr string
		want       float64
	}{
		{"arithmetic", "purchases * 2 + 1 - 4 / 2", 5},
		{"division by zero is 0", "revenue / (purchases - 3)", 0},
		{"power", "purchases ** 2 + 2 ^ 3", 17},
		// % is math.Mod: the remainder of a / b, fractions included,
		// with the sign of a; a % 0 is 0, as a / 0 is.
		{"% of a variable", "revenue % 7", 3.5},
		{"% of a fraction", "7.5 % 2", 1.5},
		{"% by a variable", "20 % purchases", 2},
		{"% of two variables", "revenue % purchases", 2.5},
		{"% of a negative", "nps % 3", -1},
		{"% by a negative", "7 % -3", 1},
		{"% by zero", "revenue % 0", 0},
		{"% of integers by zero", "7 % 0", 0},
		{"% by a variable that is zero", "revenue % (purchases - 3)", 0},
		{"% twice", "(revenue % 7) % 2", 1.5},
		{"% binds like *", "1 + revenue % 7 * 2", 8},
		{"% in a function", "max(revenue % 7, 1)", 3.5},
		{"% of a choice", "(has_nps ? 9 : revenue) % 4", 1.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _, err := compileNum(tc.expr)
			if err != nil {
				t.Fatalf("%s: %v", tc.expr, err)
			}
			if got := f(&v); got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
				t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
}

// A compiled expression allocates nothing per evaluation.
func TestExpressionsDoNotAllocate(t *testing.T) {
	var v Vars
	v.Num[Revenue] = 17.5
	f, _, err := compileBool("revenue % 7 > 3 && clamp(revenue / 2, 0, 100) < 50")
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { f(&v) }); n != 0 {
		t.Errorf("%v allocations per evaluation", n)
	}
}
