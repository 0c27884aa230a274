package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rulesCLI runs `lifeline rules ...` in-process and returns its exit code
// and what it printed.
func rulesCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"rules"}, args...), bytes.NewReader(nil), &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const smallPack = `version: small-1
touchpoints:
  signup: {events: [Signed Up]}
  purchase: {events: [Order Completed]}
  cancel: {events: [Cancelled]}
stages: [lead, customer, churned]
transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead, churned], to: customer, on: [purchase]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
health:
  components:
    - {name: support, weight: 100, score: "max(0, 100 - open_tickets * 25)"}
alerts:
  - {name: tickets, severity: warning, when: open_tickets >= 3, reasons: ["{open_tickets} open"]}
kpis: {converted: customer}
`

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", smallPack)
	// Three mistakes: a misspelt key, an unknown stage, a transition that
	// an earlier one shadows; and a warning.
	bad := writeFile(t, dir, "bad.yaml", strings.NewReplacer(
		"  - {name: cancel, from: [customer], to: churned, on: [cancel]}\n",
		"  - {name: cancel, from: [customer], to: churned, on: [cancel]}\n  - {name: cancel-2, from: [customer], to: churned, on: [cancel], when: revenue > 10}\n",
		"to: lead,", "to: leed,",
		"severity: warning,", "severity: warning, resolv: open_tickets < 2,",
	).Replace(smallPack))
	warnOnly := writeFile(t, dir, "warn.yaml", strings.Replace(smallPack, "when: open_tickets >= 3", "when: open_tickets >= 0", 1))

	cases := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"the built-in pack", []string{"check", "default"}, 0, []string{"ok    rules/default.yaml: version default-2026.12, 6 stages, 11 transitions, 6 alerts, 4 health components\n"}},
		{"the shipped files", []string{"check", "../../rules/default.yaml", "../../rules/default_test.yaml"}, 0, []string{
			"ok    ../../rules/default.yaml: version default-2026.12,",
			"ok    ../../rules/default_test.yaml: 29 tests of rule pack rules/default.yaml (default-2026.12)\n",
		}},
		{"a pack with profiles lists them", []string{"check", "../../rules/testdata/check/profiles-valid.yaml"}, 0, []string{"ok    ../../rules/testdata/check/profiles-valid.yaml: version t1, 3 stages, 4 transitions, 1 alert, 2 health components, 1 trait (plan), 3 profiles (onboarding, enterprise, everyone)\n"}},
		{"a valid pack", []string{"check", good}, 0, []string{"ok    " + good + ": version small-1, 3 stages, 3 transitions, 1 alert, 1 health component\n"}},
		{"every error at once", []string{"check", bad, good}, 1, []string{
			bad + ":8:37: error: unknown stage \"leed\" (expected one of lead, customer, churned); did you mean \"lead\"?\n",
			bad + ":11:5: error: transition cancel-2 can never fire: transition cancel (line 10) comes first and always matches (from customer on cancel)\n",
			bad + ":16:40: error: unknown key \"resolv\" in an alert (expected one of name, description, severity, stages, when, after, since, resolve, for, cooldown, unless, reasons, resolve_reasons); did you mean \"resolve\"?\n",
			"FAIL  " + bad + ": 3 errors\n",
			"ok    " + good + ":",
		}},
		{"warnings do not fail", []string{"check", warnOnly}, 0, []string{
			warnOnly + ":15:5: warning: alert tickets can never resolve: its when is always true",
			"ok    " + warnOnly + ": version small-1, 3 stages, 3 transitions, 1 alert, 1 health component, 1 warning\n",
		}},
		{"a missing file", []string{"check", filepath.Join(dir, "nope.yaml")}, 1, []string{"FAIL  " + filepath.Join(dir, "nope.yaml") + ": open "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := rulesCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.wants {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestRulesTest(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "small.yaml", smallPack)
	pass := writeFile(t, dir, "small_test.yaml", `rules: small.yaml
tests:
  - name: buys, cancels, comes back
    customer: c
    events:
      - {at: +0, event: Signed Up}
      - {at: +1d, event: Order Completed}
      - {at: +2d, event: Cancelled}
      - {at: +3d, event: Order Completed}
    expect:
      - {at: +1d, stage: customer, transitions: [signup, buy]}
      - {at: +3d, stage: customer, transitions: [cancel, buy]}
`)
	fail := writeFile(t, dir, "fail_test.yaml", `rules: small.yaml
tests:
  - name: wrong stage
    customer: c
    events:
      - {at: +0, event: Signed Up}
    expect:
      - {at: +1h, stage: customer}
`)
	invalid := writeFile(t, dir, "invalid_test.yaml", "rules: small.yaml\ntests:\n  - name: x\n    customer: c\n    expect:\n      - {at: soon, stage: lead}\n")

	cases := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"the default pack's tests", []string{"test", "../../rules/default_test.yaml"}, 0, []string{
			"ok    ../../rules/default_test.yaml: 29 tests,", "checks passed, rule pack rules/default.yaml (default-2026.12)\n"}},
		{"a passing file, verbose", []string{"test", "-v", pass}, 0, []string{
			"--- PASS: buys, cancels, comes back (" + pass + ":3, 4 checks)\n",
			"ok    " + pass + ": 1 test, 4 checks passed, rule pack " + filepath.Join(dir, "small.yaml") + " (small-1)\n"}},
		{"a failing file", []string{"test", pass, fail}, 1, []string{
			fail + ":8: test \"wrong stage\": at +1h (2026-01-01T01:00:00Z), customer c:\n  stage: expected customer, got lead\n",
			"  outputs for c since +0:\n    +0       stage new -> lead by signup (event e1, line 6)\n",
			"FAIL  " + fail + ": 1 of 1 test failed",
			"ok    " + pass + ":",
		}},
		{"--run selects tests", []string{"test", "--run", "^nothing", fail}, 0, []string{"ok    " + fail + ": no test matches --run ^nothing\n"}},
		{"an invalid test file", []string{"test", invalid}, 1, []string{
			invalid + ":6:14: error: at: \"soon\" is neither an offset from the test's start",
			"FAIL  " + invalid + ": cannot run: 1 error\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := rulesCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.wants {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
