package rules

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
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

//go:embed default.yaml
var defaultYAML []byte

// DefaultFile is the name the embedded default pack reports in diagnostics.
const DefaultFile = "rules/default.yaml"

// DefaultYAML returns the text of the default rule pack (a copy).
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default parses the embedded default pack. It cannot fail in a released
// binary: the pack is checked by this package's tests.
func Default() *Pack {
	p, _, err := Parse(DefaultFile, defaultYAML)
	if err != nil {
		panic("rules: embedded default pack is invalid: " + err.Error())
	}
	return p
}

// Category is a touchpoint category: what kind of event this is for the
// lifecycle. The built-in ones have effects on a customer's state (a
// purchase counts, a ticket opens); a pack may add its own, which only
// transitions and alerts see (through the touchpoint variable).
type Category int

// The built-in categories, in the order of DESIGN.md's vocabulary.
const (
	CatNone Category = iota - 1
	CatReach
	CatSignup
	CatPurchase
	CatEngagement
	CatSupportOpened
	CatSupportSolved
	CatNPS
	CatReferral
	CatPaymentFailed
	CatRefund
	CatCancel
	builtinCategories
)

var builtinCategoryNames = [builtinCategories]string{
	"reach", "signup", "purchase", "engagement", "support_opened", "support_solved",
	"nps", "referral", "payment_failed", "refund", "cancel",
}

// TimerCategory is the touchpoint variable's value when a timer, not an
// event, causes an evaluation.
const TimerCategory = "timer"

// NewStage is how rule files name "no stage yet" in a transition's from.
const NewStage = "new"

// Severity of an alert.
var severities = []string{"info", "warning", "critical"}

// Timer is a time condition: it holds once After has passed since the
// latest of the Since timestamps.
type Timer struct {
	After int64       // milliseconds
	Since []TimeField // the latest non-zero one counts
}

// Due returns when the timer falls due for these timestamps, or 0 when
// none of them is set.
func (t *Timer) Due(times *Times) int64 {
	var base int64
	for _, f := range t.Since {
		if times[f] > base {
			base = times[f]
		}
	}
	if base == 0 {
		return 0
	}
	return base + t.After
}

// Transition moves a customer from one of its From stages to To, on an
// event of one of its categories (or, for a timed transition, when its
// Timer falls due), if its condition holds.
type Transition struct {
	Name  string
	From  []string // stage names; "" is a customer with no stage yet
	To    string
	toIdx int
	On    []Category
	When  func(*Vars) bool // nil: always
	Timer *Timer           // set for timed transitions, which have no On
}

// Component is one measure of the health scorecard.
type Component struct {
	Name   string
	Weight float64
	Score  func(*Vars) float64 // clamped to 0-100 by the scorecard
}

// Band is a health colour.
type Band uint8

// Bands, worst first; NoBand means "never scored".
const (
	NoBand Band = iota
	Red
	Yellow
	Green
)

func (b Band) String() string {
	switch b {
	case Red:
		return "red"
	case Yellow:
		return "yellow"
	case Green:
		return "green"
	}
	return ""
}

// Scorecard is the health score: a weighted average of components.
type Scorecard struct {
	Components []Component
	Green      float64 // score at or above which the band is green
	Yellow     float64 // score at or above which the band is yellow
	EmitDelta  float64 // a move at least this large emits a health record
	weightSum  float64
}

// Eval computes the score and band; comps receives each component's score
// (len(comps) must be len(Components)).
func (s *Scorecard) Eval(v *Vars, comps []float64) (score float64, band Band) {
	var sum float64
	for i, c := range s.Components {
		x := c.Score(v)
		if x != x { // NaN
			x = 0
		}
		x = math.Round(math.Min(math.Max(x, 0), 100))
		comps[i] = x
		sum += x * c.Weight
	}
	score = math.Round(sum / s.weightSum)
	return score, s.BandOf(score)
}

// BandOf returns the band of a score.
func (s *Scorecard) BandOf(score float64) Band {
	switch {
	case score >= s.Green:
		return Green
	case score >= s.Yellow:
		return Yellow
	}
	return Red
}

// Alert is an alert rule. It is active while the customer is in one of
// Stages (all when empty), When holds and Timer (if any) has falled due; it
// fires when it becomes active and resolves when it is no longer active,
// or, when Resolve is set, only once Resolve holds (or the customer leaves
// Stages).
type Alert struct {
	Name           string
	Severity       string
	stages         []bool // by stage index; nil: every stage
	Stages         []string
	When           func(*Vars) bool
	Timer          *Timer
	Resolve        func(*Vars) bool
	Reasons        []Template
	ResolveReasons []Template
}

// InStages reports whether the rule applies to a customer in stage index
// st.
func (a *Alert) InStages(st int) bool { return a.stages == nil || (st >= 0 && a.stages[st]) }

// Active reports whether the alert's condition holds at now.
func (a *Alert) Active(v *Vars, st int, times *Times, now int64) bool {
	if !a.InStages(st) {
		return false
	}
	if a.When != nil && !a.When(v) {
		return false
	}
	if a.Timer != nil {
		due := a.Timer.Due(times)
		return due != 0 && now >= due
	}
	return true
}

// Cleared reports whether an open alert resolves at now.
func (a *Alert) Cleared(v *Vars, st int, times *Times, now int64) bool {
	if !a.InStages(st) {
		return true
	}
	if a.Resolve != nil {
		return a.Resolve(v)
	}
	return !a.Active(v, st, times, now)
}

// Pack is a compiled rule pack: immutable, safe for concurrent use.
type Pack struct {
	// Version identifies the pack in every output record: the pack's
	// declared version, else "sha256:" and the first 12 hex digits of its
	// text's hash.
	Version     string
	Source      []byte // the YAML it was parsed from
	Stages      []string
	Categories  []string // index = Category
	Transitions []*Transition
	Health      Scorecard
	Alerts      []*Alert

	stageIdx map[string]int // "" → 0, then Stages[i] → i+1
	alertIdx map[string]*Alert
	byEvent  map[string]Category
	byCall   map[string]Category
	// onEvent[stage][category]: event transitions to try, in file order.
	onEvent [][][]*Transition
	// onTimer[stage]: timed transitions to try, in file order.
	onTimer [][]*Transition
}

// StageIndex returns the index of a stage name (0 for "", no stage), or -1
// when the pack does not know it (a stage from an older pack).
func (p *Pack) StageIndex(name string) int {
	if i, ok := p.stageIdx[name]; ok {
		return i
	}
	return -1
}

// NumStages is the number of stage indexes (the named stages plus "").
func (p *Pack) NumStages() int { return len(p.Stages) + 1 }

// StageName returns the name of stage index i.
func (p *Pack) StageName(i int) string {
	if i <= 0 {
		return ""
	}
	return p.Stages[i-1]
}

// Classify returns the category of an event from its Segment call type and
// its name, or CatNone when the pack does not map it.
func (p *Pack) Classify(callType, name string) Category {
	if name != "" {
		if c, ok := p.byEvent[name]; ok {
			return c
		}
	}
	if c, ok := p.byCall[callType]; ok {
		return c
	}
	return CatNone
}

// CategoryName returns a category's name ("" for CatNone).
func (p *Pack) CategoryName(c Category) string {
	if c < 0 || int(c) >= len(p.Categories) {
		return ""
	}
	return p.Categories[c]
}

// EventTransitions returns the transitions to try, in order, for a
// customer in stage index st receiving an event of category c. Stage -1
// (unknown to this pack) has none.
func (p *Pack) EventTransitions(st int, c Category) []*Transition {
	if st < 0 || c < 0 {
		return nil
	}
	return p.onEvent[st][c]
}

// TimerTransitions returns the timed transitions out of stage index st.
func (p *Pack) TimerTransitions(st int) []*Transition {
	if st < 0 {
		return nil
	}
	return p.onTimer[st]
}

// Alert returns the alert rule of that name, or nil.
func (p *Pack) Alert(name string) *Alert { return p.alertIdx[name] }

// ToIndex returns To's stage index.
func (t *Transition) ToIndex() int { return t.toIdx }

// Parse loads, checks and compiles a rule pack. file names it in
// diagnostics. It returns every diagnostic, warnings included, in file
// order; err is an *InvalidError listing the errors when there is any, and
// then the pack is nil. Parse never panics and does no I/O: a runtime that
// reloads a pack logs err (one "file:line:col: error: ..." line per
// problem) and keeps the pack it has.
func Parse(file string, data []byte) (*Pack, []Diagnostic, error) {
	d := &diags{file: file, src: data}
	var doc packDoc
	keys := map[string]pos{}
	if !decodeDoc(d, data, &doc, keys) {
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
	keys     map[string]pos // top-level keys, and "touchpoints/NAME"
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
}

type transInfo struct {
	t      *Transition
	doc    *transitionDoc
	from   []int    // stage indexes
	when   ast.Node // nil: no when, or one that did not compile
	broken bool     // the transition has an error: the checks skip it
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

func compile(d *diags, doc *packDoc, keys map[string]pos) *Pack {
	p := &Pack{stageIdx: map[string]int{"": 0}, alertIdx: map[string]*Alert{}, byEvent: map[string]Category{}, byCall: map[string]Category{}}
	c := &compiled{keys: keys, stagePos: map[string]pos{}, catIdx: map[string]Category{}}
	// A value of the wrong shape was dropped: what reaches which stage
	// cannot be judged without it.
	c.transErrors = d.errorCount() > 0

	// Categories: the built-in ones, then the pack's own in name order.
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
	eventAt := map[string]pos{}
	eventCat := map[string]string{}
	for _, name := range sortedKeys(doc.Touchpoints) {
		tp := doc.Touchpoints[name]
		cat := catIdx[name]
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
		}
		for _, call := range tp.Calls.Items {
			switch call.Value {
			case "track", "identify", "page", "screen", "group", "alias", "cloudevent":
			default:
				d.errorf(call.Line, call.Col, "unknown call type %q (expected page, screen, identify, group, alias, track or cloudevent)%s", call.Value,
					didYouMean(call.Value, []string{"page", "screen", "identify", "group", "alias", "track", "cloudevent"}))
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
	if len(p.byEvent) == 0 && len(p.byCall) == 0 {
		at := c.top("touchpoints")
		d.errorf(at.Line, at.Col, "touchpoints: no event is mapped to a category, so no event can change a customer (e.g. touchpoints: {purchase: {events: [Order Completed]}})")
	}

	// Stages.
	for _, s := range doc.Stages.Items {
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
	if len(p.Stages) == 0 && len(doc.Stages.Items) == 0 {
		at := c.top("stages")
		d.errorf(at.Line, at.Col, "stages: at least one stage is needed, in lifecycle order (e.g. stages: [lead, customer, churned])")
	}
	ns := p.NumStages()
	p.onEvent = make([][][]*Transition, ns)
	for i := range p.onEvent {
		p.onEvent[i] = make([][]*Transition, len(p.Categories))
	}
	p.onTimer = make([][]*Transition, ns)

	stageRef := func(t text, allowNew bool) (int, bool) {
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

	// Transitions.
	seen := map[string]int{}
	for i := range doc.Transitions {
		td := &doc.Transitions[i]
		errsBefore := d.errorCount()
		label := ruleLabel(td.Name, td.pos)
		t := &Transition{Name: td.Name.Value}
		checkRuleName(d, "transition", td.pos, td.Name, seen)
		to, toOK := 0, false
		if td.To.Value == "" {
			if !d.wasBad(td.To.pos) {
				d.errorf(td.Line, td.Col, "transition %s: to (the stage it moves the customer to) is required", label)
			}
		} else {
			to, toOK = stageRef(td.To, false)
		}
		t.To, t.toIdx = td.To.Value, to
		var from []int
		for _, f := range td.From.Items {
			fi, ok := stageRef(f, true)
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
			for s := 0; s < ns; s++ {
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
			t.When, whenAST = compileCond(d, &td.When)
		}
		hasOn, hasAfter := len(td.On.Items) > 0, td.After.Value != ""
		switch {
		case hasOn && hasAfter:
			d.errorf(td.Line, td.Col, "transition %s has both on and after: a transition is caused by an event or by a timer, not both", label)
		case !hasOn && !hasAfter && !d.wasBad(td.On.pos) && !d.wasBad(td.After.pos):
			d.errorf(td.Line, td.Col, "transition %s needs on (event categories, e.g. on: [purchase]) or after (a timer, e.g. after: 60d)", label)
		}
		for _, o := range td.On.Items {
			cat, ok := catIdx[o.Value]
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
		c.transErrors = c.transErrors || broken
		c.trans = append(c.trans, transInfo{t: t, doc: td, from: from, when: whenAST, broken: broken})
		if !toOK {
			continue
		}
		p.Transitions = append(p.Transitions, t)
		for _, fi := range from {
			if t.Timer != nil {
				p.onTimer[fi] = append(p.onTimer[fi], t)
				continue
			}
			for _, cat := range t.On {
				p.onEvent[fi][cat] = append(p.onEvent[fi][cat], t)
			}
		}
	}

	// Health.
	compileHealth(d, p, c, &doc.Health)

	// Alerts.
	seen = map[string]int{}
	for i := range doc.Alerts {
		ad := &doc.Alerts[i]
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
			a.stages = make([]bool, ns)
			for _, s := range ad.Stages.Items {
				if si, ok := stageRef(s, false); ok {
					a.stages[si] = true
					a.Stages = append(a.Stages, s.Value)
				}
			}
		}
		info := alertInfo{a: a, doc: ad}
		if ad.When.Value != "" {
			a.When, info.when = compileCond(d, &ad.When)
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
			a.Resolve, info.resolve = compileCond(d, &ad.Resolve)
		}
		if len(ad.Reasons.Items) == 0 && !d.wasBad(ad.Reasons.pos) {
			d.errorf(ad.Line, ad.Col, "alert %s: reasons are required: say why it fires, with the values (e.g. \"{open_tickets} tickets open\")", label)
		}
		a.Reasons = compileTemplates(d, ad.Reasons.Items)
		a.ResolveReasons = compileTemplates(d, ad.ResolveReasons.Items)
		info.broken = d.errorCount() > errsBefore
		c.alerts = append(c.alerts, info)
		p.Alerts = append(p.Alerts, a)
		p.alertIdx[a.Name] = a
	}

	check(d, p, c)
	return p
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
func compileCond(d *diags, t *text) (func(*Vars) bool, ast.Node) {
	f, n, err := compileBool(t.Value)
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
	if s.EmitDelta <= 0 || s.EmitDelta > 100 {
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
		} else if f, n, err := compileNum(cd.Score.Value); err != nil {
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

// ParseDuration parses a rule duration: a sequence of integer-unit pairs
// with units w (weeks), d (days), h, m, s; e.g. "14d", "1d12h". It returns
// milliseconds.
func ParseDuration(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty duration (expected e.g. 14d, 36h, 90m)")
	}
	var total int64
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, fmt.Errorf("duration %q: expected a whole number followed by a unit (w, d, h, m, s), e.g. 14d", s)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		var unit int64
		switch rest[i] {
		case 'w':
			unit = 7 * 24 * 3600 * 1000
		case 'd':
			unit = 24 * 3600 * 1000
		case 'h':
			unit = 3600 * 1000
		case 'm':
			unit = 60 * 1000
		case 's':
			unit = 1000
		default:
			return 0, fmt.Errorf("duration %q: unknown unit %q (expected w, d, h, m or s)", s, rest[i])
		}
		total += n * unit
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return total, nil
}
