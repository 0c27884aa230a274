package decode

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/valyala/fastjson"
)

func TestCheckStrict(t *testing.T) {
	valid := []string{
		`{}`, `[]`, `""`, `0`, `-0`, `-0.0e-0`, `1E+2`, `123.456e7`, `true`, `false`, `null`,
		`{"a":[1,-2.5,true,false,null,"x",{"b":{}}]}`,
		`"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`,
		"{\"a\" : 1 ,\r\n\t\"b\":\"\xff\xfe invalid UTF-8 is not checked, as with encoding/json\"}",
		`"a long string of more than eight bytes, to use the word-at-a-time path \u0041"`,
		`[1,2,3,4,5,6,7,8,9,10,11,12]`,
	}
	invalid := []string{
		`NaN`, `nan`, `-Inf`, `inf`, `[+1]`, `[.5]`, `[1.]`, `[1.e5]`, `[01]`, `[-01]`, `[1e]`, `[1e+]`,
		`[1-2]`, `[--1]`, `[-]`, `[1ee2]`, `[0x10]`,
		`"\q"`, `"\u12"`, `"\u12G4"`, `"\x41"`, "\"a\x00b\"", "\"tab\there\"", "\"\x1f\"",
		"\"a long string with a control character \x01 after eight bytes\"",
	}
	for _, s := range valid {
		if !json.Valid([]byte(s)) {
			t.Fatalf("test case %q is not valid JSON", s)
		}
		if _, err := fastjson.Parse(s); err != nil {
			t.Fatalf("fastjson rejects %q: %v", s, err)
		}
		if at, msg := checkStrict([]byte(s)); at >= 0 {
			t.Errorf("checkStrict(%q) = %d, %q; want valid", s, at, msg)
		}
	}
	for _, s := range invalid {
		if json.Valid([]byte(s)) {
			t.Fatalf("test case %q is valid JSON", s)
		}
		if _, err := fastjson.Parse(s); err != nil {
			continue // rejected already, never reaches checkStrict
		}
		if at, _ := checkStrict([]byte(s)); at < 0 {
			t.Errorf("checkStrict(%q) accepts invalid JSON", s)
		}
	}
}

// FuzzStrictJSON checks that fastjson's parser followed by checkStrict
// accepts exactly what encoding/json's Valid does (below fastjson's nesting
// limit), and that scan, which runs first, never rejects valid JSON as
// malformed.
func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,-2.5e3,true,null,"x\n\u00e9"]}`, `[1-2]`, `NaN`, `"\q"`, "\"\x01\"", `[+1]`, `{"a":01}`,
		benchTrack,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// scan runs before the parser, on any input: what it reports is
		// invalid whatever the structure.
		if _, at, msg, complex := scan(b, math.MaxInt); at >= 0 && !complex && json.Valid(b) {
			t.Fatalf("scan(%q) = %d %q on valid JSON", b, at, msg)
		}
		var p fastjson.Parser
		if _, err := p.ParseBytes(b); err != nil {
			return
		}
		at, msg := checkStrict(b)
		if want := json.Valid(b); want != (at < 0) {
			t.Fatalf("checkStrict(%q) = %d %q, json.Valid = %v", b, at, msg, want)
		}
	})
}
