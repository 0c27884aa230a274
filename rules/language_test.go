package rules

import (
	"regexp"
	"strings"
	"testing"
)

// goSpeak matches what a rule author must never read in an error: Go
// type names and expr's internals.
var goSpeak = regexp.MustCompile(`\*ast\.|interface \{\}|\[\]|map\[|time\.Time|time\.Duration|\b(float64|int|int64|uint8|bool|string)\b|reflect|\b(Operator|Bracket|Identifier|Number|String)\(|\btoken\b|mismatched|non-bool`)

// outsideTheLanguage are expressions a rule author may try: what expr
// has and rules do not, type mistakes and syntax errors.
var outsideTheLanguage = []string{
	`len(stage) > 3`, `upper(stage) == "A"`, `now() > 1`, `foo(1) > 1`, `clmap(nps, 0, 1) > 1`,
	`stage[0] == "a"`, `[1,2][0] > 1`, `{a: 1}.a > 1`, `stage.x == "a"`, `nps.x > 1`, `stage[1:2] == "a"`,
	`stage matches "x"`, `stage contains "x"`, `stage startsWith "a"`, `(nps ?? 2) > 1`, `1..3 == [1,2,3]`,
	`nps in 1..3`, `let x = 1; x > 0`, `nps > 1; nps > 2`, `map([1], #) == [1]`, `all([1], # > 0)`,
	`filter([1], .x) == [1]`, `nil == nil`, `stage == nil`, `abs(1,2) > 0`, `-stage == ""`, `!nps`,
	`(has_nps ? 1 : "a") == 1`, `stage < "a"`, `has_nps < true`, `has_nps in [true]`, `nps in [1, "a"]`,
	`stage in [1]`, `nps in [nps]`, `stage in stage`, `nps ? true : false`, `has_nps ? true : 1`,
	`has_nps ? nps : 1`, `stage`, `nps`, `[1]`, `{}`, `stage % 2 == 1`, `has_nps + 1 > 0`, `nps && has_nps`,
	`stage > 3`, `min(stage, 1) > 0`, `clamp(stage, 0, 1) > 0`, `clamp(1, 2) > 0`, `max(nps) > 1`,
	`round(1, 2) > 1`, `b"x" == stage`, `$env.nps > 1`, `$env > 1`, `nps |> abs() > 1`, `sum([1]) > 0`,
	`int(nps) > 1`, `string(nps) == "1"`, `date("x") > 1`, `duration("1h") > 1`, `type(nps) == "int"`,
	`nps?.x > 1`, `#index > 1`, `.x > 1`, `toJSON(nps) == ""`, `"a" + "b" == stage`, `has_nps ? 1 : "x"`,
	`nps > 1 ? stage : 2`, `(has_nps ? nps : stage) + 1`, `stage == (has_nps ? "a" : 1)`, `nps >`, `(nps`,
	`nps > 1)`, `"abc`, `nps @ 2`, `1 +* 2`, ``, `nps > 1 ? 2`, `in`, `[1,`, `nps = 1`, `string > 1`,
	`mod(nps, 2) == 0`, `1e999 > nps`, `0x > 1`, `nps > 99999999999999999999`, `"\q" == stage`,
}

// Every expression error is worded for a rule author, as a condition and
// as a number.
func TestExpressionErrorsSpeakRules(t *testing.T) {
	for _, src := range outsideTheLanguage {
		checkWording(t, src)
	}
}

// checkWording compiles src as a condition and as a number, and fails on
// an error message that speaks Go.
func checkWording(t *testing.T, src string) {
	t.Helper()
	for _, asNum := range []bool{false, true} {
		var err error
		if asNum {
			_, _, err = compileNum(src)
		} else {
			_, _, err = compileBool(src)
		}
		if err == nil {
			continue
		}
		if bad := goSpeakIn(src, err.Error()); bad != "" {
			t.Errorf("%q: %q in the message %q", src, bad, err)
		}
	}
}

// goSpeakIn returns the first Go-speak of msg that src does not contain
// itself (a message may quote the expression's own words).
func goSpeakIn(src, msg string) string {
	for _, m := range goSpeak.FindAllString(msg, -1) {
		if !strings.Contains(src, m) {
			return m
		}
	}
	return ""
}

// FuzzExpression: no expression makes the compiler panic, and no error
// speaks Go.
func FuzzExpression(f *testing.F) {
	for _, src := range outsideTheLanguage {
		f.Add(src)
	}
	f.Add("clamp(100 - days_since_engagement * 100 / 30, 0, 100)")
	f.Add(`has_nps && nps <= 6 || stage in ["retention", "loyalty"] && revenue % 7 > 1`)
	f.Fuzz(checkWording)
}
