package ruletest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// DefaultStart is the time zero of tests that do not set start.
const DefaultStart = "2026-01-01T00:00:00Z"

// DefaultLateness is the allowed lateness tests run with unless they set
// lateness: the engine's own default, so that tests see what production
// sees.
const DefaultLateness = 10 * time.Minute

// File is a parsed test file.
type File struct {
	Path      string
	Rules     string // "default", or the pack's path as written (relative to the file)
	RulesLine int
	Lateness  time.Duration
	Tests     []Case
}

// Case is one named test: events in, expectations to check.
type Case struct {
	Name   string
	Line   int
	Start  int64 // Unix ms: what +0 means
	Events []Event
	Expect []Expect
}

// Event is one input event of a test, with its time resolved.
type Event struct {
	Line     int
	ID       string
	Customer string
	Call     string // Segment call type, or "cloudevent"
	Name     string // track event name or CloudEvents type
	At       int64  // Unix ms
	Score    float64
	HasScore bool
	// Amounts and AmountsSet: revenue, total, value, price and amount,
	// as engine.Event has them; Currency is the event's currency.
	Amounts    [rules.NumMoneyProps]float64
	AmountsSet uint8
	Currency   string
	// Unmapped says the event is meant to match no touchpoint of the
	// pack; otherwise such an event fails its test (a typo in a name).
	Unmapped bool
	// Traits is the JSON of the event's traits (an identify call's
	// traits, or a track call's context.traits), "" for none.
	Traits string
}

// Expect is what must hold at a time, for one customer. A nil or empty
// field is not checked.
type Expect struct {
	Line        int
	At          int64
	Customer    string
	Stage       *string
	Band        *string
	Score       *Range
	Components  []Component
	Transitions *[]string
	Alerts      *[]AlertExpect
	Open        *[]string
	NoAlert     []string
	// Profile is the customer's profile at the check ("" for none of
	// the pack's), as GET /v1/customers shows it.
	Profile *string

	nodes map[string]*yaml.Node // each key's value, to place pack-aware errors
}

// Component is an expected health component score.
type Component struct {
	Name      string
	Range     Range
	Line, Col int
}

// AlertExpect is one expected alert record.
type AlertExpect struct {
	Line     int
	Col      int
	Rule     string
	Severity string // "" for any
	Status   string // firing or resolved
	Reason   string // a substring of one of its reasons; "" for any
	// ResolvedBy is a resolved record's cause (condition_cleared,
	// stage_left, churned, pack_changed); "" for any.
	ResolvedBy string
}

func (a AlertExpect) String() string {
	s := a.Rule
	if a.Severity != "" {
		s += " " + a.Severity
	}
	s += " " + a.Status
	if a.ResolvedBy != "" {
		s += " by " + a.ResolvedBy
	}
	if a.Reason != "" {
		s += fmt.Sprintf(" (reason ~ %q)", a.Reason)
	}
	return s
}

// resolveCauses are the values of a resolved record's resolved_by.
var resolveCauses = []string{engine.CauseConditionCleared, engine.CauseStageLeft, engine.CauseChurned, engine.CausePackChanged}

// Range is a closed range of scores.
type Range struct{ Min, Max float64 }

func (r Range) has(x float64) bool { return r.Min <= x && x <= r.Max }

func (r Range) String() string {
	switch {
	case r.Min == r.Max:
		return formatNum(r.Min)
	case math.IsInf(r.Min, -1):
		return "<= " + formatNum(r.Max)
	case math.IsInf(r.Max, 1):
		return ">= " + formatNum(r.Min)
	}
	return formatNum(r.Min) + ".." + formatNum(r.Max)
}

func formatNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// ParseFile parses a test file's text. path names it in diagnostics. An
// invalid file returns a *rules.InvalidError listing every problem, each
// at its file:line:col.
func ParseFile(path string, data []byte) (f *File, err error) {
	p := &parser{file: path}
	defer func() {
		// yaml.v3 panics on a few malformed inputs: report, not crash.
		if r := recover(); r != nil {
			f, err = nil, &rules.InvalidError{Diags: []rules.Diagnostic{{File: path, Line: 1, Col: 1, Msg: fmt.Sprintf("YAML: this file cannot be read (the YAML library failed: %v)", r)}}}
		}
	}()
	f = p.parse(data)
	if len(p.diags) > 0 {
		return nil, &rules.InvalidError{Diags: p.diags}
	}
	return f, nil
}

type parser struct {
	file  string
	diags []rules.Diagnostic
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil {
		line, col = n.Line, n.Column
	}
	p.diags = append(p.diags, rules.Diagnostic{File: p.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) parse(data []byte) *File {
	f := &File{Path: p.file, Lateness: DefaultLateness}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(nil, "the file is empty: a test file needs rules and tests (see rules/README.md, \"Unit tests\")")
		} else {
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			line := 1
			if rest, ok := strings.CutPrefix(msg, "line "); ok {
				if i := strings.IndexByte(rest, ':'); i > 0 {
					if n, err := strconv.Atoi(rest[:i]); err == nil {
						line, msg = n, strings.TrimSpace(rest[i+1:])
					}
				}
			}
			p.diags = append(p.diags, rules.Diagnostic{File: p.file, Line: line, Col: 1, Msg: "YAML syntax: " + msg})
		}
		return f
	}
	top := &root
	if top.Kind == yaml.DocumentNode && len(top.Content) > 0 {
		top = top.Content[0]
	}
	m := p.mapping(top, "a test file", "rules", "description", "start", "lateness", "tests")
	if m == nil {
		return f
	}
	start, _ := time.Parse(time.RFC3339, DefaultStart)
	startMs := start.UnixMilli()
	if n := m["rules"]; n != nil {
		f.Rules, f.RulesLine = p.scalar(n, "rules"), n.Line
	} else {
		p.errorf(top, "rules is required: default (the built-in pack) or the path of the pack, relative to this file")
	}
	if n := m["start"]; n != nil {
		if t, ok := p.time(n, "start"); ok {
			startMs = t
		}
	}
	if n := m["lateness"]; n != nil {
		if ms, ok := p.duration(n, "lateness"); ok {
			f.Lateness = time.Duration(ms) * time.Millisecond
		}
	}
	tests := m["tests"]
	if tests == nil {
		p.errorf(top, "tests is required: a list of test cases, each with a name, events and expect")
		return f
	}
	if tests.Kind != yaml.SequenceNode {
		p.errorf(tests, "tests: expected a list of test cases, found %s", kindName(tests))
		return f
	}
	names := map[string]int{}
	for _, tn := range tests.Content {
		if c, ok := p.testCase(tn, startMs); ok {
			if prev, dup := names[c.Name]; dup {
				p.errorf(tn, "test %q is declared twice (first at line %d)", c.Name, prev)
			}
			names[c.Name] = c.Line
			f.Tests = append(f.Tests, c)
		}
	}
	return f
}

// posOf is where value is written in n: the list item holding it, or n.
func posOf(n *yaml.Node, value string) (int, int) {
	if n == nil {
		return 1, 1
	}
	if n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			if c = unalias(c); c.Value == value {
				return c.Line, c.Column
			}
		}
	}
	return n.Line, n.Column
}

// mapping checks that n is a mapping with only the given keys, and
// returns its values by key.
func (p *parser) mapping(n *yaml.Node, what string, keys ...string) map[string]*yaml.Node {
	n = unalias(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "expected %s (a section of key: value pairs), found %s", what, kindName(n))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], unalias(n.Content[i+1])
		if !slices.Contains(keys, k.Value) {
			p.errorf(k, "unknown key %q in %s (expected one of %s)", k.Value, what, strings.Join(keys, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errorf(k, "key %q is set twice in %s", k.Value, what)
			continue
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue // key: with no value is no key
		}
		out[k.Value] = v
	}
	return out
}

func unalias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a section of key: value pairs"
	}
	return fmt.Sprintf("the value %q", n.Value)
}

func (p *parser) scalar(n *yaml.Node, key string) string {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s: expected a single value, found %s", key, kindName(n))
		return ""
	}
	return n.Value
}

// list reads a list of single values (one value is a list of one).
func (p *parser) list(n *yaml.Node, key string) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: expected a list such as [a, b], found %s", key, kindName(n))
		return nil
	}
	out := []string{}
	for _, c := range n.Content {
		out = append(out, p.scalar(unalias(c), key))
	}
	return out
}

func (p *parser) number(n *yaml.Node, key string) (float64, bool) {
	s := p.scalar(n, key)
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		p.errorf(n, "%s: expected a number, found %q", key, s)
		return 0, false
	}
	return x, true
}

func (p *parser) duration(n *yaml.Node, key string) (int64, bool) {
	s := strings.TrimPrefix(p.scalar(n, key), "+")
	ms, err := rules.ParseDuration(s)
	if err != nil {
		p.errorf(n, "%s: %v", key, err)
		return 0, false
	}
	return ms, true
}

// time reads an absolute time: RFC 3339, or a date (midnight UTC).
func (p *parser) time(n *yaml.Node, key string) (int64, bool) {
	s := p.scalar(n, key)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), true
		}
	}
	p.errorf(n, "%s: %q is not a time (expected RFC 3339, such as %s)", key, s, DefaultStart)
	return 0, false
}

// at reads a point in time: an offset from start (+14d, +2h30m, +0, -1h)
// or an absolute time.
func (p *parser) at(n *yaml.Node, key string, start int64) (int64, bool) {
	s := p.scalar(n, key)
	if ms, ok := parseOffset(s); ok {
		return start + ms, true
	}
	if strings.ContainsAny(s, "T:") || strings.Count(s, "-") == 2 {
		return p.time(n, key)
	}
	p.errorf(n, "%s: %q is neither an offset from the test's start (e.g. +14d, +2h30m, +0) nor an RFC 3339 time", key, s)
	return 0, false
}

// parseOffset parses "+14d", "-1h", "+0", "0", "3d12h" into milliseconds.
func parseOffset(s string) (int64, bool) {
	sign := int64(1)
	switch {
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	case strings.HasPrefix(s, "-"):
		sign, s = -1, s[1:]
	}
	if s == "0" {
		return 0, true
	}
	ms, err := rules.ParseDuration(s)
	if err != nil {
		return 0, false
	}
	return sign * ms, true
}

func (p *parser) testCase(n *yaml.Node, fileStart int64) (Case, bool) {
	c := Case{Line: n.Line, Start: fileStart}
	m := p.mapping(n, "a test", "name", "description", "customer", "start", "events", "expect")
	if m == nil {
		return c, false
	}
	if v := m["name"]; v != nil {
		c.Name = p.scalar(v, "name")
	} else {
		p.errorf(n, "a test needs a name (it is how failures are reported)")
	}
	if v := m["start"]; v != nil {
		if t, ok := p.time(v, "start"); ok {
			c.Start = t
		}
	}
	customer := ""
	if v := m["customer"]; v != nil {
		customer = p.scalar(v, "customer")
	}
	if v := m["events"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			p.errorf(v, "events: expected a list of events, found %s", kindName(v))
		} else {
			prev := c.Start
			for i, en := range v.Content {
				evs := p.event(unalias(en), i+1, customer, c.Start, &prev)
				c.Events = append(c.Events, evs...)
			}
		}
	}
	if v := m["expect"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			p.errorf(v, "expect: expected a list of checks (each with at), found %s", kindName(v))
		} else {
			for _, xn := range v.Content {
				if x, ok := p.expect(unalias(xn), customer, c.Start); ok {
					c.Expect = append(c.Expect, x)
				}
			}
		}
	}
	if len(c.Expect) == 0 && m["expect"] == nil {
		p.errorf(n, "test %q checks nothing: add expect, a list of checks such as {at: +1d, stage: conversion}", c.Name)
	}
	return c, true
}

// callTypes are the event types a test's call may name: the engine's
// Event.Type values. Those of namedTypes carry an event name (event); the
// others are classified by the type alone.
var (
	callTypes  = []string{"track", "page", "screen", "identify", "group", "alias", "cloudevent", "page_ping", "stripe", "zendesk", "intercom", "delighted", "typeform"}
	namedTypes = []string{"track", "cloudevent", "stripe", "zendesk", "intercom", "delighted", "typeform"}
)

// event reads one event, or its repetitions; prev is the time of the
// previous event, which after counts from.
func (p *parser) event(n *yaml.Node, num int, customer string, start int64, prev *int64) []Event {
	m := p.mapping(n, "an event", "customer", "event", "call", "at", "after", "id", "score", "revenue", "total", "value", "price", "amount", "currency", "repeat", "every", "unmapped", "traits")
	if m == nil {
		return nil
	}
	ev := Event{Line: n.Line, Customer: customer, At: *prev, ID: fmt.Sprintf("e%d", num)}
	if v := m["customer"]; v != nil {
		ev.Customer = p.scalar(v, "customer")
	}
	if ev.Customer == "" {
		p.errorf(n, "event: customer is required (here, or once for the whole test)")
	}
	if v := m["event"]; v != nil {
		ev.Name, ev.Call = p.scalar(v, "event"), "track"
	}
	if v := m["call"]; v != nil {
		ev.Call = p.scalar(v, "call")
		if !slices.Contains(callTypes, ev.Call) {
			p.errorf(v, "call: unknown call type %q (expected one of %s)", ev.Call, strings.Join(callTypes, ", "))
		}
	}
	if ev.Name != "" && !slices.Contains(namedTypes, ev.Call) && m["call"] != nil {
		p.errorf(m["call"], "call: a %s call has no event name (event goes with %s)", ev.Call, strings.Join(namedTypes, ", "))
	}
	if v := m["unmapped"]; v != nil {
		switch p.scalar(v, "unmapped") {
		case "true":
			ev.Unmapped = true
		case "false":
		default:
			p.errorf(v, "unmapped: expected true or false, found %q", v.Value)
		}
	}
	if ev.Call == "" {
		p.errorf(n, "event: say what happened: event (a track event name, e.g. event: Order Completed) or call (e.g. call: page)")
	}
	switch at, after := m["at"], m["after"]; {
	case at != nil && after != nil:
		p.errorf(after, "event: at and after together: at counts from the test's start, after from the previous event; use one")
	case at != nil:
		if t, ok := p.at(at, "at", start); ok {
			ev.At = t
		}
	case after != nil:
		if ms, ok := p.duration(after, "after"); ok {
			ev.At = *prev + ms
		}
	}
	if v := m["id"]; v != nil {
		ev.ID = p.scalar(v, "id")
	}
	if v := m["score"]; v != nil {
		ev.Score, ev.HasScore = p.number(v, "score")
	}
	for i, name := range rules.MoneyPropNames() {
		if v := m[name]; v != nil {
			if f, ok := p.number(v, name); ok {
				ev.Amounts[i] = f
				ev.AmountsSet |= 1 << i
			}
		}
	}
	if v := m["currency"]; v != nil {
		ev.Currency = p.scalar(v, "currency")
	}
	if v := m["traits"]; v != nil {
		ev.Traits = p.traits(v)
	}
	repeat, every := 1, int64(0)
	if v := m["repeat"]; v != nil {
		x, ok := p.number(v, "repeat")
		if ok && (x < 1 || x > 10000 || x != math.Trunc(x)) {
			p.errorf(v, "repeat: expected a whole number of events, 1 to 10000")
		} else if ok {
			repeat = int(x)
		}
	}
	if v := m["every"]; v != nil {
		every, _ = p.duration(v, "every")
	} else if repeat > 1 {
		p.errorf(m["repeat"], "repeat needs every: the time between two repetitions (e.g. every: 1d)")
	}
	out := make([]Event, repeat)
	for k := range out {
		out[k] = ev
		out[k].At = ev.At + int64(k)*every
		if repeat > 1 {
			out[k].ID = fmt.Sprintf("%s.%d", ev.ID, k+1)
		}
	}
	*prev = out[repeat-1].At
	return out
}

func (p *parser) expect(n *yaml.Node, customer string, start int64) (Expect, bool) {
	x := Expect{Line: n.Line, Customer: customer}
	m := p.mapping(n, "a check", "at", "customer", "stage", "band", "score", "components", "transitions", "alerts", "open", "no_alert", "profile")
	if m == nil {
		return x, false
	}
	x.nodes = m
	if v := m["at"]; v != nil {
		if t, ok := p.at(v, "at", start); ok {
			x.At = t
		}
	} else {
		p.errorf(n, "a check needs at: when it holds (e.g. at: +15d)")
	}
	if v := m["customer"]; v != nil {
		x.Customer = p.scalar(v, "customer")
	}
	if x.Customer == "" {
		p.errorf(n, "check: customer is required (here, or once for the whole test)")
	}
	if v := m["stage"]; v != nil {
		s := p.scalar(v, "stage")
		x.Stage = &s
	}
	if v := m["band"]; v != nil {
		s := p.scalar(v, "band")
		if !slices.Contains([]string{"green", "yellow", "red"}, s) {
			p.errorf(v, "band: %q (expected green, yellow or red)", s)
		}
		x.Band = &s
	}
	if v := m["score"]; v != nil {
		if r, ok := p.scoreRange(v, "score"); ok {
			x.Score = &r
		}
	}
	if v := m["components"]; v != nil {
		cm := unalias(v)
		if cm.Kind != yaml.MappingNode {
			p.errorf(v, "components: expected component: score pairs (e.g. {sentiment: 100, engagement: 40..60}), found %s", kindName(v))
		} else {
			for i := 0; i+1 < len(cm.Content); i += 2 {
				k := cm.Content[i]
				if r, ok := p.scoreRange(unalias(cm.Content[i+1]), k.Value); ok {
					x.Components = append(x.Components, Component{Name: k.Value, Range: r, Line: k.Line, Col: k.Column})
				}
			}
		}
	}
	if v := m["transitions"]; v != nil {
		l := p.list(v, "transitions")
		x.Transitions = &l
	}
	if v := m["alerts"]; v != nil {
		l := p.alerts(v)
		x.Alerts = &l
	}
	if v := m["open"]; v != nil {
		l := p.list(v, "open")
		x.Open = &l
	}
	if v := m["no_alert"]; v != nil {
		x.NoAlert = p.list(v, "no_alert")
	}
	if v := m["profile"]; v != nil {
		s := p.scalar(v, "profile")
		x.Profile = &s
	}
	return x, true
}

func (p *parser) alerts(n *yaml.Node) []AlertExpect {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	out := []AlertExpect{}
	for _, it := range items {
		it = unalias(it)
		a := AlertExpect{Line: it.Line, Col: it.Column, Status: "firing"}
		if it.Kind == yaml.ScalarNode {
			a.Rule = it.Value
			out = append(out, a)
			continue
		}
		m := p.mapping(it, "an expected alert", "rule", "severity", "status", "reason", "resolved_by")
		if m == nil {
			continue
		}
		if v := m["rule"]; v != nil {
			a.Rule = p.scalar(v, "rule")
		} else {
			p.errorf(it, "an expected alert needs its rule (the alert's name)")
		}
		if v := m["severity"]; v != nil {
			a.Severity = p.scalar(v, "severity")
			if !slices.Contains([]string{"info", "warning", "critical"}, a.Severity) {
				p.errorf(v, "severity: %q (expected info, warning or critical)", a.Severity)
			}
		}
		if v := m["status"]; v != nil {
			a.Status = p.scalar(v, "status")
			if a.Status != "firing" && a.Status != "resolved" {
				p.errorf(v, "status: %q (expected firing or resolved)", a.Status)
			}
		}
		if v := m["reason"]; v != nil {
			a.Reason = p.scalar(v, "reason")
		}
		if v := m["resolved_by"]; v != nil {
			a.ResolvedBy = p.scalar(v, "resolved_by")
			if !slices.Contains(resolveCauses, a.ResolvedBy) {
				p.errorf(v, "resolved_by: %q (expected one of %s)", a.ResolvedBy, strings.Join(resolveCauses, ", "))
			}
			if m["status"] == nil {
				a.Status = "resolved"
			} else if a.Status != "resolved" {
				p.errorf(v, "resolved_by goes with status: resolved (a firing has no cause)")
			}
		}
		out = append(out, a)
	}
	return out
}

// scoreRange reads 80, 70..90, 75.., ..50, ">= 75", "< 50".
func (p *parser) scoreRange(n *yaml.Node, key string) (Range, bool) {
	s := strings.TrimSpace(p.scalar(n, key))
	bad := func() (Range, bool) {
		p.errorf(n, "%s: %q is not a score or a range (expected e.g. 80, 70..90, 75.., ..50, \">= 75\")", key, s)
		return Range{}, false
	}
	num := func(t string) (float64, bool) {
		x, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return x, err == nil && !math.IsNaN(x)
	}
	inf := math.Inf(1)
	for _, op := range []string{">=", "<=", ">", "<"} {
		if rest, ok := strings.CutPrefix(s, op); ok {
			x, ok := num(rest)
			if !ok {
				return bad()
			}
			switch op {
			case ">=":
				return Range{x, inf}, true
			case "<=":
				return Range{-inf, x}, true
			case ">":
				return Range{math.Nextafter(x, inf), inf}, true
			default:
				return Range{-inf, math.Nextafter(x, -inf)}, true
			}
		}
	}
	if lo, hi, ok := strings.Cut(s, ".."); ok {
		r := Range{-inf, inf}
		var good bool
		if lo != "" {
			if r.Min, good = num(lo); !good {
				return bad()
			}
		}
		if hi != "" {
			if r.Max, good = num(hi); !good {
				return bad()
			}
		}
		if r.Min > r.Max || (lo == "" && hi == "") {
			return bad()
		}
		return r, true
	}
	x, ok := num(s)
	if !ok {
		return bad()
	}
	return Range{x, x}, true
}

// traits reads an event's traits, a mapping such as {plan: enterprise,
// seats: 40}, as the JSON text a decoder gives the engine.
func (p *parser) traits(n *yaml.Node) string {
	var m map[string]any
	if n.Kind != yaml.MappingNode || n.Decode(&m) != nil {
		p.errorf(n, "traits: expected a mapping of trait values, like {plan: enterprise, seats: 40}")
		return ""
	}
	b, err := json.Marshal(m)
	if err != nil {
		p.errorf(n, "traits: %v", err)
		return ""
	}
	return string(b)
}
