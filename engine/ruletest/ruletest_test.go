package ruletest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/rules"
)

// The default pack's tests ship beside it and must pass.
func TestDefaultPackTests(t *testing.T) {
	res, err := RunFile(context.Background(), "../../rules/default_test.yaml", Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cases) < 10 {
		t.Fatalf("%d tests ran", len(res.Cases))
	}
	for _, c := range res.Cases {
		if c.Checks == 0 {
			t.Errorf("test %q checked nothing", c.Name)
		}
	}
	for _, f := range res.Failures() {
		t.Errorf("%s", f)
	}
	if res.Pack != rules.DefaultFile || res.Version != rules.Default().Version {
		t.Errorf("pack %s version %s", res.Pack, res.Version)
	}
}

// default_test.yaml covers the whole default pack: every transition is
// expected somewhere, every alert fires and resolves, every band shows.
// A rule added to the pack without a test fails here.
func TestDefaultPackTestsCoverThePack(t *testing.T) {
	data, err := os.ReadFile("../../rules/default_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile("default_test.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range f.Tests {
		for _, x := range c.Expect {
			if x.Transitions != nil {
				for _, tr := range *x.Transitions {
					seen["transition "+tr] = true
				}
			}
			if x.Alerts != nil {
				for _, a := range *x.Alerts {
					seen["alert "+a.Rule+" "+a.Status] = true
				}
			}
			if x.Band != nil {
				seen["band "+*x.Band] = true
			}
		}
	}
	pack := rules.Default()
	var want []string
	for _, tr := range pack.Transitions {
		want = append(want, "transition "+tr.Name)
	}
	for _, a := range pack.Alerts {
		want = append(want, "alert "+a.Name+" firing", "alert "+a.Name+" resolved")
	}
	want = append(want, "band green", "band yellow", "band red")
	for _, w := range want {
		if !seen[w] {
			t.Errorf("rules/default_test.yaml has no expectation of %s", w)
		}
	}
}

// A pack named relative to the test file, with its warnings reported.
func TestPackRelativeToTheTestFile(t *testing.T) {
	res, err := RunFile(context.Background(), "testdata/trial_test.yaml", Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures() {
		t.Errorf("%s", f)
	}
	if res.Pack != "testdata/trial.yaml" || res.Version != "trial-1" || len(res.Cases) != 2 {
		t.Errorf("pack %s, version %s, %d tests", res.Pack, res.Version, len(res.Cases))
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Msg, "stage customer has no way out") {
		t.Errorf("warnings %v", res.Warnings)
	}
}

// The unit-test example of rules/README.md runs and passes (against
// testdata/trial.yaml, the pack it describes).
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../rules/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n# trial_test.yaml")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("rules/README.md has no trial_test.yaml example")
	}
	res, err := Run(context.Background(), "testdata/readme_test.yaml", []byte("#"+example), Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures() {
		t.Errorf("%s", f)
	}
	if len(res.Cases) != 1 || res.Cases[0].Checks < 10 {
		t.Errorf("%+v", res.Cases)
	}
}

const wrong = `rules: default
start: 2026-01-05T00:00:00Z
tests:
  - name: promoter
    customer: cy
    events:
      - {at: +0, event: Order Completed}
      - {at: +1d, event: Order Completed}
      - {at: +2d, event: NPS Responded, score: 9}
    expect:
      - {at: +1d, stage: retention}
      - at: +2d
        stage: retention
        alerts: [detractor]
        band: red
        score: 10..20
  - name: right
    customer: dee
    events:
      - {at: +0, event: Signed Up}
    expect:
      - {at: +0, stage: acquisition}
`

// A wrong expectation fails, and says where, what was expected, what
// happened, and what the engine output.
func TestWrongExpectationFails(t *testing.T) {
	res, err := Run(context.Background(), "packs/wrong_test.yaml", []byte(wrong), Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed() {
		t.Fatal("the run passed")
	}
	fs := res.Failures()
	if len(fs) != 1 {
		t.Fatalf("%d failures, want 1: %v", len(fs), fs)
	}
	got := fs[0].String()
	for _, want := range []string{
		`packs/wrong_test.yaml:12: test "promoter": at +2d (2026-01-07T00:00:00Z), customer cy:`,
		"\n  stage: expected retention, got loyalty\n",
		"\n  alerts since +1d: expected [detractor firing], got []; missing [detractor firing]\n",
		"\n  band: expected red, got 77 green\n",
		"\n  score: expected 10..20, got 77 green\n",
		"\n  now: stage loyalty, health 77 green, open alerts []\n",
		"\n  outputs for cy since +1d:\n    +2d      stage retention -> loyalty by advocate (event e3, line 9)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("failure message lacks %q:\n%s", want, got)
		}
	}
	if res.Cases[1].Failures != nil || res.Cases[1].Checks != 1 {
		t.Errorf("the other test: %+v", res.Cases[1])
	}

	// --run selects tests by name.
	res, err = Run(context.Background(), "packs/wrong_test.yaml", []byte(wrong), Options{TempDir: t.TempDir(), Run: regexp.MustCompile("^right$")})
	if err != nil || res.Failed() || len(res.Cases) != 1 {
		t.Errorf("with Run: err %v, %+v", err, res)
	}
}

func TestInvalidTestFiles(t *testing.T) {
	base := "rules: default\ntests:\n  - name: t\n    customer: c\n    events:\n      - {at: +0, event: Signed Up}\n    expect:\n"
	cases := []struct {
		name string
		yaml string
		want []string // "line:col: text"
	}{
		{"empty", "", []string{"1:1: the file is empty"}},
		{"YAML syntax", "rules: default\ntests: [\n", []string{"2:1: YAML syntax"}},
		{"no rules", "tests: []\n", []string{"1:1: rules is required"}},
		{"unknown key", base + "      - {at: +1d, stag: acquisition}\n", []string{`8:19: unknown key "stag" in a check`}},
		{"bad time", base + "      - {at: tomorrow, stage: acquisition}\n", []string{`8:14: at: "tomorrow" is neither an offset`}},
		{"bad range", base + "      - {at: +0, score: 50-60}\n", []string{`8:25: score: "50-60" is not a score or a range`}},
		{"repeat without every", strings.Replace(base, "Signed Up}", "Signed Up, repeat: 3}", 1) + "      - {at: +0, stage: acquisition}\n",
			[]string{"6:44: repeat needs every"}},
		{"unknown call", strings.Replace(base, "event: Signed Up", "call: pageview", 1) + "      - {at: +0, stage: acquisition}\n",
			[]string{`6:24: call: unknown call type "pageview"`}},
		{"no customer", strings.Replace(base, "    customer: c\n", "", 1) + "      - {at: +0, stage: acquisition}\n",
			[]string{"5:9: event: customer is required", "7:9: check: customer is required"}},
		{"names the pack does not have", base + "      - {at: +0, stage: aquisition, open: [silent], transitions: [sign-up]}\n",
			[]string{`8:25: stage "aquisition" is not a stage of the pack`, `8:44: alert "silent" is not in the pack`, `8:67: transition "sign-up" is not in the pack`}},
		{"missing pack file", "rules: nowhere.yaml\ntests: []\n", []string{"1:1: rules: cannot read the pack"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), "t_test.yaml", []byte(tc.yaml), Options{TempDir: t.TempDir()})
			var ie *rules.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want a *rules.InvalidError", err)
			}
			if len(ie.Diags) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d:\n%v", len(ie.Diags), len(tc.want), err)
			}
			for i, w := range tc.want {
				where, text, _ := strings.Cut(w, ": ")
				d := ie.Diags[i]
				if got := fmt.Sprintf("%d:%d", d.Line, d.Col); got != where || !strings.Contains(d.Msg, text) || d.File != "t_test.yaml" {
					t.Errorf("diagnostic %d: %s, want %s: ...%s", i, d, where, text)
				}
			}
		})
	}
}

// An invalid pack stops the run with the pack's own diagnostics.
func TestInvalidPack(t *testing.T) {
	read := func(string) ([]byte, error) { return []byte("stages: [a]\nwhat: 1\n"), nil }
	_, err := Run(context.Background(), "dir/t_test.yaml", []byte("rules: p.yaml\ntests: []\n"), Options{ReadFile: read})
	var ie *rules.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want the pack's *rules.InvalidError", err)
	}
	found := false
	for _, d := range ie.Diags {
		found = found || (d.File == "dir/p.yaml" && d.Line == 2 && strings.Contains(d.Msg, `unknown key "what"`))
	}
	if !found {
		t.Errorf("err = %v", err)
	}
}

func TestOffset(t *testing.T) {
	for ms, want := range map[int64]string{
		0:                    "+0",
		14 * 24 * 3600000:    "+14d",
		(26*60 + 30) * 60000: "+1d2h30m",
		-3600000:             "-1h",
		1500:                 "+1s500ms",
	} {
		if got := Offset(ms); got != want {
			t.Errorf("Offset(%d) = %s, want %s", ms, got, want)
		}
		if back, ok := parseOffset(want); ms%1000 == 0 && (!ok || back != ms) {
			t.Errorf("parseOffset(%s) = %d, %v", want, back, ok)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(wrong))
	f.Add([]byte("rules: default\ntests:\n  - {name: x, customer: c, events: [{call: page, repeat: 2, every: 1h}], expect: [{at: +1h, score: \">= 5\", components: {a: 1..2}}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile("f_test.yaml", data)
		var ie *rules.InvalidError
		if err != nil && !errors.As(err, &ie) {
			t.Fatalf("err %v is not an *InvalidError", err)
		}
		if err == nil && file == nil {
			t.Fatal("no file and no error")
		}
		if ie != nil {
			for _, d := range ie.Diags {
				if d.Line < 1 || d.Col < 1 {
					t.Errorf("unpositioned: %s", d)
				}
			}
		}
	})
}

// An event that matches no touchpoint fails its test, at the event's
// line, with the nearest name of the pack; unmapped: true says it is
// meant, and is itself checked. The other tests of the file still run.
func TestUnmappedEventFails(t *testing.T) {
	const src = `rules: default
tests:
  - name: typo
    customer: a
    events:
      - {at: +0, event: Order Complted}
      - {at: +1d, call: identify}
    expect:
      - {at: +1d, stage: new}
  - name: meant
    customer: b
    events:
      - {at: +0, event: Webinar Attended, unmapped: true}
      - {at: +1d, call: stripe, event: invoice.paid, unmapped: true}
      - {at: +2d, call: zendesk, event: ticket.created, repeat: 2, every: 1h}
    expect:
      - {at: +2d, stage: conversion}
  - name: fine
    customer: c
    events:
      - {at: +0, call: page_ping}
      - {at: +1d, event: order_completed}
    expect:
      - {at: +1d, stage: conversion}
`
	res, err := Run(context.Background(), "u_test.yaml", []byte(src), Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Failures() {
		got = append(got, f.String())
	}
	want := []string{
		`u_test.yaml:6: test "typo": event "Order Complted" matches no touchpoint of the pack, so it changes nothing but first and last seen; did you mean "Order Completed" (purchase)? (an event meant to match none takes unmapped: true)`,
		`u_test.yaml:7: test "typo": the identify call matches no touchpoint of the pack, so it changes nothing but first and last seen (an event meant to match none takes unmapped: true)`,
		`u_test.yaml:14: test "meant": event "invoice.paid" is marked unmapped: true but matches touchpoint purchase`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(res.Cases) != 3 || len(res.Cases[2].Failures) != 0 || res.Cases[2].Checks != 1 {
		t.Errorf("cases %+v: the test without unmapped events should run and pass", res.Cases)
	}
}

// A misspelt stage, alert or transition name in a test gets the pack's
// closest name, as rules check gives one in a pack.
func TestMisspeltNamesGetASuggestion(t *testing.T) {
	src := "rules: default\ntests:\n  - name: t\n    customer: c\n    events:\n      - {at: +0, event: Signed Up}\n    expect:\n" +
		"      - {at: +0, stage: aquisition, open: [silent], no_alert: [detracter], transitions: [sign-up]}\n"
	_, err := Run(context.Background(), "t_test.yaml", []byte(src), Options{TempDir: t.TempDir()})
	var ie *rules.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want a *rules.InvalidError", err)
	}
	want := map[string]string{"aquisition": "acquisition", "silent": "silent-customer", "detracter": "detractor", "sign-up": "signup"}
	for typo, name := range want {
		found := false
		for _, d := range ie.Diags {
			found = found || strings.Contains(d.Msg, fmt.Sprintf("%q", typo)) && strings.HasSuffix(d.Msg, fmt.Sprintf("; did you mean %q?", name))
		}
		if !found {
			t.Errorf("no diagnostic on %q suggests %q:\n%v", typo, name, err)
		}
	}
}

// A pack's traits come from identify calls (and a track call's
// context.traits) written in the test file, and drive its alerts and
// health.
func TestTraitsPackTests(t *testing.T) {
	res, err := RunFile(context.Background(), "testdata/traits_test.yaml", Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures() {
		t.Errorf("%s", f)
	}
	if len(res.Cases) != 4 {
		t.Errorf("%d tests ran, want 4", len(res.Cases))
	}
}

// A pack's profiles pick each customer's params, health weights and
// alerts: the same events alert one customer and not another.
func TestProfilesPackTests(t *testing.T) {
	res, err := RunFile(context.Background(), "testdata/profiles_test.yaml", Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures() {
		t.Errorf("%s", f)
	}
	if len(res.Cases) != 3 {
		t.Errorf("%d tests ran, want 3", len(res.Cases))
	}
}

// A misspelt profile in a check is an error of the test file, at its
// place, with the pack's likely one.
func TestProfileTypoInACheck(t *testing.T) {
	src, err := os.ReadFile("testdata/profiles_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	typo := strings.Replace(string(src), "profile: enterprise, alerts", "profile: enterprse, alerts", 1)
	_, err = Run(context.Background(), "testdata/profiles_test.yaml", []byte(typo), Options{TempDir: t.TempDir()})
	want := `testdata/profiles_test.yaml:12:44: error: profile "enterprse" is not in the pack (expected one of onboarding, enterprise, or "" for none); did you mean "enterprise"?`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err %v, want %s", err, want)
	}
}
