package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/lifeline-hq/lifeline/engine/ruletest"
	"github.com/lifeline-hq/lifeline/rules"
)

// rulesCmd is `lifeline rules`: the rule-author's tools, after promtool's
// `check rules` and `test rules`. Both print their report on stdout and
// exit 1 when something failed.
type rulesCmd struct {
	Check rulesCheckCmd `cmd:"" help:"Check rule packs: every error and warning at once, as file:line:col. A *_test.yaml file is checked as a unit-test file, with the pack it names."`
	Test  rulesTestCmd  `cmd:"" help:"Run rule-pack unit tests (*_test.yaml files) through the real engine."`
	Diff  rulesDiffCmd  `cmd:"" help:"Backtest two rule packs on the same events: which customers' alerts, transitions and final stages change, per rule and per stage, with counts and example customer ids."`
}

type rulesCheckCmd struct {
	Files []string `arg:"" name:"file" help:"Rule pack files (\"default\" for the built-in pack), or unit-test files (*_test.yaml)."`
}

func (c *rulesCheckCmd) Run(e *env) error {
	failed := false
	for _, path := range c.Files {
		if !checkRulesFile(e, path) {
			failed = true
		}
	}
	if failed {
		return exitError{1}
	}
	return nil
}

// checkRulesFile checks one file and reports whether it has no error.
func checkRulesFile(e *env, path string) bool {
	data, name, err := readPackFile(path)
	if err != nil {
		fmt.Fprintf(e.stdout, "FAIL  %s: %v\n", path, err)
		return false
	}
	if strings.HasSuffix(path, "_test.yaml") {
		f, pack, warnings, err := ruletest.Load(path, data, ruletest.Options{})
		printDiags(e, warnings)
		if err != nil {
			n := printError(e, err)
			fmt.Fprintf(e.stdout, "FAIL  %s: %s\n", path, plural(n, "error"))
			return false
		}
		fmt.Fprintf(e.stdout, "ok    %s: %s of rule pack %s (%s)%s\n", path, plural(len(f.Tests), "test"), packName(f), pack.Version, warningCount(warnings))
		return true
	}
	// A pack is checked within a time bound, and gives way to Ctrl-C.
	ctx, cancel := context.WithTimeoutCause(e.ctx, rules.DefaultTimeout, fmt.Errorf("checking took longer than %s, the limit", rules.DefaultTimeout))
	defer cancel()
	pack, diags, err := rules.ParseContext(ctx, name, data)
	printDiags(e, diags)
	if err != nil {
		var inv *rules.InvalidError
		n := 1
		if errors.As(err, &inv) {
			n = len(inv.Diags)
		}
		fmt.Fprintf(e.stdout, "FAIL  %s: %s%s\n", name, plural(n, "error"), warningCount(rules.Warnings(diags)))
		return false
	}
	traits := ""
	if n := len(pack.Traits); n > 0 { // a pack without any says nothing of them, as before
		traits = ", " + plural(n, "trait") + " (" + strings.Join(pack.TraitNames(), ", ") + ")"
	}
	if n := len(pack.Profiles); n > 0 { // likewise
		traits += ", " + plural(n, "profile") + " (" + strings.Join(pack.ProfileNames(), ", ") + ")"
	}
	fmt.Fprintf(e.stdout, "ok    %s: version %s, %s, %s, %s, %s%s%s\n", name, pack.Version,
		plural(len(pack.Stages), "stage"), plural(len(pack.Transitions), "transition"),
		plural(len(pack.Alerts), "alert"), plural(len(pack.Health.Components), "health component"),
		traits, warningCount(rules.Warnings(diags)))
	return true
}

// readPackFile reads path; "default", when no such file exists, is the
// built-in pack.
func readPackFile(path string) (data []byte, name string, err error) {
	data, err = os.ReadFile(path)
	if err != nil && path == "default" && errors.Is(err, os.ErrNotExist) {
		return rules.DefaultYAML(), rules.DefaultFile, nil
	}
	return data, path, err
}

func packName(f *ruletest.File) string {
	if f.Rules == "default" {
		return rules.DefaultFile
	}
	return f.Rules
}

type rulesTestCmd struct {
	Files   []string `arg:"" name:"file" help:"Unit-test files (*_test.yaml)."`
	Filter  string   `name:"run" help:"Run only the tests whose name matches this regular expression." placeholder:"REGEXP"`
	Verbose bool     `short:"v" help:"List every test, passed or failed."`
}

func (c *rulesTestCmd) Run(e *env) error {
	opts := ruletest.Options{}
	if c.Filter != "" {
		re, err := regexp.Compile(c.Filter)
		if err != nil {
			return fmt.Errorf("--run %q: %w", c.Filter, err)
		}
		opts.Run = re
	}
	failed := false
	for _, path := range c.Files {
		if !c.runFile(e, path, opts) {
			failed = true
		}
		if e.ctx.Err() != nil {
			return e.ctx.Err()
		}
	}
	if failed {
		return exitError{1}
	}
	return nil
}

// runFile runs one test file and reports whether every test passed.
func (c *rulesTestCmd) runFile(e *env, path string, opts ruletest.Options) bool {
	res, err := ruletest.RunFile(e.ctx, path, opts)
	if res != nil {
		printDiags(e, res.Warnings)
	}
	if err != nil {
		var inv *rules.InvalidError
		if errors.As(err, &inv) {
			n := printError(e, err)
			fmt.Fprintf(e.stdout, "FAIL  %s: cannot run: %s\n", path, plural(n, "error"))
		} else {
			fmt.Fprintf(e.stdout, "FAIL  %s: %v\n", path, err)
		}
		return false
	}
	checks, failedTests := 0, 0
	for _, cr := range res.Cases {
		checks += cr.Checks
		if len(cr.Failures) > 0 {
			failedTests++
		}
		for _, f := range cr.Failures {
			fmt.Fprintf(e.stdout, "%s\n\n", f)
		}
		if c.Verbose {
			status := "PASS"
			if len(cr.Failures) > 0 {
				status = "FAIL"
			}
			fmt.Fprintf(e.stdout, "--- %s: %s (%s:%d, %s)\n", status, cr.Name, path, cr.Line, plural(cr.Checks, "check"))
		}
	}
	what := fmt.Sprintf("rule pack %s (%s)", res.Pack, res.Version)
	switch {
	case failedTests > 0:
		fmt.Fprintf(e.stdout, "FAIL  %s: %d of %s failed, %s\n", path, failedTests, plural(len(res.Cases), "test"), what)
		return false
	case len(res.Cases) == 0 && opts.Run != nil:
		fmt.Fprintf(e.stdout, "ok    %s: no test matches --run %s\n", path, opts.Run)
	default:
		fmt.Fprintf(e.stdout, "ok    %s: %s, %s passed, %s\n", path, plural(len(res.Cases), "test"), plural(checks, "check"), what)
	}
	return true
}

func printDiags(e *env, diags []rules.Diagnostic) {
	for _, d := range diags {
		fmt.Fprintln(e.stdout, d.String())
	}
}

// printError prints an *rules.InvalidError's diagnostics (or err) and
// returns how many problems it holds.
func printError(e *env, err error) int {
	var inv *rules.InvalidError
	if errors.As(err, &inv) {
		printDiags(e, inv.Diags)
		return len(inv.Diags)
	}
	fmt.Fprintln(e.stdout, err)
	return 1
}

func warningCount(w []rules.Diagnostic) string {
	if len(w) == 0 {
		return ""
	}
	return ", " + plural(len(w), "warning")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
