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
	if p.Version != "default-2026.12" {
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
	const day = 24 * 3600 * 1000
	cases := []struct {
		in   string
		ms   int64
		fail string // a fragment of the error
	}{
		{in: "14d", ms: 14 * day},
		{in: "2w", ms: 14 * day},
		{in: "1w2d", ms: 9 * day},
		{in: "1d12h", ms: 36 * 3600 * 1000},
		{in: "2h30m", ms: (2*60 + 30) * 60 * 1000},
		{in: "90m", ms: 90 * 60 * 1000},
		{in: "90s", ms: 90 * 1000},
		{in: "1s500ms", ms: 1500},
		{in: "1y", ms: 365 * day},
		{in: "", fail: "empty duration: expected a duration such as 14d, 36h, 90m (units y, w, d, h, m, s, ms, largest first)"},
		{in: "14", fail: `duration "14": expected a duration such as 14d`},
		{in: "d", fail: `duration "d": expected a duration such as 14d`},
		{in: "-1d", fail: `duration "-1d": expected a duration such as 14d`},
		{in: "14dais", fail: `duration "14dais": unknown unit "dais"; expected a duration such as 14d, 36h, 90m (units y, w, d, h, m, s, ms, largest first), or 10 days`},
		// Units as words, the way people write them in a pack.
		{in: "10 days", ms: 10 * day},
		{in: "14days", ms: 14 * day},
		{in: "2 weeks", ms: 14 * day},
		{in: "1 week", ms: 7 * day},
		{in: "36 hours", ms: 36 * 3600 * 1000},
		{in: "90 minutes", ms: 90 * 60 * 1000},
		{in: "1 day 12 hours", ms: 36 * 3600 * 1000},
		{in: "2 weeks and 3 days", ms: 17 * day},
		{in: "1 Day, 12 Hours", ms: 36 * 3600 * 1000},
		{in: "30 seconds", ms: 30 * 1000},
		{in: "1 year", ms: 365 * day},
		{in: "10 d", ms: 10 * day},
		{in: "10 dayz", fail: `duration "10 dayz": unknown unit "dayz"; expected a duration such as 14d`},
		{in: "1.5 days", fail: `duration "1.5 days": use whole numbers (1d12h, not 1.5d)`},
		{in: "12 hours 1 day", fail: `duration "12 hours 1 day": units go largest first, each once: write 1d12h`},
		{in: "days", fail: `duration "days": expected a duration such as 14d`},
		{in: "0 days", fail: `duration "0 days" is zero`},
		{in: "ten days", fail: `duration "ten days": unknown unit "ten"`},
		{in: "0d", fail: `duration "0d" is zero: expected`},
		{in: "0", fail: `duration "0" is zero`},
		{in: "1.5d", fail: `duration "1.5d": use whole numbers (1d12h, not 1.5d)`},
		{in: "12h1d", fail: `duration "12h1d": units go largest first, each once: write 1d12h`},
		{in: "1d1d", fail: `duration "1d1d": units go largest first, each once: write 2d`},
		{in: "30m2h", fail: `write 2h30m`},
		{in: "300y", fail: `duration "300y" is too long: at most about 292y`},
		{in: "99999999999999999999d", fail: `is too long`},
	}
	for _, tc := range cases {
		ms, err := ParseDuration(tc.in)
		switch {
		case tc.fail == "" && (err != nil || ms != tc.ms):
			t.Errorf("ParseDuration(%q) = %d, %v; want %d", tc.in, ms, err, tc.ms)
		case tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)):
			t.Errorf("ParseDuration(%q) = %d, %v; want an error with %q", tc.in, ms, err, tc.fail)
		}
	}
}

// FuzzParseDuration: a duration that parses is positive and written back
// the same way parses to the same value.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"14d", "1d12h", "90m", "1s500ms", "12h1d", "1.5d", "0", "300y", "1y2w3d4h5m6s7ms", "10 days", "1 day, 12 hours", "2 weeks and 3 days", "12 hours 1 day"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseDuration(s)
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error")
			}
			return
		}
		if ms <= 0 {
			t.Fatalf("ParseDuration(%q) = %d", s, ms)
		}
		if back, err := ParseDuration(formatDuration(ms)); err != nil || back != ms {
			t.Errorf("%q = %d ms, written %s, read back %d, %v", s, ms, formatDuration(ms), back, err)
		}
	})
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

// Pack.Converted and Pack.Churned are what the engine's KPIs count from.
func TestKPIStages(t *testing.T) {
	valid := validPack(t)
	noKPIs := strings.Replace(valid, "kpis: {converted: customer}\n", "", 1)
	cases := []struct {
		name, yaml         string
		converted, churned string
		warnings           int
	}{
		{name: "the default pack", yaml: string(DefaultYAML()), converted: "conversion", churned: "churned"},
		{name: "named", yaml: valid, converted: "customer", churned: "churned"},
		{name: "left out: the defaults, where the pack has them", yaml: noKPIs, churned: "churned", warnings: 1},
		{name: "written empty", yaml: noKPIs + "kpis: {converted: \"\", churned: \"\"}\n"},
		{name: "through a YAML merge", yaml: noKPIs + "kpis: {<<: {converted: lead}, churned: customer}\n", converted: "lead", churned: "customer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, diags, err := Parse("p.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if p.Converted != tc.converted || p.Churned != tc.churned {
				t.Errorf("converted %q, churned %q; want %q, %q", p.Converted, p.Churned, tc.converted, tc.churned)
			}
			if w := Warnings(diags); len(w) != tc.warnings {
				t.Errorf("warnings %v, want %d", w, tc.warnings)
			}
		})
	}
}
