package rules

import (
	"bytes"
	_ "embed"
	"math"
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

// The built-in categories, in the order of the default pack's touchpoints
// (rules/README.md, "touchpoints").
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

// ToIndex returns To's stage index.
func (t *Transition) ToIndex() int { return t.toIdx }

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
// Stages (all but the pack's churned stage when empty), When holds, Timer
// (if any) has fallen due and none of the Unless alerts is open for the
// customer. It fires once it has been active for For (observed active at
// every evaluation in between) and its Cooldown since the customer's last
// resolved alert of this rule has passed; it resolves when it is no
// longer active, or, when Resolve is set, only once Resolve holds (or the
// customer leaves Stages).
type Alert struct {
	Name     string
	Severity string
	stages   []bool // by stage index; nil: every stage but churned
	Stages   []string
	When     func(*Vars) bool
	Timer    *Timer
	Resolve  func(*Vars) bool
	// For is how long (ms of event time) the condition must hold before
	// the alert fires; 0: at once.
	For int64
	// Cooldown is how long (ms of event time) after a resolve of this
	// rule for a customer no new firing for that customer may come; 0:
	// none. A condition that holds when it ends fires then.
	Cooldown int64
	// Unless names alerts of the pack: while one of them is open for the
	// customer, this one does not fire (nor counts as pending).
	Unless         []string
	churned        int // the pack's churned stage index (0: none)
	Reasons        []Template
	ResolveReasons []Template
}

// InStages reports whether the rule applies to a customer in stage index
// st. A rule without stages applies to every stage but the pack's
// churned one (Pack.Churned): a churned customer's alerts are closed, and
// only a rule that names the stage alerts on churned customers.
func (a *Alert) InStages(st int) bool {
	if a.stages == nil {
		return a.churned == 0 || st != a.churned
	}
	return st >= 0 && a.stages[st]
}

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
	// Converted is the stage that makes a customer "converted" once it
	// has ever entered it: churn rate, retention rate and lifetime value
	// per converted customer count from those customers. It is the pack's
	// kpis.converted, by default "conversion"; "" when the pack has no
	// such stage.
	Converted string
	// Churned is the stage of churned customers: a customer in it now is
	// churned, and the funnel's conversion chain skips it. It is the
	// pack's kpis.churned, by default "churned"; "" when the pack has no
	// such stage.
	Churned string
	// Money is the pack's money section: which amount is an event's value
	// and the currency lifetime value is kept in.
	Money Money
	// Traits are the customer traits the pack keeps, in declaration order:
	// the order of Vars.Traits and of a customer's trait values.
	Traits     []Trait
	traitNames []string // Traits' names, for TraitNames
	// Params are the pack's named numbers, in name order (the order of
	// Vars.Params); Profiles its profiles, in the order they are tried
	// (profiles.go). base is what a customer no profile selects gets.
	Params   []Param
	Profiles []*Profile
	base     Profile

	stageIdx map[string]int // "" → 0, then Stages[i] → i+1
	alertIdx map[string]*Alert
	// byEvent maps every event name as the pack writes it (whatever its
	// matching); byFold and byLoose map the keys (foldName) of the names
	// matched case-insensitively and loosely, and maxFoldKey is the
	// longest of those keys (0: none).
	byEvent    map[string]Category
	byFold     map[string]namedCategory
	byLoose    map[string]namedCategory
	maxFoldKey int
	byCall     map[string]Category
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

// Classify returns the category of an event from its type (Segment call
// type, or the source) and its name, or CatNone when the pack does not map
// it. Names match as the pack says (event_match, match); ClassifyName also
// returns the name as the pack writes it.
func (p *Pack) Classify(callType, name string) Category {
	c, _ := p.ClassifyName(callType, name)
	return c
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
