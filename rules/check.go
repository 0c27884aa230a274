package rules

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// The pack checks: what a pack that compiles can still get wrong, found
// the way `lifeline rules check` reports it, at the place it is written.
// Errors are certainties (a transition that can never fire, a stage no
// customer can reach, a comparison with a category that does not exist);
// warnings are likely mistakes that still leave a working pack (an alert
// that can never resolve, a stage with no way out, a band no score can
// reach). Every "never" here is proved by the analysis of analyze.go, so
// a check never cries wolf: at worst it stays silent.

func check(d *diags, p *Pack, c *compiled) {
	c.markTouchedByErrors(d)
	exprs := c.expressions()
	used := c.checkLiterals(d, p, exprs)
	c.checkTouchpoints(d, p, used)
	live := c.checkTransitions(d, p)
	if d.stopped() {
		return
	}
	c.checkStages(d, p, live)
	c.checkTimerCycles(d, p, live)
	c.checkAlerts(d, p, live)
	c.checkHealth(d, p)
}

// ruleExpr is one expression of the pack with where it is written.
type ruleExpr struct {
	node ast.Node
	src  *text
	kind byte // 't' transition when, 'a' alert when or resolve, 'h' health score
	bad  *bool
}

func (c *compiled) expressions() []ruleExpr {
	var out []ruleExpr
	for i := range c.trans {
		ti := &c.trans[i]
		if ti.when != nil {
			out = append(out, ruleExpr{node: ti.when, src: &ti.doc.When, kind: 't', bad: &ti.broken})
		}
	}
	for i := range c.alerts {
		ai := &c.alerts[i]
		if ai.when != nil {
			out = append(out, ruleExpr{node: ai.when, src: &ai.doc.When, kind: 'a', bad: &ai.broken})
		}
		if ai.resolve != nil {
			out = append(out, ruleExpr{node: ai.resolve, src: &ai.doc.Resolve, kind: 'a', bad: &ai.broken})
		}
	}
	for i := range c.comps {
		ci := &c.comps[i]
		if ci.score != nil {
			out = append(out, ruleExpr{node: ci.score, src: &ci.doc.Score, kind: 'h', bad: new(bool)})
		}
	}
	return out
}

// readsVar tells whether expression n reads variable name.
func readsVar(n ast.Node, name string) bool {
	found := false
	ast.Walk(&n, visitFunc(func(np *ast.Node) {
		if id, ok := (*np).(*ast.IdentifierNode); ok && id.Value == name {
			found = true
		}
	}))
	return found
}

type visitFunc func(*ast.Node)

func (f visitFunc) Visit(n *ast.Node) { f(n) }

// nodeAt is where an expression node is written in the file.
func (d *diags) nodeAt(t *text, n ast.Node) (int, int) {
	line, col := offsetPos(t.Value, n.Location().From)
	return d.at(t, line, col)
}

// checkLiterals checks the names expressions compare the string variables
// with: touchpoint, stage and band have a closed vocabulary, so a name
// outside it is a typo that makes the comparison constant. It also warns
// of variables that do not mean, where they are used, what an author may
// think. It returns the touchpoint categories the expressions name.
func (c *compiled) checkLiterals(d *diags, p *Pack, exprs []ruleExpr) map[string]bool {
	used := map[string]bool{}
	touchpoints := append(slices.Clone(p.Categories), TimerCategory)
	bands := []string{Green.String(), Yellow.String(), Red.String()}
	for _, e := range exprs {
		if d.stopped() {
			break
		}
		before := d.errorCount()
		lit := func(name string, s *ast.StringNode) {
			line, col := d.nodeAt(e.src, s)
			v := s.Value
			switch name {
			case "touchpoint":
				used[v] = true
				if v != "" && !slices.Contains(touchpoints, v) {
					d.errorf(line, col, "unknown touchpoint category %q (expected one of %s, or %q for a timer)%s", v, strings.Join(p.Categories, ", "), TimerCategory, didYouMean(v, touchpoints))
				}
			case "stage":
				switch {
				case v == NewStage:
					d.errorf(line, col, "stage is \"\" for a customer with no stage yet, never %q (write stage == \"\")", NewStage)
				case v != "" && !slices.Contains(p.Stages, v):
					d.errorf(line, col, "unknown stage %q (expected one of %s)%s", v, strings.Join(p.Stages, ", "), didYouMean(v, p.Stages))
				}
			case "band":
				if v != "" && !slices.Contains(bands, v) {
					d.errorf(line, col, "unknown health band %q (expected green, yellow or red)%s", v, didYouMean(v, bands))
				}
			case "event":
				if _, ok := p.byEvent[v]; ok || v == "" {
					break
				}
				if cat, name := p.ClassifyName("", v); cat != CatNone {
					d.warnf(line, col, "event %q is written %q under touchpoints: an event that matches it has the event variable set to the pack's spelling, so compare with %q", v, name, name)
				} else {
					d.warnf(line, col, "event %q is not mapped to any touchpoint category: transitions never see it, and alerts and health see it with touchpoint \"\"%s", v, didYouMean(v, sortedKeys(p.byEvent)))
				}
			}
		}
		node := e.node
		ast.Walk(&node, visitFunc(func(np *ast.Node) {
			switch n := (*np).(type) {
			case *ast.BinaryNode:
				var id *ast.IdentifierNode
				var other ast.Node
				if x, ok := n.Left.(*ast.IdentifierNode); ok {
					id, other = x, n.Right
				} else if x, ok := n.Right.(*ast.IdentifierNode); ok {
					id, other = x, n.Left
				}
				if id == nil {
					return
				}
				if kind, _ := lookupVar(id.Value); kind != 's' {
					return
				}
				switch n.Operator {
				case "==", "!=":
					if s, ok := other.(*ast.StringNode); ok {
						lit(id.Value, s)
					}
				case "in", "not in":
					if arr, ok := n.Right.(*ast.ArrayNode); ok && n.Left == ast.Node(id) {
						for _, x := range arr.Nodes {
							if s, ok := x.(*ast.StringNode); ok {
								lit(id.Value, s)
							}
						}
					}
				}
			case *ast.IdentifierNode:
				if n.Value != "score" && n.Value != "band" {
					return
				}
				line, col := d.nodeAt(e.src, n)
				switch e.kind {
				case 't':
					d.warnf(line, col, "%s in a transition's when is the health of the customer before this event: health is computed after the stage machine", n.Value)
				case 'h':
					d.warnf(line, col, "%s in a health component is the customer's previous health: a component that depends on it feeds the score back into itself", n.Value)
				}
			}
		}))
		if d.errorCount() > before {
			*e.bad = true // the other checks would only repeat it
		}
	}
	return used
}

// checkTouchpoints warns of categories that map no event, and of the
// pack's own categories that nothing uses.
func (c *compiled) checkTouchpoints(d *diags, p *Pack, used map[string]bool) {
	for i := range c.trans {
		for _, cat := range c.trans[i].t.On {
			used[p.Categories[cat]] = true
		}
	}
	// A category declared under a misspelt name ("purchse") maps its events
	// to a category nothing uses, and leaves the one the rules use with no
	// event: one mistake, said once, at the misspelling. The checks then go
	// on as if it were fixed: the transitions on the right name are not also
	// reported as never firing, nor the stages after them as unreachable.
	typo := map[string]bool{}
	for _, name := range p.Categories {
		at, declared := c.keys["touchpoints/"+name]
		x := c.catIdx[name]
		if !declared || used[name] || c.mapped[x] == 0 || int(x) < int(builtinCategories) {
			continue
		}
		for _, other := range p.Categories {
			y := c.catIdx[other]
			if !used[other] || c.mapped[y] != 0 || didYouMean(name, []string{other}) == "" {
				continue
			}
			typo[name] = true
			c.mapped[y] = c.mapped[x]
			d.errorf(at.Line, at.Col, "touchpoint category %s is used nowhere, while %s, which the rules use, maps no event; did you mean %q?", name, other, other)
			break
		}
	}
	for _, name := range p.Categories {
		at, declared := c.keys["touchpoints/"+name]
		if !declared || typo[name] {
			continue
		}
		if c.mapped[c.catIdx[name]] == 0 {
			d.warnf(at.Line, at.Col, "touchpoint category %s maps no events: list its event names under events (or Segment call types under calls)", name)
			continue
		}
		if int(c.catIdx[name]) >= int(builtinCategories) && !used[name] {
			d.warnf(at.Line, at.Col, "touchpoint category %s is not used: no transition is on it and no condition tests touchpoint == %q, so its events only count as seen", name, name)
		}
	}
}

// markTouchedByErrors marks broken the transitions with an error anywhere
// in their text, such as an unknown key: a transition written "frm:
// [lead]" has no from, which means every stage, and judging it as written
// would report follow-on errors (it shadows the transitions after it)
// for the one misspelt key.
func (c *compiled) markTouchedByErrors(d *diags) {
	var errLines []int
	for _, x := range d.list {
		if !x.Warning {
			errLines = append(errLines, x.Line)
		}
	}
	if len(errLines) == 0 {
		return
	}
	// A transition's text runs from its line to the next one's, or to the
	// next top-level key after it.
	end := func(i int) int {
		if i+1 < len(c.trans) && c.trans[i+1].doc.Line > c.trans[i].doc.Line {
			return c.trans[i+1].doc.Line
		}
		e := 1 << 30
		for _, at := range c.keys {
			if at.Col == 1 && at.Line > c.trans[i].doc.Line && at.Line < e {
				e = at.Line
			}
		}
		return e
	}
	for i := range c.trans {
		ti := &c.trans[i]
		if ti.broken {
			continue
		}
		from, to := ti.doc.Line, end(i)
		if slices.ContainsFunc(errLines, func(l int) bool { return l >= from && l < to }) {
			ti.broken = true
			c.transErrors = true
		}
	}
}

// The scopes: what holds where each kind of expression runs.

func (c *compiled) stageNames(p *Pack, idxs []int) strDom {
	d := strDom{}
	for _, i := range idxs {
		d = unionStr(d, strSet(p.StageName(i)))
	}
	return d
}

func (c *compiled) allStages(p *Pack) strDom {
	return strSet(append([]string{""}, p.Stages...)...)
}

// eventNames is what the event variable can be for an event of category
// cat. It is worked out once per category and kept: a pack with many
// event names and many transitions would otherwise pay for every name
// once per transition.
func (c *compiled) eventNames(p *Pack, cat Category) strDom {
	if dom, ok := c.eventDoms[cat]; ok {
		return dom
	}
	if c.eventDoms == nil {
		c.eventDoms = map[Category]strDom{}
	}
	dom := c.eventNamesOf(p, cat)
	c.eventDoms[cat] = dom
	return dom
}

// eventNamesIn is what the event variable can be for an event of any of
// cats, kept per list of categories.
func (c *compiled) eventNamesIn(p *Pack, cats []Category) strDom {
	if len(cats) == 1 {
		return c.eventNames(p, cats[0])
	}
	key := fmt.Sprint(cats)
	if dom, ok := c.eventUnions[key]; ok {
		return dom
	}
	var dom strDom
	for _, cat := range cats {
		dom = unionStr(dom, c.eventNames(p, cat))
	}
	if c.eventUnions == nil {
		c.eventUnions = map[string]strDom{}
	}
	c.eventUnions[key] = dom
	return dom
}

func (c *compiled) eventNamesOf(p *Pack, cat Category) strDom {
	var names []string
	for name, ec := range p.byEvent {
		if ec == cat {
			names = append(names, name)
		}
	}
	for call, ec := range p.byCall {
		if ec != cat {
			continue
		}
		switch call {
		case "track", "cloudevent":
			return anyStr // any name the pack does not map
		default:
			names = append(names, "") // page, screen... carry no name
		}
	}
	slices.Sort(names)
	return strSet(slices.Compact(names)...).indexed()
}

// transScope is what holds when a transition's when runs for a customer
// in stage st on an event of category cat (CatNone: a timer). The event
// name's domain is only worked out for a when that reads event (withEvent):
// for the others it is left as any, which they never look at.
func (c *compiled) transScope(p *Pack, st int, cat Category, withEvent bool) scope {
	s := baseScope()
	s.strs[Stage] = strSet(p.StageName(st))
	if cat == CatNone {
		s.strs[Touchpoint] = strSet(TimerCategory)
		s.strs[EventName] = strSet("")
		s.num[EventValue] = point(0)
	} else {
		s.strs[Touchpoint] = strSet(p.Categories[cat])
		if withEvent {
			s.strs[EventName] = c.eventNames(p, cat)
		}
	}
	s.strs[BandName] = strSet("", Green.String(), Yellow.String(), Red.String())
	return s.normalize()
}

// alertScope is what holds when an alert's when or resolve runs.
func (c *compiled) alertScope(p *Pack, a *Alert) scope {
	s := baseScope()
	if a.stages != nil {
		var idxs []int
		for i, in := range a.stages {
			if in {
				idxs = append(idxs, i)
			}
		}
		s.strs[Stage] = c.stageNames(p, idxs)
	} else {
		s.strs[Stage] = c.allStages(p)
	}
	s.strs[Touchpoint] = strSet(append([]string{"", TimerCategory}, p.Categories...)...)
	s.strs[BandName] = strSet(Green.String(), Yellow.String(), Red.String())
	return s.normalize()
}

func (c *compiled) healthScope(p *Pack) scope {
	s := baseScope()
	s.strs[Stage] = c.allStages(p)
	s.strs[Touchpoint] = strSet(append([]string{"", TimerCategory}, p.Categories...)...)
	s.strs[BandName] = strSet("", Green.String(), Yellow.String(), Red.String())
	return s.normalize()
}

// liveSet records, per transition, the from stages it can fire from.
type liveSet map[*Transition][]bool

func (l liveSet) from(t *Transition, st int) bool { return l[t] != nil && l[t][st] }

// Why a transition cannot fire from one stage on one category.
type deadWhy struct {
	kind    byte // 'u' unmapped category, 's' shadowed, 'w' when false, 'n' timer never starts
	stage   int
	cat     Category // CatNone for a timer
	blocker *transInfo
}

// checkTransitions finds transitions that can never fire: for each stage
// they leave from and each category they are on, an earlier transition
// always matches first, no event maps to the category, or the when cannot
// hold there. It returns where each transition can fire from.
func (c *compiled) checkTransitions(d *diags, p *Pack) liveSet {
	live := liveSet{}
	type key struct {
		st  int
		cat Category
	}
	blocker := map[key]*transInfo{}
	timerBlockers := make([][]*transInfo, p.NumStages())
	for i := range c.trans {
		if d.stopped() {
			break
		}
		ti := &c.trans[i]
		t := ti.t
		if !ti.indexed {
			continue // its to is unknown: reported, and nothing to judge
		}
		withEvent := ti.when != nil && readsVar(ti.when, "event")
		live[t] = make([]bool, p.NumStages())
		var dead []deadWhy
		pairs := 0
		try := func(st int, cat Category, why deadWhy) {
			pairs++
			if why.kind != 0 {
				why.stage, why.cat = st, cat
				dead = append(dead, why)
			} else {
				live[t][st] = true
			}
		}
		whenAt := func(st int, cat Category) truth {
			if ti.when == nil {
				if ti.broken && ti.doc.When.Value != "" {
					return anyTruth
				}
				return truth{t: true}
			}
			sc := c.transScope(p, st, cat, withEvent)
			return sc.boolOf(ti.when)
		}
		if t.Timer != nil {
			for _, st := range ti.from {
				w := whenAt(st, CatNone)
				uncond := !ti.broken && !w.f
				var why deadWhy
				switch {
				case st == 0 && onlyStageEntered(t.Timer):
					why.kind = 'n'
				case !w.t && !ti.broken:
					why.kind = 'w'
				default:
					for _, u := range timerBlockers[st] {
						if sameFields(u.t.Timer.Since, t.Timer.Since) && u.t.Timer.After <= t.Timer.After {
							why = deadWhy{kind: 's', blocker: u}
							break
						}
					}
				}
				try(st, CatNone, why)
				if uncond && why.kind == 0 {
					timerBlockers[st] = append(timerBlockers[st], ti)
				}
			}
		} else {
			for _, st := range ti.from {
				for _, cat := range t.On {
					w := whenAt(st, cat)
					uncond := !ti.broken && !w.f
					var why deadWhy
					k := key{st, cat}
					switch {
					case c.mapped[cat] == 0:
						why.kind = 'u'
					case blocker[k] != nil:
						why = deadWhy{kind: 's', blocker: blocker[k]}
					case !w.t && !ti.broken:
						why.kind = 'w'
					}
					try(st, cat, why)
					if uncond && why.kind == 0 {
						blocker[k] = ti
					}
				}
			}
		}
		if ti.broken || pairs == 0 {
			continue
		}
		if len(dead) == pairs {
			c.neverFires(d, p, ti, dead)
			continue
		}
		// It can fire: still say which categories it waits for in vain.
		warned := map[Category]bool{}
		for _, o := range ti.doc.On.Items {
			cat, ok := c.catIdx[o.Value]
			if ok && c.mapped[cat] == 0 && !warned[cat] {
				warned[cat] = true
				d.warnf(o.Line, o.Col, "no event is mapped to touchpoint category %s, so it never triggers transition %s (map its events under touchpoints)", o.Value, t.Name)
			}
		}
		if ti.when != nil {
			var sc scope
			sc.dead = true
			for _, st := range ti.from {
				if t.Timer != nil {
					sc = joinScope(sc, c.transScope(p, st, CatNone, false))
				}
				for _, cat := range t.On {
					sc = joinScope(sc, c.transScope(p, st, cat, false))
				}
			}
			// What event can be, joined over the categories once per list
			// of categories, not once per transition.
			if withEvent && t.Timer == nil && !sc.dead {
				sc.strs[EventName] = c.eventNamesIn(p, t.On)
				sc.dead = sc.strs[EventName].empty()
			}
			if w := sc.boolOf(ti.when); w.t && !w.f {
				d.warnf(ti.doc.When.Line, ti.doc.When.Col, "transition %s: its when is always true here (%s), so it adds nothing", t.Name, c.context(p, ti))
			}
		}
	}
	return live
}

func onlyStageEntered(t *Timer) bool {
	for _, f := range t.Since {
		if f != StageEntered {
			return false
		}
	}
	return len(t.Since) > 0
}

func sameFields(a, b []TimeField) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// context describes where a transition applies: "from retention on nps".
func (c *compiled) context(p *Pack, ti *transInfo) string {
	var from []string
	for _, st := range ti.from {
		if st == 0 {
			from = append(from, NewStage)
		} else {
			from = append(from, p.StageName(st))
		}
	}
	s := "from " + strings.Join(from, ", ")
	if ti.t.Timer != nil {
		return s + " after " + ti.doc.After.Value
	}
	var on []string
	for _, cat := range ti.t.On {
		on = append(on, p.Categories[cat])
	}
	return s + " on " + strings.Join(on, ", ")
}

func (c *compiled) neverFires(d *diags, p *Pack, ti *transInfo, dead []deadWhy) {
	t := ti.t
	same := true
	for _, w := range dead {
		same = same && w.kind == dead[0].kind
	}
	stageName := func(st int) string {
		if st == 0 {
			return NewStage
		}
		return p.StageName(st)
	}
	if same {
		switch dead[0].kind {
		case 'u':
			var cats []string
			for _, w := range dead {
				if n := p.Categories[w.cat]; !slices.Contains(cats, n) {
					cats = append(cats, n)
				}
			}
			at := ti.doc.On.Items[0].pos
			d.errorf(at.Line, at.Col, "transition %s can never fire: no event is mapped to touchpoint category %s (list its event names under touchpoints)", t.Name, strings.Join(cats, ", "))
			return
		case 'w':
			at := ti.doc.When.pos
			d.errorf(at.Line, at.Col, "transition %s can never fire: its when (%s) is false for every customer it applies to (%s)", t.Name, strings.TrimSpace(ti.doc.When.Value), c.context(p, ti))
			return
		case 'n':
			d.errorf(ti.doc.Line, ti.doc.Col, "transition %s can never fire: its timer counts from stage_entered only, and a new customer (from new) has no stage to have entered", t.Name)
			return
		case 's':
			var names []string
			for _, w := range dead {
				n := fmt.Sprintf("%s (line %d)", w.blocker.t.Name, w.blocker.doc.Line)
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
			what := "transition " + names[0] + " comes"
			if len(names) > 1 {
				what = "transitions " + strings.Join(names, " and ") + " come"
			}
			d.errorf(ti.doc.Line, ti.doc.Col, "transition %s can never fire: %s first and always matches (%s)", t.Name, what, c.context(p, ti))
			return
		}
	}
	var parts []string
	for _, w := range dead {
		where := "from " + stageName(w.stage)
		if w.cat != CatNone {
			where += " on " + p.Categories[w.cat]
		}
		switch w.kind {
		case 'u':
			parts = append(parts, where+": no event is mapped to "+p.Categories[w.cat])
		case 'w':
			parts = append(parts, where+": its when is false")
		case 'n':
			parts = append(parts, where+": no stage_entered to count from")
		case 's':
			parts = append(parts, fmt.Sprintf("%s: %s (line %d) matches first", where, w.blocker.t.Name, w.blocker.doc.Line))
		}
	}
	d.errorf(ti.doc.Line, ti.doc.Col, "transition %s can never fire: %s", t.Name, strings.Join(parts, "; "))
}

// checkStages reports stages no customer can reach, and warns of stages
// no customer can leave unless their name says they are final.
func (c *compiled) checkStages(d *diags, p *Pack, live liveSet) {
	if c.transErrors {
		return // a transition has an error: reachability cannot be judged
	}
	// A search over the stage graph, each transition's from edges walked
	// once: a pack with many stages and transitions costs their number,
	// not its square.
	out := c.stageEdges(p, live)
	reach := func(useLive bool) []bool {
		reached := make([]bool, p.NumStages())
		reached[0] = true
		todo := []int{0}
		for len(todo) > 0 {
			st := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			for _, e := range out[st] {
				if (!useLive || e.live) && !reached[e.to] {
					reached[e.to] = true
					todo = append(todo, e.to)
				}
			}
		}
		return reached
	}
	reached, any := reach(true), reach(false)
	for i, s := range p.Stages {
		at := c.stagePos[s]
		if !reached[i+1] {
			why := "no chain of transitions leads to it from a new customer"
			if any[i+1] {
				why = "the transitions that lead to it can never fire"
			}
			d.errorf(at.Line, at.Col, "stage %s is unreachable: %s", s, why)
			continue
		}
		leaves := slices.ContainsFunc(out[i+1], func(e stageEdge) bool { return e.live })
		if !leaves && !finalLooking(s) {
			d.warnf(at.Line, at.Col, "stage %s has no way out: no transition leaves it, so a customer who enters it stays there for good (fine for a final stage; otherwise add a transition from %s)", s, s)
		}
	}
}

// stageEdge is a move a transition makes from one stage to stage to; live
// when the transition can fire from there.
type stageEdge struct {
	to   int
	live bool
}

// stageEdges returns, per stage index, the moves out of it.
func (c *compiled) stageEdges(p *Pack, live liveSet) [][]stageEdge {
	out := make([][]stageEdge, p.NumStages())
	for _, t := range p.Transitions {
		for _, f := range t.From {
			st := p.stageIdx[f]
			out[st] = append(out[st], stageEdge{to: t.toIdx, live: live.from(t, st)})
		}
	}
	return out
}

// finalLooking tells whether a stage's name says customers end there.
func finalLooking(s string) bool {
	for _, w := range []string{"churn", "lost", "closed", "cancel", "deleted", "archived", "terminated", "dead", "ended", "final", "done", "offboarded", "inactive", "won"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// checkAlerts reports alerts that can never fire and warns of alerts that
// can never resolve, or resolve at once.
func (c *compiled) checkAlerts(d *diags, p *Pack, live liveSet) {
	out := c.stageEdges(p, live)
	for i := range c.alerts {
		if d.stopped() {
			break
		}
		ai := &c.alerts[i]
		a := ai.a
		if ai.broken {
			continue
		}
		sc := c.alertScope(p, a)
		w := truth{t: true}
		if ai.when != nil {
			w = sc.boolOf(ai.when)
		}
		where := "for every customer"
		if a.stages != nil {
			where = "for every customer in " + strings.Join(a.Stages, ", ")
		}
		if !w.t {
			at := ai.doc.When.pos
			d.errorf(at.Line, at.Col, "alert %s can never fire: its when (%s) is false %s", a.Name, strings.TrimSpace(ai.doc.When.Value), where)
			continue
		}
		if len(a.Reasons) > 0 && !slices.ContainsFunc(a.Reasons, Template.hasVar) {
			at := ai.doc.Reasons.Items[0].pos
			d.warnf(at.Line, at.Col, "alert %s: no reason shows a value: say which values made it fire, e.g. \"{open_tickets} tickets open\"", a.Name)
		}
		// Leaving the alert's stages resolves it: can a customer leave?
		canLeave := false
		if a.stages != nil {
			for _, name := range a.Stages {
				st := p.stageIdx[name]
				canLeave = canLeave || slices.ContainsFunc(out[st], func(e stageEdge) bool { return e.live && !a.stages[e.to] })
			}
		}
		if ai.resolve != nil {
			r := sc.boolOf(ai.resolve)
			at := ai.doc.Resolve.pos
			switch {
			case !r.t && !canLeave:
				d.warnf(at.Line, at.Col, "alert %s can never resolve: its resolve (%s) is false %s", a.Name, strings.TrimSpace(ai.doc.Resolve.Value), where)
			case r.t && !r.f:
				d.warnf(at.Line, at.Col, "alert %s: its resolve is always true, so the alert resolves at the customer's next event or timer after it fires, and may fire again after that", a.Name)
			}
			continue
		}
		// Without resolve, the alert resolves when it stops being active:
		// its when turns false, its timer starts over, or the customer
		// leaves its stages.
		timerRestarts := a.Timer != nil && slices.ContainsFunc(a.Timer.Since, func(f TimeField) bool { return f != FirstSeen })
		if !w.f && !timerRestarts && !canLeave {
			at := ai.doc.pos
			why := "its when is always true"
			if ai.when == nil {
				why = "its timer counts from first_seen, which never moves"
			} else if a.Timer != nil {
				why += " and its timer counts from first_seen, which never moves"
			}
			if a.stages != nil {
				why += ", and no transition leaves " + strings.Join(a.Stages, ", ")
			}
			d.warnf(at.Line, at.Col, "alert %s can never resolve: %s (add resolve, or a condition that can clear)", a.Name, why)
		}
	}
}

// hasVar tells whether a template shows any variable.
func (t Template) hasVar() bool {
	for _, p := range t.parts {
		if p.kind != 0 {
			return true
		}
	}
	return false
}

// checkHealth warns of components that never change and of bands no
// score can reach.
func (c *compiled) checkHealth(d *diags, p *Pack) {
	h := &p.Health
	if len(c.comps) == 0 || h.weightSum <= 0 {
		return
	}
	sc := c.healthScope(p)
	var lo, hi float64
	for i, ci := range c.comps {
		if ci.score == nil {
			return // an error is reported: no bounds to judge
		}
		r := sc.numOf(ci.score)
		clamped := span{lo: math.Round(math.Min(math.Max(r.lo, 0), 100)), hi: math.Round(math.Min(math.Max(r.hi, 0), 100))}
		if r.nan {
			clamped.lo = 0 // the scorecard counts NaN as 0
		}
		if clamped.lo == clamped.hi {
			d.warnf(ci.doc.Score.Line, ci.doc.Score.Col, "health component %s is always %s: it does not depend on the customer", ci.doc.Name.Value, formatNum(clamped.lo))
		}
		w := h.Components[i].Weight
		lo += clamped.lo * w
		hi += clamped.hi * w
	}
	minScore, maxScore := math.Round(lo/h.weightSum), math.Round(hi/h.weightSum)
	at := c.bandsPos
	if at.Line == 0 {
		at = c.top("health")
	}
	switch {
	case minScore == maxScore:
		d.warnf(at.Line, at.Col, "health: the score is always %s, so every customer is %s", formatNum(minScore), h.BandOf(minScore))
	case minScore >= h.Green:
		d.warnf(at.Line, at.Col, "health: the score is at least %s, so every customer is green (green starts at %s)", formatNum(minScore), formatNum(h.Green))
	case maxScore < h.Yellow:
		d.warnf(at.Line, at.Col, "health: the score is at most %s, so every customer is red (yellow starts at %s)", formatNum(maxScore), formatNum(h.Yellow))
	default:
		if maxScore < h.Green {
			d.warnf(at.Line, at.Col, "health: the score is at most %s, so no customer is ever green (green starts at %s)", formatNum(maxScore), formatNum(h.Green))
		}
		if minScore >= h.Yellow {
			d.warnf(at.Line, at.Col, "health: the score is at least %s, so no customer is ever red (red is below %s)", formatNum(minScore), formatNum(h.Yellow))
		}
	}
}

// checkTimerCycles reports cycles of timed transitions: stages a customer
// goes round without any event of its own. A timed transition that counts
// from stage_entered is due again after every move, so a cycle made only
// of such transitions never ends: a→b after 1s, b→a after 1s moves a
// silent customer every second until the watermark, millions of stage
// records for one quiet day. It is an error, reported once per cycle with
// every transition in it. A cycle with a transition that counts from
// anything else goes round at most once per event of the customer: a
// warning, since a customer who does nothing still changes stage.
func (c *compiled) checkTimerCycles(d *diags, p *Pack, live liveSet) {
	if c.transErrors {
		return // a transition has an error: which can fire is not known
	}
	type edge struct {
		to    int
		ti    *transInfo
		rearm bool // counts from stage_entered: due again after each move
	}
	n := p.NumStages()
	out := make([][]edge, n)
	for i := range c.trans {
		ti := &c.trans[i]
		if ti.t.Timer == nil || !ti.indexed || ti.broken {
			continue
		}
		rearm := slices.Contains(ti.t.Timer.Since, StageEntered)
		for _, st := range ti.from {
			if live.from(ti.t, st) && st != ti.t.toIdx {
				out[st] = append(out[st], edge{to: ti.t.toIdx, ti: ti, rearm: rearm})
			}
		}
	}
	// A cycle is found by a depth-first search from each stage in order,
	// first over the edges that re-arm (the endless cycles), then over all;
	// a stage that is on a reported cycle is not searched again, so one
	// cycle is reported once and a pack of many stages costs their number
	// times its edges at most.
	seen := map[string]bool{}
	for _, endless := range []bool{true, false} {
		done := make([]bool, n)
		for start := 0; start < n; start++ {
			if done[start] {
				continue
			}
			path := c.findCycle(start, n, func(st int) []int {
				var tos []int
				for _, e := range out[st] {
					if !endless || e.rearm {
						tos = append(tos, e.to)
					}
				}
				return tos
			})
			if path == nil {
				continue
			}
			// The transitions of the cycle: for each hop, the first edge
			// (in file order) that makes it.
			var hops []*transInfo
			rearmAll := true
			for k, st := range path {
				next := path[(k+1)%len(path)]
				for _, e := range out[st] {
					if e.to == next && (!endless || e.rearm) {
						hops = append(hops, e.ti)
						rearmAll = rearmAll && e.rearm
						break
					}
				}
			}
			for _, st := range path {
				done[st] = true
			}
			key := slices.Clone(path)
			slices.Sort(key)
			if k := fmt.Sprint(key); seen[k] || (!endless && rearmAll) {
				continue // reported already (by the first pass, or from another start)
			} else {
				seen[k] = true
			}
			var parts []string
			first := hops[0]
			for k, ti := range hops {
				parts = append(parts, fmt.Sprintf("%s → %s (transition %s, line %d, after %s)", stageLabel(p, path[k]), p.StageName(path[(k+1)%len(path)]), ti.t.Name, ti.doc.Line, ti.doc.After.Value))
				if ti.doc.Line < first.doc.Line {
					first = ti
				}
			}
			if endless {
				d.errorf(first.doc.Line, first.doc.Col, "timed transitions form a cycle that never ends: %s; each counts from stage_entered, so a customer with no further event goes round it for good (count one of them from last_seen or another activity, or make it wait for an event with on:)", strings.Join(parts, ", "))
			} else {
				d.warnf(first.doc.Line, first.doc.Col, "timed transitions form a cycle: %s; a customer with no further event goes round it once after each event of theirs (make one of them wait for an event with on:, unless that is meant)", strings.Join(parts, ", "))
			}
		}
	}
}

func stageLabel(p *Pack, st int) string {
	if st == 0 {
		return NewStage
	}
	return p.StageName(st)
}

// findCycle returns the stages of a cycle reachable from start in the
// graph next describes, in order (nil: none), by an iterative depth-first
// search (a pack may have thousands of stages: no recursion).
func (c *compiled) findCycle(start, n int, next func(int) []int) []int {
	const (
		white = iota
		grey
		black
	)
	color := make([]byte, n)
	parent := make([]int, n)
	type frame struct {
		st  int
		tos []int
		k   int
	}
	stack := []frame{{st: start, tos: next(start)}}
	color[start] = grey
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.k == len(f.tos) {
			color[f.st] = black
			stack = stack[:len(stack)-1]
			continue
		}
		to := f.tos[f.k]
		f.k++
		switch color[to] {
		case grey: // back edge: the cycle is to ... f.st
			cyc := []int{f.st}
			for st := f.st; st != to; {
				st = parent[st]
				cyc = append(cyc, st)
			}
			slices.Reverse(cyc)
			return cyc
		case white:
			color[to] = grey
			parent[to] = f.st
			stack = append(stack, frame{st: to, tos: next(to)})
		}
	}
	return nil
}
