package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The default pack must load without a single diagnostic: it is the
// example every user copies.
func TestDefaultPackIsClean(t *testing.T) {
	p, diags, err := Parse(DefaultFile, DefaultYAML())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diags {
		t.Errorf("%s", d)
	}
	if p.Version != "default-2026.11" {
		t.Errorf("version %q", p.Version)
	}
}

// A reload logs Parse's error: it must name the file and every problem,
// one per line, each with its position.
func TestInvalidErrorListsEveryError(t *testing.T) {
	src := strings.Replace(validPack(t), "to: customer, on: [purchase]", "to: custmer, on: [purchse]", 1)
	_, _, err := Parse("packs/p.yaml", []byte(src))
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an *InvalidError", err)
	}
	want := []string{
		`packs/p.yaml:16:40: error: unknown stage "custmer"`,
		`packs/p.yaml:16:54: error: unknown touchpoint category "purchse"`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) || len(ie.Diags) != len(want) {
		t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %s\nwant prefix %s", i, lines[i], w)
		}
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		ms   int64
		fail bool
	}{
		{in: "14d", ms: 14 * 24 * 3600 * 1000},
		{in: "1w2d", ms: 9 * 24 * 3600 * 1000},
		{in: "2h30m", ms: (2*60 + 30) * 60 * 1000},
		{in: "90s", ms: 90 * 1000},
		{in: "", fail: true},
		{in: "14", fail: true},
		{in: "14days", fail: true},
		{in: "0d", fail: true},
		{in: "1.5d", fail: true},
	}
	for _, tc := range cases {
		ms, err := ParseDuration(tc.in)
		if (err != nil) != tc.fail || ms != tc.ms {
			t.Errorf("ParseDuration(%q) = %d, %v", tc.in, ms, err)
		}
	}
}

// FuzzParse: no input makes Parse panic, every diagnostic is positioned,
// and err is set exactly when a diagnostic is an error.
func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	packs, _ := filepath.Glob(filepath.Join("testdata", "check", "*.yaml"))
	for _, path := range packs {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("stages: [a]\ntransitions: [{name: x, to: a, on: [reach], when: \"nps > \"}]\n"))
	f.Add([]byte("alerts:\n  - &a {name: x, when: true}\n  - *a\n  - {<<: *a, name: y}\n"))
	f.Add([]byte("health: {components: [{name: c, weight: 50%, score: |\n    1 +\n      nps\n  }]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, diags, err := Parse("f.yaml", data)
		errs := 0
		for _, d := range diags {
			if d.Line < 1 || d.Col < 1 {
				t.Errorf("unpositioned diagnostic: %s", d)
			}
			if !d.Warning {
				errs++
			}
		}
		if (err != nil) != (errs > 0) || (err == nil) != (p != nil) {
			t.Errorf("err %v, %d errors, pack %v", err, errs, p != nil)
		}
	})
}

func TestErrorsAndWarnings(t *testing.T) {
	list := []Diagnostic{
		{Line: 1, Msg: "a"},
		{Line: 2, Warning: true, Msg: "b"},
		{Line: 3, Msg: "c"},
	}
	if got := Errors(list); len(got) != 2 || got[0].Msg != "a" || got[1].Msg != "c" {
		t.Errorf("Errors = %v", got)
	}
	if got := Warnings(list); len(got) != 1 || got[0].Msg != "b" {
		t.Errorf("Warnings = %v", got)
	}
	if Errors(list[1:2]) != nil || Warnings(nil) != nil {
		t.Error("want nil when there is none")
	}
}
