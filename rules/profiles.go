package rules

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"go.yaml.in/yaml/v3"
)

// Params and profiles: one pack, several yardsticks. A pack's params are
// named numbers (`params: {max_open_tickets: 3}`) that every expression
// and reason text reads like a variable. A profile is a condition on the
// customer (`when: plan == "enterprise"`) with overrides: other health
// weights and bands, other param values, alerts switched off. The engine
// picks each customer's profile at every evaluation (ProfileFor: the
// first profile whose when holds), and the scorecard, the params and the
// alerts of that evaluation are the profile's. rules/README.md
// ("profiles") is the reference.

// MaxProfiles bounds a pack's profiles: each costs a condition at every
// evaluation of every customer (until one matches).
const MaxProfiles = 16

// MaxParams bounds a pack's params.
const MaxParams = 64

// Param is a named number of the pack: its value unless a profile
// overrides it.
type Param struct {
	Name  string
	Value float64
}

// Profile is one entry of the pack's profiles: the customers its When
// selects are scored and alerted with its health and params, and without
// its disabled alerts.
type Profile struct {
	// Name is the profile's name, which health and alert records and the
	// customer lookup carry; "" for the pack's own settings (no profile
	// matches).
	Name string
	// When selects the customers (nil: every customer). It reads the
	// pack's own param values, never a profile's.
	When func(*Vars) bool
	// Params are the param values under this profile, in Pack.Params
	// order (the pack's own where the profile does not set one).
	Params []float64
	// Disabled names the alerts that do not fire under this profile, in
	// the pack's order.
	Disabled []string
	disabled []*Alert
	health   *Scorecard // nil: the pack's own
}

// AlertDisabled reports whether alert a is switched off under the
// profile: it does not fire (nor count as pending behind a for). An
// alert that is open when its customer enters the profile still resolves
// by its own resolve rule.
func (pr *Profile) AlertDisabled(a *Alert) bool {
	for _, x := range pr.disabled {
		if x == a {
			return true
		}
	}
	return false
}

// Scorecard returns the health scorecard of a customer under profile pr
// (the pack's own Health for nil, or a profile that changes none).
func (p *Pack) Scorecard(pr *Profile) *Scorecard {
	if pr == nil || pr.health == nil {
		return &p.Health
	}
	return pr.health
}

// ProfileFor returns the profile of a customer whose variables v holds
// (the first of Profiles whose When holds; the pack's own settings, Name
// "", when none does), and points v.Params at its param values. It
// allocates nothing; a pack without profiles costs one assignment.
func (p *Pack) ProfileFor(v *Vars) *Profile {
	v.Params = p.base.Params
	for _, pr := range p.Profiles {
		if pr.When == nil || pr.When(v) {
			v.Params = pr.Params
			return pr
		}
	}
	return &p.base
}

// ProfileNames returns the names of the pack's profiles, in order.
func (p *Pack) ProfileNames() []string {
	names := make([]string, len(p.Profiles))
	for i, pr := range p.Profiles {
		names[i] = pr.Name
	}
	return names
}

// param returns the index of the param named name, or -1.
func (vc *vocab) param(name string) int {
	if vc == nil {
		return -1
	}
	for i := range vc.params {
		if vc.params[i].Name == name {
			return i
		}
	}
	return -1
}

type profileDoc struct {
	pos
	Name        text                       `yaml:"name"`
	Description string                     `yaml:"description"`
	When        text                       `yaml:"when"`
	Health      profileHealthDoc           `yaml:"health"`
	Params      map[string]text            `yaml:"params"`
	Alerts      map[string]profileAlertDoc `yaml:"alerts"`
}

func (d *profileDoc) UnmarshalYAML(n *yaml.Node) error {
	d.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain profileDoc
	return n.Decode((*plain)(d))
}

type profileHealthDoc struct {
	pos
	Weights map[string]text `yaml:"weights"`
	Bands   bandsDoc        `yaml:"bands"`
}

func (h *profileHealthDoc) UnmarshalYAML(n *yaml.Node) error {
	h.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain profileHealthDoc
	return n.Decode((*plain)(h))
}

type profileAlertDoc struct {
	pos
	Disabled text `yaml:"disabled"`
}

func (a *profileAlertDoc) UnmarshalYAML(n *yaml.Node) error {
	a.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain profileAlertDoc
	return n.Decode((*plain)(a))
}

// compileParams reads the params section: names that clash with no
// variable or trait, each a finite number. They are kept in name order,
// the order of Vars.Params.
func compileParams(d *diags, p *Pack, c *compiled, docs map[string]text) {
	if len(docs) > MaxParams {
		at := c.top("params")
		d.errorf(at.Line, at.Col, "params: %d declared, at most %d", len(docs), MaxParams)
		return
	}
	taken := append(append(VarNames(), functions...), reservedNames...)
	taken = append(taken, p.traitNames...)
	for _, name := range sortedKeys(docs) {
		v := docs[name]
		v.pos = orAt(v.pos, c.top("params")) // a null value has no place of its own
		switch {
		case !validName(name):
			d.errorf(v.Line, v.Col, "param name %q: use lower-case letters, digits and _ (it is a variable in expressions)", name)
			continue
		case slices.Contains(taken, name):
			d.errorf(v.Line, v.Col, "param name %q is taken by a built-in variable, a function or a trait; name the param otherwise", name)
			continue
		}
		x, ok := paramNumber(d, &v, "param "+name)
		if !ok {
			x = 0 // kept, so that expressions reading it report nothing more
		}
		p.Params = append(p.Params, Param{Name: name, Value: x})
	}
	p.base.Params = make([]float64, len(p.Params))
	for i, pm := range p.Params {
		p.base.Params[i] = pm.Value
	}
}

// paramNumber reads a param's value: a finite number.
func paramNumber(d *diags, v *text, what string) (float64, bool) {
	if v.Value == "" {
		if !d.wasBad(v.pos) {
			d.errorf(v.Line, v.Col, "%s: a value is required (a number, e.g. 14)", what)
		}
		return 0, false
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(v.Value), 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		d.errorf(v.Line, v.Col, "%s: %q is not a number (write it like 14 or 0.75)", what, v.Value)
		return 0, false
	}
	return x, true
}

// compileProfiles compiles the profiles, in file order (the order the
// engine tries them), after health and alerts, whose names they refer to.
func compileProfiles(d *diags, p *Pack, c *compiled, docs []profileDoc) {
	if len(docs) > MaxProfiles {
		at := c.top("profiles")
		d.errorf(at.Line, at.Col, "profiles: %d declared, at most %d: each is a condition tried at every evaluation until one matches; fold some together with || in when", len(docs), MaxProfiles)
		return
	}
	seen := map[string]int{}
	var exprs []ruleExpr
	alwaysAt := 0 // the line of the first profile that applies to every customer
	alwaysName := ""
	for i := range docs {
		if d.stopped() {
			return
		}
		pd := &docs[i]
		checkRuleName(d, "profile", pd.pos, pd.Name, seen)
		label := ruleLabel(pd.Name, pd.pos)
		pr := &Profile{Name: pd.Name.Value, Params: p.base.Params}
		var when ast.Node
		if pd.When.Value != "" {
			pr.When, when = compileCond(d, p, &pd.When)
			if when != nil {
				exprs = append(exprs, ruleExpr{node: when, src: &pd.When, kind: 'p', bad: new(bool)})
			}
		}
		if alwaysAt != 0 {
			d.warnf(pd.Line, pd.Col, "profile %s can never apply: profile %s (line %d) comes first and applies to every customer (the first profile whose when holds is the customer's); move it up, or give %s a when", label, alwaysName, alwaysAt, alwaysName)
		} else if (pd.When.Value == "" && !d.wasBad(pd.When.pos)) || isTrueLiteral(when) {
			alwaysAt, alwaysName = pd.Line, label
		}
		compileProfileHealth(d, p, c, pd, pr, label)
		compileProfileParams(d, p, pd, pr, label)
		compileProfileAlerts(d, p, pd, pr, label)
		p.Profiles = append(p.Profiles, pr)
	}
	// Comparisons with names that do not exist (stage == "retension"),
	// as in every other expression of the pack.
	c.checkLiterals(d, p, exprs)
}

// orAt is at, or fallback when at is no place (a null value in YAML
// decodes without one).
func orAt(at, fallback pos) pos {
	if at.Line == 0 {
		return fallback
	}
	return at
}

func isTrueLiteral(n ast.Node) bool {
	b, ok := n.(*ast.BoolNode)
	return ok && b.Value
}

// compileProfileHealth builds a profile's scorecard: the pack's
// components with the weights the profile sets (0 leaves a component
// out of the score), and its bands. The weights must add up to 100 and
// the bands stay in order, as for health.
func compileProfileHealth(d *diags, p *Pack, c *compiled, pd *profileDoc, pr *Profile, label string) {
	h := &pd.Health
	if len(h.Weights) == 0 && h.Bands.Green == nil && h.Bands.Yellow == nil {
		return
	}
	base := &p.Health
	s := &Scorecard{Components: make([]Component, len(base.Components)), Green: base.Green, Yellow: base.Yellow, EmitDelta: base.EmitDelta}
	copy(s.Components, base.Components)
	names := make([]string, len(base.Components))
	for i, cp := range base.Components {
		names[i] = cp.Name
	}
	bad := false
	for _, name := range sortedKeys(h.Weights) {
		v := h.Weights[name]
		v.pos = orAt(v.pos, orAt(h.pos, pd.pos))
		i := slices.Index(names, name)
		if i < 0 {
			d.errorf(v.Line, v.Col, "profile %s: health weights: no health component named %q (expected one of %s)%s", label, name, strings.Join(names, ", "), didYouMean(name, names))
			bad = true
			continue
		}
		w, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v.Value, "%")), 64)
		if err != nil || w < 0 || w > 100 || math.IsNaN(w) {
			if !d.wasBad(v.pos) {
				d.errorf(v.Line, v.Col, "profile %s: health weight of %s %q: expected a number of percent from 0 (leave it out of the score) to 100", label, name, v.Value)
			}
			bad = true
			continue
		}
		s.Components[i].Weight = w
	}
	var parts []string
	for _, cp := range s.Components {
		s.weightSum += cp.Weight
		parts = append(parts, fmt.Sprintf("%s %s", cp.Name, formatNum(cp.Weight)))
	}
	at := h.pos
	if at.Line == 0 {
		at = pd.pos
	}
	if !bad && len(h.Weights) > 0 && math.Abs(s.weightSum-100) > 1e-9 {
		d.errorf(at.Line, at.Col, "profile %s: health weights add up to %v (%s, the pack's weight where the profile sets none), expected 100", label, formatNum(s.weightSum), strings.Join(parts, " + "))
	}
	if h.Bands.Green != nil {
		s.Green = *h.Bands.Green
	}
	if h.Bands.Yellow != nil {
		s.Yellow = *h.Bands.Yellow
	}
	if !(0 < s.Yellow && s.Yellow < s.Green && s.Green <= 100) {
		bat := h.Bands.pos
		if bat.Line == 0 {
			bat = at
		}
		d.errorf(bat.Line, bat.Col, "profile %s: health bands: need 0 < yellow < green <= 100, got yellow %v, green %v (the pack's band where the profile sets none)", label, formatNum(s.Yellow), formatNum(s.Green))
	}
	pr.health = s
}

// compileProfileParams sets the param values a profile overrides.
func compileProfileParams(d *diags, p *Pack, pd *profileDoc, pr *Profile, label string) {
	if len(pd.Params) == 0 {
		return
	}
	names := make([]string, len(p.Params))
	for i, pm := range p.Params {
		names[i] = pm.Name
	}
	vals := append([]float64(nil), p.base.Params...)
	for _, name := range sortedKeys(pd.Params) {
		v := pd.Params[name]
		v.pos = orAt(v.pos, pd.pos)
		i := slices.Index(names, name)
		if i < 0 {
			if len(names) == 0 {
				d.errorf(v.Line, v.Col, "profile %s: params: the pack declares no param %q: declare it with its value for every other customer under the top-level params (params: {%s: ...}), then override it here", label, name, name)
			} else {
				d.errorf(v.Line, v.Col, "profile %s: params: no param named %q (expected one of %s)%s", label, name, strings.Join(names, ", "), didYouMean(name, names))
			}
			continue
		}
		if x, ok := paramNumber(d, &v, fmt.Sprintf("profile %s: param %s", label, name)); ok {
			vals[i] = x
		}
	}
	pr.Params = vals
}

// compileProfileAlerts reads which alerts a profile switches off.
func compileProfileAlerts(d *diags, p *Pack, pd *profileDoc, pr *Profile, label string) {
	if len(pd.Alerts) == 0 {
		return
	}
	names := make([]string, len(p.Alerts))
	for i, a := range p.Alerts {
		names[i] = a.Name
	}
	off := map[*Alert]bool{}
	for _, name := range sortedKeys(pd.Alerts) {
		ad := pd.Alerts[name]
		ad.pos = orAt(ad.pos, pd.pos)
		a := p.alertIdx[name]
		if a == nil || name == "" {
			d.errorf(ad.Line, ad.Col, "profile %s: alerts: no alert named %q in this pack (expected one of %s)%s", label, name, strings.Join(names, ", "), didYouMean(name, names))
			continue
		}
		switch strings.TrimSpace(ad.Disabled.Value) {
		case "true":
			off[a] = true
		case "false":
		case "":
			if !d.wasBad(ad.Disabled.pos) {
				d.errorf(ad.Line, ad.Col, "profile %s: alert %s: say what changes (disabled: true switches it off for the profile's customers)", label, name)
			}
		default:
			d.errorf(ad.Disabled.Line, ad.Disabled.Col, "profile %s: alert %s: disabled is true or false, found %q", label, name, ad.Disabled.Value)
		}
	}
	for _, a := range p.Alerts { // in the pack's order
		if off[a] {
			pr.disabled = append(pr.disabled, a)
			pr.Disabled = append(pr.Disabled, a.Name)
		}
	}
}
