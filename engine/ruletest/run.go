// Package ruletest runs rule-pack unit tests: YAML files, named
// *_test.yaml, that feed events to the real engine and check what it did
// (stages, alerts, health), in the spirit of `promtool test rules`.
//
// Each test case runs on a fresh engine: Pebble in a temporary directory,
// partition 0, the pack under test. Events are applied in the order
// listed; before each one the watermark is raised to its time minus the
// allowed lateness, as the events of other customers would raise it in a
// busy partition, so timers fire when they would in production. A check
// at time T is made once every listed event up to T is applied (the feed
// stops at the first event later than T) and the watermark is raised to
// T, firing the timers due by then. rules/README.md ("Unit tests")
// documents the file format; rules/default_test.yaml is the worked
// example.
package ruletest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// Options configure a run. The zero value runs every test.
type Options struct {
	// Run selects the tests to run by name; nil runs all.
	Run *regexp.Regexp
	// TempDir is where each test's state store is created and removed.
	// Default: os.TempDir().
	TempDir string
	// ReadFile reads the rule pack a test file names. Default: os.ReadFile.
	ReadFile func(path string) ([]byte, error)
}

// Result is what running one test file found.
type Result struct {
	File     string
	Pack     string // the rule pack's file (rules.DefaultFile for the built-in one)
	Version  string // the pack's rules_version
	Warnings []rules.Diagnostic
	Cases    []CaseResult // the tests run, in file order
}

// CaseResult is one test's outcome.
type CaseResult struct {
	Name     string
	Line     int
	Checks   int // checks made
	Failures []Failure
}

// Failure is one check that did not hold.
type Failure struct {
	File string
	Line int // the check's line in the test file
	Case string
	// Msg says what was expected, what happened instead, and what the
	// engine output for the customer since its previous check; it spans
	// several lines.
	Msg string
}

func (f Failure) String() string {
	return fmt.Sprintf("%s:%d: test %q: %s", f.File, f.Line, f.Case, f.Msg)
}

// Failed tells whether any check failed.
func (r *Result) Failed() bool {
	for _, c := range r.Cases {
		if len(c.Failures) > 0 {
			return true
		}
	}
	return false
}

// Failures lists every failed check, in file order.
func (r *Result) Failures() []Failure {
	var out []Failure
	for _, c := range r.Cases {
		out = append(out, c.Failures...)
	}
	return out
}

// RunFile reads and runs the test file at path.
func RunFile(ctx context.Context, path string, opts Options) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Run(ctx, path, data, opts)
}

// Load parses a test file and loads the rule pack it names, without
// running anything: what `lifeline rules check` does with a test file.
// Errors are a *rules.InvalidError (the test file's or the pack's), or
// an I/O error.
func Load(path string, data []byte, opts Options) (*File, *rules.Pack, []rules.Diagnostic, error) {
	f, err := ParseFile(path, data)
	if err != nil {
		return nil, nil, nil, err
	}
	pack, warnings, err := loadPack(f, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkNames(f, pack); err != nil {
		return nil, nil, nil, err
	}
	return f, pack, warnings, nil
}

// Run runs a test file's tests; path names it in messages and locates the
// rule pack it names. An error means the tests could not run (an invalid
// test file or pack: a *rules.InvalidError); failed checks are in the
// Result.
func Run(ctx context.Context, path string, data []byte, opts Options) (*Result, error) {
	f, pack, warnings, err := Load(path, data, opts)
	if err != nil {
		return nil, err
	}
	packFile := rules.DefaultFile
	if f.Rules != "default" {
		packFile = packPath(f)
	}
	res := &Result{File: path, Pack: packFile, Version: pack.Version, Warnings: warnings}
	for i := range f.Tests {
		c := &f.Tests[i]
		if opts.Run != nil && !opts.Run.MatchString(c.Name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		cr, err := runCase(f, c, pack, opts)
		if err != nil {
			return res, fmt.Errorf("%s:%d: test %q: %w", path, c.Line, c.Name, err)
		}
		res.Cases = append(res.Cases, cr)
	}
	return res, nil
}

func packPath(f *File) string {
	if filepath.IsAbs(f.Rules) {
		return f.Rules
	}
	return filepath.Join(filepath.Dir(f.Path), f.Rules)
}

func loadPack(f *File, opts Options) (*rules.Pack, []rules.Diagnostic, error) {
	if f.Rules == "default" {
		p, diags, err := rules.Parse(rules.DefaultFile, rules.DefaultYAML())
		return p, diags, err
	}
	read := opts.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	path := packPath(f)
	data, err := read(path)
	if err != nil {
		return nil, nil, &rules.InvalidError{Diags: []rules.Diagnostic{{
			File: f.Path, Line: f.RulesLine, Col: 1,
			Msg: fmt.Sprintf("rules: cannot read the pack: %v (the path is relative to this file; default names the built-in pack)", err),
		}}}
	}
	// The bounds of `rules check` and the hot reload: a test's pack is a
	// pack like any other.
	ctx, cancel := context.WithTimeout(context.Background(), rules.DefaultTimeout)
	defer cancel()
	return rules.ParseContext(ctx, path, data)
}

// checkNames checks the names a test file uses against the pack: a typo
// in a stage or rule name would otherwise only show as a failure.
func checkNames(f *File, pack *rules.Pack) error {
	var diags []rules.Diagnostic
	bad := func(line, col int, format string, args ...any) {
		diags = append(diags, rules.Diagnostic{File: f.Path, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
	}
	// near is the "did you mean" of a misspelt name, as rules check says it.
	near := func(name string, options []string) string {
		if s := rules.Suggest(name, options); s != "" {
			return fmt.Sprintf("; did you mean %q?", s)
		}
		return ""
	}
	stages := append([]string{rules.NewStage}, pack.Stages...)
	var alertNames, transNames, compNames []string
	for _, a := range pack.Alerts {
		alertNames = append(alertNames, a.Name)
	}
	for _, t := range pack.Transitions {
		transNames = append(transNames, t.Name)
	}
	for _, c := range pack.Health.Components {
		compNames = append(compNames, c.Name)
	}
	for _, c := range f.Tests {
		for _, x := range c.Expect {
			if x.Stage != nil && !slices.Contains(stages, *x.Stage) {
				line, col := posOf(x.nodes["stage"], *x.Stage)
				bad(line, col, "stage %q is not a stage of the pack (expected one of %s)%s", *x.Stage, strings.Join(stages, ", "), near(*x.Stage, stages))
			}
			if x.Transitions != nil {
				for _, t := range *x.Transitions {
					if !slices.Contains(transNames, t) {
						line, col := posOf(x.nodes["transitions"], t)
						bad(line, col, "transition %q is not in the pack (expected one of %s)%s", t, strings.Join(transNames, ", "), near(t, transNames))
					}
				}
			}
			for _, comp := range x.Components {
				if !slices.Contains(compNames, comp.Name) {
					bad(comp.Line, comp.Col, "health component %q is not in the pack (expected one of %s)%s", comp.Name, strings.Join(compNames, ", "), near(comp.Name, compNames))
				}
			}
			if x.Alerts != nil {
				for _, a := range *x.Alerts {
					if !slices.Contains(alertNames, a.Rule) {
						bad(a.Line, a.Col, "alert %q is not in the pack (expected one of %s)%s", a.Rule, strings.Join(alertNames, ", "), near(a.Rule, alertNames))
					}
				}
			}
			if x.Profile != nil && *x.Profile != "" && !slices.Contains(pack.ProfileNames(), *x.Profile) {
				names := pack.ProfileNames()
				line, col := posOf(x.nodes["profile"], *x.Profile)
				bad(line, col, "profile %q is not in the pack (expected one of %s, or \"\" for none)%s", *x.Profile, strings.Join(names, ", "), near(*x.Profile, names))
			}
			for key, list := range map[string][]string{"open": derefList(x.Open), "no_alert": x.NoAlert} {
				for _, r := range list {
					if !slices.Contains(alertNames, r) {
						line, col := posOf(x.nodes[key], r)
						bad(line, col, "alert %q is not in the pack (expected one of %s)%s", r, strings.Join(alertNames, ", "), near(r, alertNames))
					}
				}
			}
		}
	}
	if len(diags) > 0 {
		sort.SliceStable(diags, func(i, j int) bool {
			if diags[i].Line != diags[j].Line {
				return diags[i].Line < diags[j].Line
			}
			return diags[i].Col < diags[j].Col
		})
		return &rules.InvalidError{Diags: diags}
	}
	return nil
}

func derefList(l *[]string) []string {
	if l == nil {
		return nil
	}
	return *l
}

// record is one output record, decoded.
type record struct {
	Kind       string             `json:"kind"`
	Customer   string             `json:"customer_id"`
	At         string             `json:"at"`
	From       string             `json:"from"`
	To         string             `json:"to"`
	Rule       string             `json:"rule"`
	EventID    string             `json:"event_id"`
	Score      float64            `json:"score"`
	Band       string             `json:"band"`
	Components map[string]float64 `json:"components"`
	Severity   string             `json:"severity"`
	Status     string             `json:"status"`
	Reasons    []string           `json:"reasons"`
	ResolvedBy string             `json:"resolved_by"`
	at         int64
}

// run is one test case in progress.
type run struct {
	f     *File
	c     *Case
	pack  *rules.Pack
	eng   *engine.Engine
	d     *engine.Driver
	recs  []record
	lines map[string]int // event id → its line
}

func runCase(f *File, c *Case, pack *rules.Pack, opts Options) (res CaseResult, err error) {
	res = CaseResult{Name: c.Name, Line: c.Line}
	dir, err := os.MkdirTemp(opts.TempDir, "lifeline-ruletest-")
	if err != nil {
		return res, fmt.Errorf("create a state directory: %w", err)
	}
	defer os.RemoveAll(dir)
	eng, err := engine.Open(dir, pack, engine.Options{AllowedLateness: engine.Lateness(f.Lateness), CacheStates: 1024, BlockCacheBytes: 1 << 20})
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := eng.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	part, err := eng.Partition(0)
	if err != nil {
		return res, err
	}
	defer eng.Release(part)
	r := &run{f: f, c: c, pack: pack, eng: eng, d: engine.NewDriver(part), lines: map[string]int{}}
	for _, ev := range c.Events {
		r.lines[ev.ID] = ev.Line
	}

	res.Failures = append(res.Failures, unmapped(f, c, pack)...)

	expects := slices.Clone(c.Expect)
	sort.SliceStable(expects, func(i, j int) bool { return expects[i].At < expects[j].At })
	next := 0 // the next event to apply
	since := map[string]int{}
	sinceAt := map[string]int64{}
	for _, x := range expects {
		// Every listed event up to the check's time; each raises the
		// watermark to its time less the allowed lateness, firing the
		// timers due before it.
		src := engine.Events{First: int64(next)}
		for next < len(c.Events) && c.Events[next].At <= x.At {
			ev := &c.Events[next]
			src.List = append(src.List, engine.Event{ID: ev.ID, CustomerID: ev.Customer, Type: ev.Call, Name: ev.Name, Time: ev.At,
				Score: ev.Score, HasScore: ev.HasScore, Amounts: ev.Amounts, AmountsSet: ev.AmountsSet, Currency: ev.Currency, Traits: ev.Traits})
			next++
		}
		if err := r.d.Process(&src); err != nil {
			return res, fmt.Errorf("apply the events up to the check at line %d: %w", x.Line, err)
		}
		if err := r.d.Advance(x.At); err != nil {
			return res, err
		}
		if err := r.commit(); err != nil {
			return res, err
		}
		from, ok := since[x.Customer]
		fromAt := c.Start
		if ok {
			fromAt = sinceAt[x.Customer]
		}
		since[x.Customer], sinceAt[x.Customer] = len(r.recs), x.At
		msg, checks, err := r.check(&x, from, fromAt)
		if err != nil {
			return res, err
		}
		res.Checks += checks
		if msg != "" {
			res.Failures = append(res.Failures, Failure{File: f.Path, Line: x.Line, Case: c.Name, Msg: msg})
		}
	}
	return res, nil
}

// unmapped fails the events of a test that match no touchpoint of the
// pack, unless marked unmapped: true (and those marked so that do match):
// a misspelt event name would otherwise be applied as an event of no
// category, and a test expecting nothing of it would pass.
func unmapped(f *File, c *Case, pack *rules.Pack) []Failure {
	var out []Failure
	done := map[int]bool{} // an event with repeat is one line
	for _, ev := range c.Events {
		if done[ev.Line] {
			continue
		}
		done[ev.Line] = true
		cat := pack.Classify(ev.Call, ev.Name)
		what := fmt.Sprintf("event %q", ev.Name)
		if ev.Name == "" {
			what = fmt.Sprintf("the %s call", ev.Call)
		}
		var msg string
		switch {
		case cat == rules.CatNone && !ev.Unmapped && ev.Traits == "":
			// An identify that carries traits does what it is for.
			msg = what + " matches no touchpoint of the pack, so it changes nothing but first and last seen"
			if near, ncat := pack.NearestEvent(ev.Name); near != "" {
				msg += fmt.Sprintf("; did you mean %q (%s)?", near, pack.CategoryName(ncat))
			}
			msg += " (an event meant to match none takes unmapped: true)"
		case cat != rules.CatNone && ev.Unmapped:
			msg = fmt.Sprintf("%s is marked unmapped: true but matches touchpoint %s", what, pack.CategoryName(cat))
		default:
			continue
		}
		out = append(out, Failure{File: f.Path, Line: ev.Line, Case: c.Name, Msg: msg})
	}
	return out
}

// commit ends a batch and keeps its output records.
func (r *run) commit() error {
	out, err := r.d.Flush()
	if err != nil {
		return err
	}
	for _, o := range out.Records {
		var rec record
		if err := json.Unmarshal(o.Value, &rec); err != nil {
			return fmt.Errorf("decode output record %s: %w", o.Value, err)
		}
		if t, err := time.Parse(time.RFC3339Nano, rec.At); err == nil {
			rec.at = t.UnixMilli()
		}
		r.recs = append(r.recs, rec)
	}
	return r.d.Commit(0)
}

// check compares one expectation with the engine's state and outputs.
// The window is the customer's records from index from on (since its
// previous check, at fromAt). It returns "" when everything holds.
func (r *run) check(x *Expect, from int, fromAt int64) (string, int, error) {
	st, found, err := r.eng.Lookup(0, x.Customer)
	if err != nil {
		return "", 0, err
	}
	var window []record
	for _, rec := range r.recs[from:] {
		if rec.Customer == x.Customer {
			window = append(window, rec)
		}
	}
	var health *record
	for i := len(r.recs) - 1; i >= 0; i-- {
		if r.recs[i].Customer == x.Customer && r.recs[i].Kind == "health" {
			health = &r.recs[i]
			break
		}
	}
	var open []string
	for _, a := range st.Alerts {
		open = append(open, a.Rule)
	}
	sort.Strings(open)

	var problems []string
	checks := 0
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if x.Stage != nil {
		checks++
		got := st.Stage
		if got == "" {
			got = rules.NewStage
		}
		if got != *x.Stage {
			fail("stage: expected %s, got %s", *x.Stage, got)
		}
	}
	if x.Profile != nil {
		checks++
		got := "(none: the customer has no state)"
		if found {
			got = ""
			if c := engine.Describe(r.pack, x.Customer, &st, x.At); c.Profile != nil {
				got = *c.Profile
			}
		}
		if got != *x.Profile {
			fail("profile: expected %q, got %q", *x.Profile, got)
		}
	}
	healthNow := "no health record yet"
	if health != nil {
		healthNow = fmt.Sprintf("%s %s", formatNum(health.Score), health.Band)
	}
	if x.Band != nil {
		checks++
		if health == nil || health.Band != *x.Band {
			fail("band: expected %s, got %s", *x.Band, healthNow)
		}
	}
	if x.Score != nil {
		checks++
		if health == nil || !x.Score.has(health.Score) {
			fail("score: expected %s, got %s", x.Score, healthNow)
		}
	}
	for _, comp := range x.Components {
		checks++
		if health == nil {
			fail("component %s: expected %s, got %s", comp.Name, comp.Range, healthNow)
			continue
		}
		if got := health.Components[comp.Name]; !comp.Range.has(got) {
			fail("component %s: expected %s, got %s", comp.Name, comp.Range, formatNum(got))
		}
	}
	if x.Transitions != nil {
		checks++
		var got []string
		for _, rec := range window {
			if rec.Kind == "stage" {
				got = append(got, rec.Rule)
			}
		}
		if !slices.Equal(got, *x.Transitions) {
			fail("transitions since %s: expected %s, got %s", r.offset(fromAt), listOf(*x.Transitions), listOf(got))
		}
	}
	if x.Alerts != nil {
		checks++
		if missing, extra := matchAlerts(*x.Alerts, window); len(missing)+len(extra) > 0 {
			var want, got []string
			for _, a := range *x.Alerts {
				want = append(want, a.String())
			}
			for _, rec := range window {
				if rec.Kind == "alert" {
					got = append(got, alertLabel(rec))
				}
			}
			msg := fmt.Sprintf("alerts since %s: expected %s, got %s", r.offset(fromAt), listOf(want), listOf(got))
			if len(missing) > 0 {
				msg += "; missing " + listOf(missing)
			}
			if len(extra) > 0 {
				msg += "; unexpected " + listOf(extra)
			}
			fail("%s", msg)
		}
	}
	if x.Open != nil {
		checks++
		want := slices.Clone(*x.Open)
		sort.Strings(want)
		if !slices.Equal(want, open) {
			fail("open alerts: expected %s, got %s", listOf(want), listOf(open))
		}
	}
	for _, rule := range x.NoAlert {
		checks++
		if slices.Contains(open, rule) {
			fail("no_alert %s: it is open", rule)
			continue
		}
		for _, rec := range window {
			if rec.Kind == "alert" && rec.Rule == rule && rec.Status == "firing" {
				fail("no_alert %s: it fired at %s", rule, r.offset(rec.at))
				break
			}
		}
	}
	if len(problems) == 0 {
		return "", checks, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "at %s (%s), customer %s:\n", r.offset(x.At), time.UnixMilli(x.At).UTC().Format(time.RFC3339), x.Customer)
	for _, p := range problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	stage := st.Stage
	if !found || stage == "" {
		stage = rules.NewStage
	}
	if !found {
		fmt.Fprintf(&b, "  now: no event of %s has been applied\n", x.Customer)
	} else {
		fmt.Fprintf(&b, "  now: stage %s, health %s, open alerts %s\n", stage, healthNow, listOf(open))
	}
	if len(window) == 0 {
		fmt.Fprintf(&b, "  outputs for %s since %s: none", x.Customer, r.offset(fromAt))
	} else {
		fmt.Fprintf(&b, "  outputs for %s since %s:", x.Customer, r.offset(fromAt))
		for _, rec := range window {
			fmt.Fprintf(&b, "\n    %-8s %s", r.offset(rec.at), r.describe(rec))
		}
	}
	return b.String(), checks, nil
}

// matchAlerts pairs expected alerts with alert records: it returns the
// expectations no record matched and the records no expectation matched.
func matchAlerts(want []AlertExpect, window []record) (missing, extra []string) {
	var recs []*record
	for i := range window {
		if window[i].Kind == "alert" {
			recs = append(recs, &window[i])
		}
	}
	used := make([]bool, len(recs))
	for _, w := range want {
		found := false
		for i, rec := range recs {
			if used[i] || rec.Rule != w.Rule || rec.Status != w.Status || (w.Severity != "" && rec.Severity != w.Severity) || (w.ResolvedBy != "" && rec.ResolvedBy != w.ResolvedBy) {
				continue
			}
			if w.Reason != "" && !slices.ContainsFunc(rec.Reasons, func(s string) bool { return strings.Contains(s, w.Reason) }) {
				continue
			}
			used[i], found = true, true
			break
		}
		if !found {
			missing = append(missing, w.String())
		}
	}
	for i, rec := range recs {
		if !used[i] {
			extra = append(extra, alertLabel(*rec))
		}
	}
	return missing, extra
}

// alertLabel names an alert record in a failure message: rule, severity,
// status and, when resolved, its cause.
func alertLabel(rec record) string {
	s := rec.Rule + " " + rec.Severity + " " + rec.Status
	if rec.ResolvedBy != "" {
		s += " by " + rec.ResolvedBy
	}
	return s
}

func listOf(xs []string) string { return "[" + strings.Join(xs, ", ") + "]" }

// describe renders an output record on one line.
func (r *run) describe(rec record) string {
	cause := "timer"
	if rec.EventID != "" {
		cause = "event " + rec.EventID
		if line, ok := r.lines[rec.EventID]; ok {
			cause += fmt.Sprintf(", line %d", line)
		}
	}
	switch rec.Kind {
	case "stage":
		from := rec.From
		if from == "" {
			from = rules.NewStage
		}
		return fmt.Sprintf("stage %s -> %s by %s (%s)", from, rec.To, rec.Rule, cause)
	case "health":
		var parts []string
		for _, c := range r.pack.Health.Components {
			parts = append(parts, fmt.Sprintf("%s %s", c.Name, formatNum(rec.Components[c.Name])))
		}
		return fmt.Sprintf("health %s %s (%s)", formatNum(rec.Score), rec.Band, strings.Join(parts, ", "))
	case "alert":
		status := rec.Status
		if rec.ResolvedBy != "" {
			status += " by " + rec.ResolvedBy
		}
		return fmt.Sprintf("alert %s %s %s (%s): %s", rec.Rule, rec.Severity, status, cause, strings.Join(rec.Reasons, "; "))
	}
	return rec.Kind
}

// offset renders a time relative to the test's start: +14d, +1d2h, +0.
func (r *run) offset(ms int64) string {
	return Offset(ms - r.c.Start)
}

// Offset renders a duration in milliseconds the way test files write
// times: +14d, +1d2h30m, -1h, +0.
func Offset(ms int64) string {
	if ms == 0 {
		return "+0"
	}
	sign := "+"
	if ms < 0 {
		sign, ms = "-", -ms
	}
	var b strings.Builder
	b.WriteString(sign)
	for _, u := range []struct {
		unit string
		ms   int64
	}{{"d", 24 * 3600 * 1000}, {"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1}} {
		if ms >= u.ms {
			fmt.Fprintf(&b, "%d%s", ms/u.ms, u.unit)
			ms %= u.ms
		}
	}
	return b.String()
}
