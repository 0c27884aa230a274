package rules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// Compiling a pack: Parse reads the YAML (shape.go), then compile builds
// the Pack of pack.go one section at a time, reporting every mistake at
// its place, and hands what the pack checks need (compiled) to check.go.

// Parse loads, checks and compiles a rule pack. file names it in
// diagnostics. It returns every diagnostic, warnings included, in file
// order; err is an *InvalidError listing the errors when there is any, and
// then the pack is nil. Parse never panics and does no I/O: a runtime that
// reloads a pack logs err (one "file:line:col: error: ..." line per
// problem) and keeps the pack it has.
//
// Parse reads at most MaxPackSize bytes and expands at most MaxAliasNodes
// YAML nodes through aliases (bounds.go); a pack past either is reported
// as invalid at once.
func Parse(file string, data []byte) (*Pack, []Diagnostic, error) {
	return ParseContext(context.Background(), file, data)
}

// ParseContext is Parse, stopped when ctx ends: it returns within moments
// of that, with an *InvalidError whose last diagnostic says why
// (context.Cause(ctx)). A caller that cannot wait for a pack, such as a
// reload that must not hold up shutdown, uses it with a deadline
// (DefaultTimeout) and its own cancellation.
func ParseContext(ctx context.Context, file string, data []byte) (*Pack, []Diagnostic, error) {
	d := &diags{file: file, src: data, ctx: ctx}
	var doc packDoc
	keys := map[string]pos{}
	if !d.checkSize(data) || !decodeDoc(d, data, &doc, keys) {
		list := d.sorted()
		return nil, list, &InvalidError{Diags: Errors(list)}
	}
	p := compile(d, &doc, keys)
	list := d.sorted()
	if d.errorCount() > 0 {
		return nil, list, &InvalidError{Diags: Errors(list)}
	}
	p.Source = bytes.Clone(data)
	p.Version = doc.Version.Value
	if p.Version == "" {
		sum := sha256.Sum256(data)
		p.Version = "sha256:" + hex.EncodeToString(sum[:6])
	}
	return p, list, nil
}

// compiled keeps, next to each compiled rule, what the pack checks
// (check.go) need: where it is written, its expression trees, the stages
// it applies to.
type compiled struct {
	keys     map[string]pos // top-level keys, "touchpoints/NAME" and "kpis/KEY"
	stagePos map[string]pos
	catIdx   map[string]Category
	mapped   []int // per category: how many event names and call types map to it
	trans    []transInfo
	alerts   []alertInfo
	comps    []compInfo
	// transErrors is set when some transition has an error: which stages
	// are reachable cannot be judged then, and is not reported.
	transErrors bool
	bandsPos    pos // health.bands, when written
	// eventDoms caches, per category, what the event variable can be
	// (check.go, eventNames).
	eventDoms map[Category]strDom
	// eventUnions caches the same per list of categories (a transition
	// on several).
	eventUnions map[string]strDom
}

type transInfo struct {
	t      *Transition
	doc    *transitionDoc
	from   []int    // stage indexes
	when   ast.Node // nil: no when, or one that did not compile
	broken bool     // the transition has an error: the checks skip it
	// indexed tells that its to names a known stage, so that it is in
	// Pack.Transitions and the engine's indexes.
	indexed bool
}

type alertInfo struct {
	a       *Alert
	doc     *alertDoc
	when    ast.Node
	resolve ast.Node
	broken  bool
}

type compInfo struct {
	doc   *componentDoc
	score ast.Node // nil when it did not compile
}

// top is where a top-level key is written (1:1 when it is missing).
func (c *compiled) top(key string) pos {
	if at, ok := c.keys[key]; ok {
		return at
	}
	return pos{1, 1}
}

// ruleLabel names a rule in messages, even one whose name is missing.
func ruleLabel(name text, at pos) string {
	if name.Value != "" {
		return name.Value
	}
	return fmt.Sprintf("(unnamed, line %d)", at.Line)
}

// compile turns a decoded pack into a Pack, one section after the other
// (each reports its own mistakes to d), then runs the pack checks
// (check.go). The sections come in dependency order: categories and
// stages first, since transitions and alerts name them.
func compile(d *diags, doc *packDoc, keys map[string]pos) *Pack {
	p := &Pack{stageIdx: map[string]int{"": 0}, alertIdx: map[string]*Alert{}, byEvent: map[string]Category{}, byCall: map[string]Category{}}
	c := &compiled{keys: keys, stagePos: map[string]pos{}, catIdx: map[string]Category{}}
	// A value of the wrong shape was dropped: what reaches which stage
	// cannot be judged without it.
	c.transErrors = d.errorCount() > 0

	for _, section := range []func(){
		func() { compileTraits(d, p, c, doc.Traits) }, // first: every expression may read them
		func() { compileParams(d, p, c, doc.Params) }, // so may they (profiles.go)
		func() { compileTouchpoints(d, p, c, doc) },
		func() { compileStages(d, p, c, &doc.Stages) },
		func() { compileTransitions(d, p, c, doc.Transitions) },
		func() { compileHealth(d, p, c, &doc.Health) },
		func() { compileAlerts(d, p, c, doc.Alerts) },
		func() { compileKPIs(d, p, c, &doc.KPIs) }, // after transitions: its hints read them
		func() { compileMoney(d, p, &doc.Money) },
		func() { linkAlerts(d, p, c) }, // after KPIs: the churned stage
		// After health and alerts, which profiles name (profiles.go).
		func() { compileProfiles(d, p, c, doc.Profiles) },
		func() { check(d, p, c) },
	} {
		if d.stopped() {
			break
		}
		section()
	}
	return p
}

// compileTouchpoints builds the categories (the built-in ones, then the
// pack's own in name order) and the event name and call type maps of
// Classify.
func compileTouchpoints(d *diags, p *Pack, c *compiled, doc *packDoc) {
	p.Categories = append(p.Categories, builtinCategoryNames[:]...)
	catIdx := c.catIdx
	for i, n := range builtinCategoryNames {
		catIdx[n] = Category(i)
	}
	var custom []string
	for name := range doc.Touchpoints {
		if _, ok := catIdx[name]; !ok {
			custom = append(custom, name)
		}
	}
	sort.Strings(custom)
	for _, name := range custom {
		if name == TimerCategory || !validName(name) {
			at := c.catAt(doc, name)
			d.errorf(at.Line, at.Col, "touchpoint category %q: names are lower_snake_case (letters, digits, _) and %q is reserved", name, TimerCategory)
		}
		catIdx[name] = Category(len(p.Categories))
		p.Categories = append(p.Categories, name)
	}
	c.mapped = make([]int, len(p.Categories))
	packMatch := MatchExact
	if m, ok := c.match(d, doc.EventMatch, "event_match"); ok {
		packMatch = m
	}
	eventAt := map[string]pos{}
	eventCat := map[string]string{}
	var names []matchedName
	for _, name := range sortedKeys(doc.Touchpoints) {
		tp := doc.Touchpoints[name]
		cat := catIdx[name]
		match := packMatch
		if m, ok := c.match(d, tp.Match, "touchpoint category "+name+": match"); ok {
			match = m
		}
		for _, ev := range tp.Events.Items {
			if ev.Value == "" {
				d.errorf(ev.Line, ev.Col, "touchpoint category %s: empty event name", name)
				continue
			}
			if prev, dup := eventAt[ev.Value]; dup {
				d.errorf(ev.Line, ev.Col, "event %q is already mapped to %s at line %d: an event belongs to one category", ev.Value, eventCat[ev.Value], prev.Line)
				continue
			}
			eventAt[ev.Value], eventCat[ev.Value] = ev.pos, name
			p.byEvent[ev.Value] = cat
			c.mapped[cat]++
			names = append(names, matchedName{text: ev, cat: cat, catName: name, match: match})
		}
		for _, call := range tp.Calls.Items {
			if !slices.Contains(CallTypes, call.Value) {
				d.errorf(call.Line, call.Col, "unknown call type %q (expected %s)%s", call.Value, strings.Join(CallTypes, ", "), didYouMean(call.Value, CallTypes))
				continue
			}
			if prev, dup := eventAt["call:"+call.Value]; dup {
				d.errorf(call.Line, call.Col, "call type %q is already mapped to %s at line %d", call.Value, eventCat["call:"+call.Value], prev.Line)
				continue
			}
			eventAt["call:"+call.Value], eventCat["call:"+call.Value] = call.pos, name
			p.byCall[call.Value] = cat
			c.mapped[cat]++
		}
	}
	foldNames(d, p, names)
	if len(p.byEvent) == 0 && len(p.byCall) == 0 {
		at := c.top("touchpoints")
		d.errorf(at.Line, at.Col, "touchpoints: no event is mapped to a category, so no event can change a customer (e.g. touchpoints: {purchase: {events: [Order Completed]}})")
	}
}

// CallTypes are the event types a touchpoint's calls may map whole: the
// Segment call types, cloudevent for every CloudEvent, and page_ping for
// Snowplow's page pings (its page views arrive as page calls).
var CallTypes = []string{"page", "screen", "identify", "group", "alias", "track", "cloudevent", "page_ping"}

// match reads a matching mode (event_match, or a touchpoint's match);
// ok is false when t is not written or is wrong (reported).
func (c *compiled) match(d *diags, t text, key string) (Match, bool) {
	if t.Value == "" {
		return MatchExact, false
	}
	m, ok := parseMatch(t.Value)
	if !ok {
		d.errorf(t.Line, t.Col, "%s: %q is not a way to match event names (expected exact, case_insensitive or loose)%s", key, t.Value, didYouMean(t.Value, matchNames[:]))
	}
	return m, ok
}

// matchedName is an event name of the touchpoints with the matching it
// is under.
type matchedName struct {
	text
	cat     Category
	catName string
	match   Match
}

// foldNames builds the lookup maps of the names matched other than
// exactly, and reports names that match the same events: in two
// categories, an error (which category would such an event be?); in one,
// a warning (one spelling covers both). Two names overlap when they are
// equal under the looser of their two matchings: "Order Completed"
// (exact) and "order_completed" (loose) both match "Order Completed".
func foldNames(d *diags, p *Pack, names []matchedName) {
	slices.SortFunc(names, func(a, b matchedName) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	seen := [2]map[string][]int{{}, {}} // by MatchCaseInsensitive-1, MatchLoose-1
	for i, n := range names {
		var keys [2]string
		clash := -1
		var under Match
		for mi, m := range []Match{MatchCaseInsensitive, MatchLoose} {
			keys[mi] = foldKey(n.Value, m)
			for _, j := range seen[mi][keys[mi]] {
				if clash < 0 && max(n.match, names[j].match) >= m {
					clash, under = j, max(n.match, names[j].match)
				}
			}
		}
		if clash >= 0 {
			o := names[clash]
			if o.cat != n.cat {
				d.errorf(n.Line, n.Col, "event %q (%s) and %q (%s, line %d) match the same event names under %s matching: an event belongs to one category (spell them apart, or match both exactly with match: exact)", n.Value, n.catName, o.Value, o.catName, o.Line, under)
				continue
			}
			d.warnf(n.Line, n.Col, "event %q matches the same event names as %q (line %d) under %s matching: one of them is enough", n.Value, o.Value, o.Line, under)
		}
		for mi := range keys {
			seen[mi][keys[mi]] = append(seen[mi][keys[mi]], i)
		}
		var m map[string]namedCategory
		switch n.match {
		case MatchCaseInsensitive:
			if p.byFold == nil {
				p.byFold = map[string]namedCategory{}
			}
			m = p.byFold
		case MatchLoose:
			if p.byLoose == nil {
				p.byLoose = map[string]namedCategory{}
			}
			m = p.byLoose
		default:
			continue
		}
		k := keys[n.match-1]
		if _, dup := m[k]; !dup {
			m[k] = namedCategory{cat: n.cat, name: n.Value}
			p.maxFoldKey = max(p.maxFoldKey, len(k))
		}
	}
}

// compileStages builds the stage list and its index.
func compileStages(d *diags, p *Pack, c *compiled, stages *texts) {
	for _, s := range stages.Items {
		switch {
		case s.Value == NewStage || s.Value == "":
			d.errorf(s.Line, s.Col, "%q cannot be a stage name: %q stands for a customer with no stage yet", s.Value, NewStage)
			continue
		case !validName(s.Value):
			d.errorf(s.Line, s.Col, "stage %q: names are lower_snake_case (letters, digits, _)", s.Value)
			continue
		}
		if prev, dup := c.stagePos[s.Value]; dup {
			d.errorf(s.Line, s.Col, "stage %q is declared twice (first at line %d)", s.Value, prev.Line)
			continue
		}
		c.stagePos[s.Value] = s.pos
		p.Stages = append(p.Stages, s.Value)
		p.stageIdx[s.Value] = len(p.Stages)
	}
	if len(p.Stages) == 0 && len(stages.Items) == 0 {
		at := c.top("stages")
		d.errorf(at.Line, at.Col, "stages: at least one stage is needed, in lifecycle order (e.g. stages: [lead, customer, churned])")
	}
}

// stageRef resolves a stage name written in the pack to its index;
// allowNew accepts "new" (no stage yet), as a transition's from does. It
// reports an unknown name and returns false.
func stageRef(d *diags, p *Pack, t text, allowNew bool) (int, bool) {
	if allowNew && t.Value == NewStage {
		return 0, true
	}
	i, ok := p.stageIdx[t.Value]
	if !ok || t.Value == "" {
		if t.Value == NewStage {
			d.errorf(t.Line, t.Col, "%q is not a stage: it stands for a customer with no stage yet, and only a transition's from may name it", NewStage)
			return 0, false
		}
		options := append([]string(nil), p.Stages...)
		if allowNew {
			options = append(options, NewStage)
		}
		d.errorf(t.Line, t.Col, "unknown stage %q (expected one of %s)%s", t.Value, strings.Join(options, ", "), didYouMean(t.Value, options))
		return 0, false
	}
	return i, true
}

// compileTransitions compiles the transitions and indexes them by the
// stage they leave and the category (or timer) that triggers them, in
// file order: the order the engine tries them.
func compileTransitions(d *diags, p *Pack, c *compiled, docs []transitionDoc) {
	ns := p.NumStages()
	p.onEvent = make([][][]*Transition, ns)
	for i := range p.onEvent {
		p.onEvent[i] = make([][]*Transition, len(p.Categories))
	}
	p.onTimer = make([][]*Transition, ns)
	seen := map[string]int{}
	for i := range docs {
		if d.stopped() {
			return
		}
		ti, toOK := compileTransition(d, p, c, &docs[i], seen)
		c.transErrors = c.transErrors || ti.broken
		ti.indexed = toOK
		c.trans = append(c.trans, ti)
		if !toOK {
			continue
		}
		t := ti.t
		p.Transitions = append(p.Transitions, t)
		for _, fi := range ti.from {
			if t.Timer != nil {
				p.onTimer[fi] = append(p.onTimer[fi], t)
				continue
			}
			for _, cat := range t.On {
				p.onEvent[fi][cat] = append(p.onEvent[fi][cat], t)
			}
		}
	}
}

// compileTransition compiles one transition; toOK tells whether its to
// names a known stage (without one, the pack cannot index it).
func compileTransition(d *diags, p *Pack, c *compiled, td *transitionDoc, seen map[string]int) (ti transInfo, toOK bool) {
	errsBefore := d.errorCount()
	label := ruleLabel(td.Name, td.pos)
	t := &Transition{Name: td.Name.Value}
	checkRuleName(d, "transition", td.pos, td.Name, seen)
	to := 0
	if td.To.Value == "" {
		if !d.wasBad(td.To.pos) {
			d.errorf(td.Line, td.Col, "transition %s: to (the stage it moves the customer to) is required", label)
		}
	} else {
		to, toOK = stageRef(d, p, td.To, false)
	}
	t.To, t.toIdx = td.To.Value, to
	var from []int
	for _, f := range td.From.Items {
		fi, ok := stageRef(d, p, f, true)
		if !ok {
			continue
		}
		if toOK && fi == to {
			d.errorf(f.Line, f.Col, "transition %s goes from %s to itself", label, f.Value)
			continue
		}
		from = append(from, fi)
	}
	if len(td.From.Items) == 0 {
		// No from: any stage but the target, new customers included.
		for s := 0; s < p.NumStages(); s++ {
			if s != to {
				from = append(from, s)
			}
		}
	}
	for _, fi := range from {
		t.From = append(t.From, p.StageName(fi))
	}
	var whenAST ast.Node
	if td.When.Value != "" {
		t.When, whenAST = compileCond(d, p, &td.When)
	}
	hasOn, hasAfter := len(td.On.Items) > 0, td.After.Value != ""
	switch {
	case hasOn && hasAfter:
		d.errorf(td.Line, td.Col, "transition %s has both on and after: a transition is caused by an event or by a timer, not both", label)
	case !hasOn && !hasAfter && !d.wasBad(td.On.pos) && !d.wasBad(td.After.pos):
		d.errorf(td.Line, td.Col, "transition %s needs on (event categories, e.g. on: [purchase]) or after (a timer, e.g. after: 60d)", label)
	}
	for _, o := range td.On.Items {
		cat, ok := c.catIdx[o.Value]
		if !ok {
			hint := didYouMean(o.Value, p.Categories)
			if o.Value == TimerCategory {
				hint = "; a timed transition has after and since instead of on"
			}
			d.errorf(o.Line, o.Col, "unknown touchpoint category %q (expected one of %s)%s", o.Value, strings.Join(p.Categories, ", "), hint)
			continue
		}
		t.On = append(t.On, cat)
	}
	if hasAfter {
		t.Timer = compileTimer(d, td.pos, &td.After, &td.Since)
	} else if len(td.Since.Items) > 0 {
		d.errorf(td.Since.Line, td.Since.Col, "transition %s: since only goes with after (a timer)", label)
	}
	broken := d.errorCount() > errsBefore
	return transInfo{t: t, doc: td, from: from, when: whenAST, broken: broken}, toOK
}

// compileAlerts compiles the alert rules, in file order: the order the
// engine evaluates them.
func compileAlerts(d *diags, p *Pack, c *compiled, docs []alertDoc) {
	seen := map[string]int{}
	for i := range docs {
		if d.stopped() {
			return
		}
		info := compileAlert(d, p, &docs[i], seen)
		c.alerts = append(c.alerts, info)
		p.Alerts = append(p.Alerts, info.a)
		p.alertIdx[info.a.Name] = info.a
	}
}

func compileAlert(d *diags, p *Pack, ad *alertDoc, seen map[string]int) alertInfo {
	errsBefore := d.errorCount()
	label := ruleLabel(ad.Name, ad.pos)
	a := &Alert{Name: ad.Name.Value, Severity: ad.Severity.Value}
	checkRuleName(d, "alert", ad.pos, ad.Name, seen)
	switch {
	case a.Severity == "" && !d.wasBad(ad.Severity.pos):
		d.errorf(ad.Line, ad.Col, "alert %s: severity is required (one of %s)", label, strings.Join(severities, ", "))
	case a.Severity != "" && !slices.Contains(severities, a.Severity):
		d.errorf(ad.Severity.Line, ad.Severity.Col, "alert %s: severity %q (expected one of %s)%s", label, a.Severity, strings.Join(severities, ", "), didYouMean(a.Severity, severities))
	}
	if len(ad.Stages.Items) > 0 {
		a.stages = make([]bool, p.NumStages())
		for _, s := range ad.Stages.Items {
			if si, ok := stageRef(d, p, s, false); ok {
				a.stages[si] = true
				a.Stages = append(a.Stages, s.Value)
			}
		}
	}
	info := alertInfo{a: a, doc: ad}
	if ad.When.Value != "" {
		a.When, info.when = compileCond(d, p, &ad.When)
	}
	if ad.After.Value != "" {
		a.Timer = compileTimer(d, ad.pos, &ad.After, &ad.Since)
	} else if len(ad.Since.Items) > 0 {
		d.errorf(ad.Since.Line, ad.Since.Col, "alert %s: since only goes with after (a timer)", label)
	}
	if ad.When.Value == "" && ad.After.Value == "" && !d.wasBad(ad.When.pos) && !d.wasBad(ad.After.pos) {
		d.errorf(ad.Line, ad.Col, "alert %s needs when (a condition), after (a timer), or both", label)
	}
	if ad.Resolve.Value != "" {
		a.Resolve, info.resolve = compileCond(d, p, &ad.Resolve)
	}
	a.For = alertSpan(d, label, "for", &ad.For, "the condition must hold this long before the alert fires")
	a.Cooldown = alertSpan(d, label, "cooldown", &ad.Cooldown, "no new firing this long after the alert resolves")
	if a.For > 0 && a.Timer != nil && a.When == nil && ad.When.Value == "" {
		// Nothing but the stages can stop a due timer from holding.
		d.warnf(ad.For.Line, ad.For.Col, "alert %s: for on a timer without when only fires it later: write after: %s instead", label, formatDuration(a.Timer.After+a.For))
	}
	if len(ad.Reasons.Items) == 0 && !d.wasBad(ad.Reasons.pos) {
		d.errorf(ad.Line, ad.Col, "alert %s: reasons are required: say why it fires, with the values (e.g. \"{open_tickets} tickets open\")", label)
	}
	a.Reasons = compileTemplates(d, p.vocab(), ad.Reasons.Items)
	a.ResolveReasons = compileTemplates(d, p.vocab(), ad.ResolveReasons.Items)
	info.broken = d.errorCount() > errsBefore
	return info
}

// alertSpan compiles an alert's for or cooldown: a positive duration,
// 0 when left out. what says what the key does, for the error.
func alertSpan(d *diags, label, key string, v *text, what string) int64 {
	if v.Value == "" {
		return 0
	}
	s := strings.TrimSpace(v.Value)
	if strings.HasPrefix(s, "-") {
		d.errorf(v.Line, v.Col, "alert %s: %s: %q is negative: %s; write a positive duration such as 2d, or leave %s out", label, key, v.Value, what, key)
		return 0
	}
	ms, err := ParseDuration(s)
	if err != nil {
		d.errorf(v.Line, v.Col, "alert %s: %s: %v", label, key, err)
		return 0
	}
	return ms
}

// linkAlerts resolves what alerts name of the rest of the pack: the
// alerts in unless (which must be other alerts of the pack), and the
// churned stage that alerts without stages leave out.
func linkAlerts(d *diags, p *Pack, c *compiled) {
	churned := 0
	if p.Churned != "" {
		churned = p.StageIndex(p.Churned)
	}
	names := make([]string, 0, len(p.Alerts))
	for _, a := range p.Alerts {
		names = append(names, a.Name)
	}
	for i := range c.alerts {
		ai := &c.alerts[i]
		a := ai.a
		a.churned = max(churned, 0)
		for _, u := range ai.doc.Unless.Items {
			switch {
			case u.Value == a.Name:
				d.errorf(u.Line, u.Col, "alert %s: unless names the alert itself: list the other alerts that, while open, keep this one from firing", a.Name)
			case p.alertIdx[u.Value] == nil:
				d.errorf(u.Line, u.Col, "alert %s: unless: no alert named %q in this pack%s", a.Name, u.Value, didYouMean(u.Value, names))
			case slices.Contains(a.Unless, u.Value):
				d.errorf(u.Line, u.Col, "alert %s: unless names %s twice", a.Name, u.Value)
			default:
				a.Unless = append(a.Unless, u.Value)
			}
		}
	}
}

// The stages the KPIs count from when kpis leaves them out.
const (
	defaultConverted = "conversion"
	defaultChurned   = "churned"
)

// compileKPIs resolves which stages the KPIs count from: kpis.converted
// and kpis.churned, or the default stage names when left out. A key left
// out whose default stage the pack lacks is a warning that says what the
// KPIs lose; a key set to "" says the pack has no such stage, silently.
func compileKPIs(d *diags, p *Pack, c *compiled, k *kpisDoc) {
	if len(p.Stages) == 0 {
		return // no stage at all: an error says so already
	}
	p.Converted = kpiStage(d, p, c, "converted", &k.Converted, defaultConverted,
		"churn rate, retention and lifetime value per customer stay 0",
		"the stage a customer enters on its first purchase", firstPurchaseStage(p))
	p.Churned = kpiStage(d, p, c, "churned", &k.Churned, defaultChurned,
		"no customer counts as churned (the churn rate stays 0) and the funnel takes every stage as a step",
		"the stage of customers who left", finalStage(p))
	if p.Converted != "" && p.Converted == p.Churned {
		at := kpiKeyAt(c, "churned", &k.Churned)
		d.errorf(at.Line, at.Col, "kpis: converted and churned are both stage %s: a customer who churned would count as converted; name two different stages", p.Churned)
		p.Converted, p.Churned = "", ""
	}
}

// kpiStage resolves one kpis key: the stage it names, or its default. For
// the warning of a default the pack lacks, costs says what the KPIs lose,
// what describes the stage to name, and suggest is the pack's likely one.
func kpiStage(d *diags, p *Pack, c *compiled, key string, v *text, dflt, costs, what, suggest string) string {
	at := kpiKeyAt(c, key, v)
	switch _, known := p.stageIdx[v.Value]; {
	case at.Line != 0 && v.Value == "":
		return "" // written empty: the pack has no such stage
	case v.Value == NewStage:
		d.errorf(at.Line, at.Col, "kpis.%s: %q is not a stage: it stands for a customer with no stage yet (expected one of %s)", key, NewStage, strings.Join(p.Stages, ", "))
		return ""
	case at.Line != 0 && !known:
		d.errorf(at.Line, at.Col, "kpis.%s: unknown stage %q (expected one of %s)%s", key, v.Value, strings.Join(p.Stages, ", "), didYouMean(v.Value, p.Stages))
		return ""
	case at.Line != 0:
		return v.Value
	case slices.Contains(p.Stages, dflt):
		return dflt
	}
	if suggest == "" {
		suggest = "STAGE"
	}
	// Left out: the warning points at kpis, or else at stages.
	at, ok := c.keys["kpis"]
	if !ok {
		at = c.top("stages")
	}
	d.warnf(at.Line, at.Col, "kpis.%s: the pack has no stage %s, so %s; name %s (kpis: {%s: %s}), or write %s: \"\" if there is none", key, dflt, costs, what, key, suggest, key)
	return ""
}

// kpiKeyAt is where kpis key is written: the key itself, or its value
// when it comes through a YAML merge; the zero pos when it is left out.
func kpiKeyAt(c *compiled, key string, v *text) pos {
	if at, ok := c.keys["kpis/"+key]; ok {
		return at
	}
	return v.pos
}

// firstPurchaseStage guesses the converted stage of a pack: the stage the
// first transition on a purchase leads to ("" when none does).
func firstPurchaseStage(p *Pack) string {
	for _, t := range p.Transitions {
		if slices.Contains(t.On, CatPurchase) {
			return t.To
		}
	}
	return ""
}

// finalStage guesses the churned stage of a pack: the first stage whose
// name says customers end there ("" when none does).
func finalStage(p *Pack) string {
	for _, s := range p.Stages {
		if finalLooking(s) {
			return s
		}
	}
	return ""
}

// catAt is where touchpoint category name is written.
func (c *compiled) catAt(doc *packDoc, name string) pos {
	if at, ok := c.keys["touchpoints/"+name]; ok {
		return at
	}
	return doc.Touchpoints[name].pos
}

// compileCond compiles a condition; on error it reports it and returns
// nils.
func compileCond(d *diags, p *Pack, t *text) (func(*Vars) bool, ast.Node) {
	f, n, err := p.vocab().compileBool(t.Value)
	if err != nil {
		exprDiag(d, t, err)
		return nil, nil
	}
	return f, n
}

func exprDiag(d *diags, t *text, err error) {
	var ee *exprError
	if errors.As(err, &ee) {
		line, col := ee.line, ee.col
		if line == 0 {
			line, col = offsetPos(t.Value, ee.off)
		}
		line, col = d.at(t, line, col)
		d.errorf(line, col, "%s", ee.msg)
		return
	}
	d.errorf(t.Line, t.Col, "%v", err)
}

func compileTimer(d *diags, at pos, after *text, since *texts) *Timer {
	ms, err := ParseDuration(after.Value)
	if err != nil {
		d.errorf(after.Line, after.Col, "after: %v", err)
	}
	t := &Timer{After: ms}
	if len(since.Items) == 0 && !d.wasBad(since.pos) {
		d.errorf(at.Line, at.Col, "after needs since: the timestamps it counts from (one or more of %s)", strings.Join(timeNames[:], ", "))
	}
	for _, s := range since.Items {
		found := false
		for i, n := range timeNames {
			if n == s.Value {
				t.Since = append(t.Since, TimeField(i))
				found = true
			}
		}
		if !found {
			d.errorf(s.Line, s.Col, "since: unknown timestamp %q (expected one of %s)%s", s.Value, strings.Join(timeNames[:], ", "), didYouMean(s.Value, timeNames[:]))
		}
	}
	return t
}

func compileHealth(d *diags, p *Pack, c *compiled, h *healthDoc) {
	s := &p.Health
	s.Green, s.Yellow, s.EmitDelta = 75, 50, 5
	at := h.pos
	if _, ok := c.keys["health"]; !ok {
		top := c.top("health")
		d.errorf(top.Line, top.Col, "health: missing: a pack needs a health section with at least one component (see rules/README.md)")
		return
	}
	if at.Line == 0 {
		at = c.top("health")
	}
	c.bandsPos = h.Bands.pos
	if h.Bands.Green != nil {
		s.Green = *h.Bands.Green
	}
	if h.Bands.Yellow != nil {
		s.Yellow = *h.Bands.Yellow
	}
	if h.EmitDelta != nil {
		s.EmitDelta = *h.EmitDelta
	}
	if !(0 < s.Yellow && s.Yellow < s.Green && s.Green <= 100) {
		bat := h.Bands.pos
		if bat.Line == 0 {
			bat = at
		}
		d.errorf(bat.Line, bat.Col, "health bands: need 0 < yellow < green <= 100, got yellow %v, green %v", formatNum(s.Yellow), formatNum(s.Green))
	}
	if !(s.EmitDelta > 0 && s.EmitDelta <= 100) { // NaN included
		d.errorf(at.Line, at.Col, "health emit_delta %v: expected a number of points in (0, 100]", formatNum(s.EmitDelta))
	}
	if len(h.Components) == 0 {
		d.errorf(at.Line, at.Col, "health: at least one component is needed (components: [{name: ..., weight: ..., score: ...}])")
	}
	seen := map[string]int{}
	var parts []string
	badWeight := false
	for i := range h.Components {
		cd := &h.Components[i]
		label := ruleLabel(cd.Name, cd.pos)
		checkRuleName(d, "health component", cd.pos, cd.Name, seen)
		var w float64
		if cd.Weight.Value == "" {
			badWeight = true
			if !d.wasBad(cd.Weight.pos) {
				d.errorf(cd.Line, cd.Col, "health component %s: weight is required (its share of the score in percent; the weights add up to 100)", label)
			}
		} else {
			var err error
			w, err = strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(cd.Weight.Value, "%")), 64)
			if err != nil || w <= 0 || w > 100 || math.IsNaN(w) {
				d.errorf(cd.Weight.Line, cd.Weight.Col, "health component %s: weight %q: expected a positive number of percent, at most 100", label, cd.Weight.Value)
				w, badWeight = 0, true
			}
		}
		var score func(*Vars) float64
		var tree ast.Node
		if cd.Score.Value == "" {
			if !d.wasBad(cd.Score.pos) {
				d.errorf(cd.Line, cd.Col, "health component %s: score (an expression giving 0-100) is required", label)
			}
		} else if f, n, err := p.vocab().compileNum(cd.Score.Value); err != nil {
			exprDiag(d, &cd.Score, err)
		} else {
			score, tree = f, n
		}
		c.comps = append(c.comps, compInfo{doc: cd, score: tree})
		s.Components = append(s.Components, Component{Name: cd.Name.Value, Weight: w, Score: score})
		s.weightSum += w
		parts = append(parts, fmt.Sprintf("%s %s", label, formatNum(w)))
	}
	if len(h.Components) > 0 && !badWeight && math.Abs(s.weightSum-100) > 1e-9 {
		d.errorf(at.Line, at.Col, "health component weights add up to %v (%s), expected 100", formatNum(s.weightSum), strings.Join(parts, " + "))
	}
}

func checkRuleName(d *diags, what string, at pos, name text, seen map[string]int) {
	switch {
	case name.Value == "" && d.wasBad(name.pos):
	case name.Value == "":
		d.errorf(at.Line, at.Col, "%s: name is required", what)
	case !validName(strings.ReplaceAll(name.Value, "-", "_")):
		d.errorf(name.Line, name.Col, "%s name %q: use lower-case letters, digits, - and _", what, name.Value)
	default:
		if prev, dup := seen[name.Value]; dup {
			d.errorf(name.Line, name.Col, "%s %q is declared twice (first at line %d)", what, name.Value, prev)
		}
		seen[name.Value] = name.Line
	}
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
