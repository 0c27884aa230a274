package rules

import (
	"math"
	"reflect"
	"slices"

	"github.com/expr-lang/expr/ast"
)

// Static analysis of rule expressions: which values an expression can
// take where it runs, so that the pack checks can prove that a condition
// is always false (a transition that can never fire, an alert that can
// never resolve) or always true.
//
// Each variable has a domain: an interval for numbers (nps is -1 or 0-10,
// counts are never negative), a set of possible values for strings (in a
// transition from retention on nps, stage is "retention" and touchpoint
// is "nps"). Conditions narrow the domains for what they guard: under
// `has_nps && nps <= 6`, nps lies in 0-6, so a later `nps >= 7` there is
// false. The analysis over-approximates: "may be true" can be wrong,
// "cannot be true" is a proof. That is what lets the checks report only
// what is certain.

// span is a closed interval of possible numbers; lo > hi is empty. nan
// tells that the value may also be NaN (0 ** -1 and the like).
type span struct {
	lo, hi float64
	nan    bool
}

var (
	anyNum   = span{lo: math.Inf(-1), hi: math.Inf(1)}
	emptyNum = span{lo: math.Inf(1), hi: math.Inf(-1)}
)

func point(x float64) span        { return span{lo: x, hi: x} }
func (s span) empty() bool        { return s.lo > s.hi }
func (s span) isPoint() bool      { return s.lo == s.hi && !s.nan }
func (s span) has(x float64) bool { return s.lo <= x && x <= s.hi }

func hull(a, b span) span {
	if a.empty() {
		return b
	}
	if b.empty() {
		return a
	}
	return span{lo: math.Min(a.lo, b.lo), hi: math.Max(a.hi, b.hi), nan: a.nan || b.nan}
}

// strDom is the set of possible values of a string: any, or vals. A large
// set that is looked up often (the event names of a category) carries an
// index of its values.
type strDom struct {
	any   bool
	vals  []string
	index map[string]bool
}

var anyStr = strDom{any: true}

func strSet(vals ...string) strDom { return strDom{vals: vals} }

// indexed returns s with an index of its values when it is large enough
// for one to pay.
func (s strDom) indexed() strDom {
	if s.any || len(s.vals) < 16 || s.index != nil {
		return s
	}
	s.index = make(map[string]bool, len(s.vals))
	for _, v := range s.vals {
		s.index[v] = true
	}
	return s
}

// large tells whether s is a set too big to walk once per rule; only
// indexed sets are (see indexed), whose values are distinct.
func (s strDom) large() bool { return s.index != nil }

func (s strDom) empty() bool { return !s.any && len(s.vals) == 0 }

func (s strDom) has(v string) bool {
	if s.index != nil {
		return s.index[v]
	}
	return s.any || slices.Contains(s.vals, v)
}

// sameSet tells whether a and b are the same set by construction (one
// cached domain joined with itself, as a transition from several stages
// on one category does).
func sameSet(a, b strDom) bool {
	return len(a.vals) == len(b.vals) && (len(a.vals) == 0 || &a.vals[0] == &b.vals[0])
}

func unionStr(a, b strDom) strDom {
	switch {
	case a.any || b.any:
		return anyStr
	case sameSet(a, b) || len(b.vals) == 0:
		return a
	case len(a.vals) == 0:
		return b
	}
	out := slices.Clone(a.vals)
	if len(a.vals)*len(b.vals) <= 256 {
		for _, v := range b.vals {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return strDom{vals: out}
	}
	in := make(map[string]bool, len(a.vals)+len(b.vals))
	for _, v := range a.vals {
		in[v] = true
	}
	for _, v := range b.vals {
		if !in[v] {
			in[v] = true
			out = append(out, v)
		}
	}
	return strDom{vals: out, index: in}
}

// keep returns the values of s for which f holds (s must not be any).
func (s strDom) keep(f func(string) bool) strDom {
	var out []string
	for _, v := range s.vals {
		if f(v) {
			out = append(out, v)
		}
	}
	return strDom{vals: out}
}

// truth is what a condition may evaluate to.
type truth struct{ t, f bool }

var anyTruth = truth{true, true}

// scope is what is known of the variables where an expression runs. A
// dead scope is one no customer can be in: the facts contradict.
type scope struct {
	dead  bool
	num   [numVars]span
	bools [boolVars]truth
	strs  [strVars]strDom
	// work bounds the analysis: narrowing under nested and/or can cost
	// exponential time in the nesting depth, so past a budget the analysis
	// answers "anything" (still sound, only less precise).
	work *int
}

// analysisBudget is how many steps one scope's analyses may take.
const analysisBudget = 50_000

// spent counts one step, and tells whether the budget is exhausted.
func (s *scope) spent() bool {
	*s.work--
	return *s.work < 0
}

// baseScope is what holds for every customer: the domains of vars.go.
func baseScope() scope {
	var s scope
	s.work = new(int)
	*s.work = analysisBudget
	for i := range s.num {
		s.num[i] = span{lo: 0, hi: math.Inf(1)} // counts, days, windows
	}
	s.num[Revenue] = anyNum    // refunds can exceed purchases
	s.num[EventValue] = anyNum // whatever the event carries
	s.num[NPS] = span{lo: -1, hi: 10}
	s.num[Score] = span{lo: 0, hi: 100}
	for i := range s.bools {
		s.bools[i] = anyTruth
	}
	for i := range s.strs {
		s.strs[i] = anyStr
	}
	return s
}

func joinScope(a, b scope) scope {
	if a.dead {
		return b
	}
	if b.dead {
		return a
	}
	for i := range a.num {
		a.num[i] = hull(a.num[i], b.num[i])
	}
	for i := range a.bools {
		a.bools[i] = truth{a.bools[i].t || b.bools[i].t, a.bools[i].f || b.bools[i].f}
	}
	for i := range a.strs {
		a.strs[i] = unionStr(a.strs[i], b.strs[i])
	}
	return a
}

// normalize derives what follows from the domains (has_nps is nps >= 0)
// and marks the scope dead when a domain is empty.
func (s scope) normalize() scope {
	if s.dead {
		return s
	}
	n := &s.num[NPS]
	h := &s.bools[HasNPS]
	if !h.t {
		n.hi = math.Min(n.hi, -1)
	}
	if !h.f {
		n.lo = math.Max(n.lo, 0)
	}
	if n.hi < 0 {
		h.t = false
	}
	if n.lo >= 0 {
		h.f = false
	}
	for _, x := range s.num {
		if x.empty() {
			s.dead = true
		}
	}
	for _, b := range s.bools {
		if !b.t && !b.f {
			s.dead = true
		}
	}
	for _, x := range s.strs {
		if x.empty() {
			s.dead = true
		}
	}
	return s
}

// num returns the possible values of a numeric expression.
func (s *scope) numOf(n ast.Node) span {
	if s.dead {
		return emptyNum
	}
	if s.spent() {
		return span{lo: math.Inf(-1), hi: math.Inf(1), nan: true}
	}
	switch n := n.(type) {
	case *ast.IntegerNode:
		return point(float64(n.Value))
	case *ast.FloatNode:
		return point(n.Value)
	case *ast.IdentifierNode:
		if kind, i := lookupVar(n.Value); kind == 'n' {
			return s.num[i]
		}
	case *ast.ChainNode:
		return s.numOf(n.Node)
	case *ast.UnaryNode:
		x := s.numOf(n.Node)
		switch n.Operator {
		case "-":
			return span{lo: -x.hi, hi: -x.lo, nan: x.nan}
		case "+":
			return x
		}
	case *ast.ConditionalNode:
		c := s.boolOf(n.Cond)
		r := emptyNum
		if c.t {
			st := s.assume(n.Cond, true)
			r = hull(r, st.numOf(n.Exp1))
		}
		if c.f {
			sf := s.assume(n.Cond, false)
			r = hull(r, sf.numOf(n.Exp2))
		}
		return r
	case *ast.BinaryNode:
		return arith(n.Operator, s.numOf(n.Left), s.numOf(n.Right))
	case *ast.BuiltinNode:
		return s.call(n.Name, n.Arguments)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			return s.call(id.Value, n.Arguments)
		}
	}
	return span{lo: math.Inf(-1), hi: math.Inf(1), nan: true}
}

func (s *scope) call(name string, args []ast.Node) span {
	xs := make([]span, len(args))
	nan := false
	for i, a := range args {
		xs[i] = s.numOf(a)
		if xs[i].empty() {
			return emptyNum
		}
		nan = nan || xs[i].nan
	}
	mono := func(f func(float64) float64) span {
		if len(xs) != 1 {
			return anyNum
		}
		return span{lo: f(xs[0].lo), hi: f(xs[0].hi), nan: nan}
	}
	switch name {
	case "floor":
		return mono(math.Floor)
	case "ceil":
		return mono(math.Ceil)
	case "round":
		return mono(math.Round)
	case "abs":
		if len(xs) != 1 {
			return anyNum
		}
		x := xs[0]
		switch {
		case x.lo >= 0:
			return x
		case x.hi <= 0:
			return span{lo: -x.hi, hi: -x.lo, nan: nan}
		}
		return span{lo: 0, hi: math.Max(-x.lo, x.hi), nan: nan}
	case "min", "max":
		if len(xs) == 0 {
			return anyNum
		}
		r := xs[0]
		for _, x := range xs[1:] {
			if name == "min" {
				r = span{lo: math.Min(r.lo, x.lo), hi: math.Min(r.hi, x.hi), nan: nan}
			} else {
				r = span{lo: math.Max(r.lo, x.lo), hi: math.Max(r.hi, x.hi), nan: nan}
			}
		}
		return r
	case modOp:
		if len(xs) != 2 {
			return anyNum
		}
		return arith("%", xs[0], xs[1])
	case "clamp":
		if len(xs) != 3 {
			return anyNum
		}
		x, lo, hi := xs[0], xs[1], xs[2]
		m := span{lo: math.Max(x.lo, lo.lo), hi: math.Max(x.hi, lo.hi)}
		return span{lo: math.Min(m.lo, hi.lo), hi: math.Min(m.hi, hi.hi), nan: nan}
	}
	return span{lo: math.Inf(-1), hi: math.Inf(1), nan: true}
}

// arith is interval arithmetic for the operators of expr.go, with its
// rule that division and modulo by zero give 0.
func arith(op string, a, b span) span {
	if a.empty() || b.empty() {
		return emptyNum
	}
	nan := a.nan || b.nan
	fix := func(x, fallback float64) float64 {
		if math.IsNaN(x) {
			return fallback
		}
		return x
	}
	switch op {
	case "+":
		return span{lo: fix(a.lo+b.lo, math.Inf(-1)), hi: fix(a.hi+b.hi, math.Inf(1)), nan: nan}
	case "-":
		return span{lo: fix(a.lo-b.hi, math.Inf(-1)), hi: fix(a.hi-b.lo, math.Inf(1)), nan: nan}
	case "*":
		mul := func(x, y float64) float64 {
			if x == 0 || y == 0 {
				return 0 // a bound of 0 times an infinite one: values are finite
			}
			return x * y
		}
		ps := []float64{mul(a.lo, b.lo), mul(a.lo, b.hi), mul(a.hi, b.lo), mul(a.hi, b.hi)}
		return span{lo: slices.Min(ps), hi: slices.Max(ps), nan: nan}
	case "/":
		if b.has(0) {
			// x/0 is 0, and x/y for y near 0 is anything.
			return span{lo: math.Inf(-1), hi: math.Inf(1), nan: nan}
		}
		ps := []float64{a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi}
		for _, p := range ps {
			if math.IsNaN(p) {
				return span{lo: math.Inf(-1), hi: math.Inf(1), nan: nan}
			}
		}
		return span{lo: slices.Min(ps), hi: slices.Max(ps), nan: nan}
	case "%":
		m := math.Max(math.Abs(b.lo), math.Abs(b.hi))
		r := span{lo: -m, hi: m, nan: nan}
		if a.lo >= 0 {
			r.lo = 0
		}
		if a.hi <= 0 {
			r.hi = 0
		}
		return r
	}
	return span{lo: math.Inf(-1), hi: math.Inf(1), nan: true}
}

// strOf returns the possible values of a string expression.
func (s *scope) strOf(n ast.Node) strDom {
	if s.dead {
		return strDom{}
	}
	if s.spent() {
		return anyStr
	}
	switch n := n.(type) {
	case *ast.StringNode:
		return strSet(n.Value)
	case *ast.IdentifierNode:
		if kind, i := lookupVar(n.Value); kind == 's' {
			return s.strs[i]
		}
	case *ast.ChainNode:
		return s.strOf(n.Node)
	case *ast.ConditionalNode:
		c := s.boolOf(n.Cond)
		r := strDom{}
		if c.t {
			st := s.assume(n.Cond, true)
			r = unionStr(r, st.strOf(n.Exp1))
		}
		if c.f {
			sf := s.assume(n.Cond, false)
			r = unionStr(r, sf.strOf(n.Exp2))
		}
		return r
	}
	return anyStr
}

// boolOf returns what a condition may evaluate to.
func (s *scope) boolOf(n ast.Node) truth {
	if s.dead {
		return truth{}
	}
	if s.spent() {
		return anyTruth
	}
	switch n := n.(type) {
	case *ast.BoolNode:
		return truth{n.Value, !n.Value}
	case *ast.IdentifierNode:
		if kind, i := lookupVar(n.Value); kind == 'b' {
			return s.bools[i]
		}
	case *ast.ChainNode:
		return s.boolOf(n.Node)
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			x := s.boolOf(n.Node)
			return truth{x.f, x.t}
		}
	case *ast.ConditionalNode:
		c := s.boolOf(n.Cond)
		var r truth
		if c.t {
			st := s.assume(n.Cond, true)
			x := st.boolOf(n.Exp1)
			r = truth{r.t || x.t, r.f || x.f}
		}
		if c.f {
			sf := s.assume(n.Cond, false)
			x := sf.boolOf(n.Exp2)
			r = truth{r.t || x.t, r.f || x.f}
		}
		return r
	case *ast.BinaryNode:
		return s.binary(n)
	}
	return anyTruth
}

func (s *scope) binary(n *ast.BinaryNode) truth {
	switch n.Operator {
	case "&&", "and":
		a := s.boolOf(n.Left)
		st := s.assume(n.Left, true)
		b := st.boolOf(n.Right)
		return truth{a.t && b.t, a.f || b.f}
	case "||", "or":
		a := s.boolOf(n.Left)
		sf := s.assume(n.Left, false)
		b := sf.boolOf(n.Right)
		return truth{a.t || b.t, a.f && b.f}
	case "in", "not in":
		r := s.in(n)
		if n.Operator == "not in" {
			return truth{r.f, r.t}
		}
		return r
	case "==", "!=", "<", "<=", ">", ">=":
	default:
		return anyTruth
	}
	var r truth
	switch kindOfNode(n.Left) {
	case 'n':
		a, b := s.numOf(n.Left), s.numOf(n.Right)
		if a.empty() || b.empty() {
			return truth{}
		}
		r = compareSpans(n.Operator, a, b)
	case 's':
		a, b := s.strOf(n.Left), s.strOf(n.Right)
		if a.empty() || b.empty() {
			return truth{}
		}
		eq := truth{t: true, f: true}
		if !a.any && !b.any {
			small, other := a, b
			if len(b.vals) < len(a.vals) {
				small, other = b, a
			}
			eq.t = slices.ContainsFunc(small.vals, other.has)
			eq.f = !(len(a.vals) == 1 && len(b.vals) == 1 && a.vals[0] == b.vals[0])
		}
		switch n.Operator {
		case "==":
			r = eq
		case "!=":
			r = truth{eq.f, eq.t}
		default:
			r = anyTruth
		}
	case 'b':
		a, b := s.boolOf(n.Left), s.boolOf(n.Right)
		eq := truth{t: (a.t && b.t) || (a.f && b.f), f: (a.t && b.f) || (a.f && b.t)}
		switch n.Operator {
		case "==":
			r = eq
		case "!=":
			r = truth{eq.f, eq.t}
		default:
			r = anyTruth
		}
	default:
		r = anyTruth
	}
	return r
}

func compareSpans(op string, a, b span) truth {
	var r truth
	switch op {
	case "<":
		r = truth{a.lo < b.hi, a.hi >= b.lo}
	case "<=":
		r = truth{a.lo <= b.hi, a.hi > b.lo}
	case ">":
		r = truth{a.hi > b.lo, a.lo <= b.hi}
	case ">=":
		r = truth{a.hi >= b.lo, a.lo < b.hi}
	case "==":
		r = truth{a.lo <= b.hi && b.lo <= a.hi, !(a.isPoint() && b.isPoint() && a.lo == b.lo)}
	case "!=":
		r = truth{!(a.isPoint() && b.isPoint() && a.lo == b.lo), a.lo <= b.hi && b.lo <= a.hi}
	}
	if a.nan || b.nan { // NaN compares false, and unequal
		if op == "!=" {
			r.t = true
		} else {
			r.f = true
		}
	}
	return r
}

func (s *scope) in(n *ast.BinaryNode) truth {
	arr, ok := n.Right.(*ast.ArrayNode)
	if !ok {
		return anyTruth
	}
	switch kindOfNode(n.Left) {
	case 's':
		x := s.strOf(n.Left)
		var list []string
		for _, e := range arr.Nodes {
			if c, ok := e.(*ast.StringNode); ok {
				list = append(list, c.Value)
			} else {
				return anyTruth
			}
		}
		if x.any {
			return truth{len(list) > 0, true}
		}
		if x.large() {
			// Walk the list, not the domain (see assumeIn).
			var in []string
			for _, v := range list {
				if x.has(v) && !slices.Contains(in, v) {
					in = append(in, v)
				}
			}
			return truth{t: len(in) > 0, f: len(x.vals) > len(in)}
		}
		return truth{
			t: slices.ContainsFunc(x.vals, func(v string) bool { return slices.Contains(list, v) }),
			f: slices.ContainsFunc(x.vals, func(v string) bool { return !slices.Contains(list, v) }),
		}
	case 'n':
		x := s.numOf(n.Left)
		var r truth
		for _, e := range arr.Nodes {
			item, _ := listItem(e)
			c, ok := item.(float64)
			if !ok {
				return anyTruth
			}
			r.t = r.t || x.has(c)
		}
		r.f = !(x.isPoint() && r.t)
		return r
	}
	return anyTruth
}

// kindOfNode is the type the checker gave a node: 'n', 's', 'b' or 0.
func kindOfNode(n ast.Node) byte {
	switch kindOf(n) {
	case reflect.Float64:
		return 'n'
	case reflect.String:
		return 's'
	case reflect.Bool:
		return 'b'
	}
	return 0
}

// assume returns the scope narrowed by n evaluating to want.
func (s scope) assume(n ast.Node, want bool) scope {
	if s.dead || s.spent() {
		return s
	}
	switch n := n.(type) {
	case *ast.BoolNode:
		if n.Value != want {
			s.dead = true
		}
	case *ast.ChainNode:
		return s.assume(n.Node, want)
	case *ast.IdentifierNode:
		if kind, i := lookupVar(n.Value); kind == 'b' {
			b := &s.bools[i]
			if want {
				b.f = false
			} else {
				b.t = false
			}
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			return s.assume(n.Node, !want)
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			if want {
				return s.assume(n.Left, true).assume(n.Right, true)
			}
			return joinScope(s.assume(n.Left, false), s.assume(n.Left, true).assume(n.Right, false))
		case "||", "or":
			if want {
				return joinScope(s.assume(n.Left, true), s.assume(n.Left, false).assume(n.Right, true))
			}
			return s.assume(n.Left, false).assume(n.Right, false)
		case "in", "not in":
			if n.Operator == "not in" {
				want = !want
			}
			s.assumeIn(n, want)
		case "==", "!=", "<", "<=", ">", ">=":
			s.assumeCompare(n, want)
		}
	}
	return s.normalize()
}

// negated is the operator that holds when op does not.
var negated = map[string]string{"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}

// mirrored is the operator for the operands swapped.
var mirrored = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

func (s *scope) assumeCompare(n *ast.BinaryNode, want bool) {
	op := n.Operator
	if !want {
		op = negated[op]
	}
	switch kindOfNode(n.Left) {
	case 'n':
		a, b := s.numOf(n.Left), s.numOf(n.Right)
		if !want && (a.nan || b.nan) {
			return // "not a < b" also holds for NaN: nothing to learn
		}
		if id, ok := n.Left.(*ast.IdentifierNode); ok {
			if kind, i := lookupVar(id.Value); kind == 'n' {
				s.num[i] = narrow(s.num[i], op, b)
			}
		}
		if id, ok := n.Right.(*ast.IdentifierNode); ok {
			if kind, i := lookupVar(id.Value); kind == 'n' {
				s.num[i] = narrow(s.num[i], mirrored[op], a)
			}
		}
	case 's':
		var id *ast.IdentifierNode
		var lit *ast.StringNode
		if x, ok := n.Left.(*ast.IdentifierNode); ok {
			id = x
			lit, _ = n.Right.(*ast.StringNode)
		} else if x, ok := n.Right.(*ast.IdentifierNode); ok {
			id = x
			lit, _ = n.Left.(*ast.StringNode)
		}
		if id == nil || lit == nil {
			return
		}
		kind, i := lookupVar(id.Value)
		if kind != 's' {
			return
		}
		switch op {
		case "==":
			if s.strs[i].has(lit.Value) {
				s.strs[i] = strSet(lit.Value)
			} else {
				s.strs[i] = strDom{}
			}
		case "!=":
			// A large domain (the event names of a big pack) stays as it
			// is: still sound, and narrowing it would copy it for every
			// rule that says event != "...".
			if !s.strs[i].any && !s.strs[i].large() && s.strs[i].has(lit.Value) {
				s.strs[i] = s.strs[i].keep(func(v string) bool { return v != lit.Value })
			}
		}
	}
}

func (s *scope) assumeIn(n *ast.BinaryNode, want bool) {
	arr, ok := n.Right.(*ast.ArrayNode)
	if !ok {
		return
	}
	id, ok := n.Left.(*ast.IdentifierNode)
	if !ok {
		return
	}
	kind, i := lookupVar(id.Value)
	if kind != 's' {
		return
	}
	var list []string
	for _, e := range arr.Nodes {
		c, ok := e.(*ast.StringNode)
		if !ok {
			return
		}
		list = append(list, c.Value)
	}
	d := s.strs[i]
	switch {
	case want && d.any:
		s.strs[i] = strSet(list...)
	case want && d.large():
		// Walk the list, not the domain: the cost of the rule, not of
		// the pack.
		var in []string
		for _, v := range list {
			if d.has(v) && !slices.Contains(in, v) {
				in = append(in, v)
			}
		}
		s.strs[i] = strSet(in...)
	case want:
		s.strs[i] = d.keep(func(v string) bool { return slices.Contains(list, v) })
	case !d.any && !d.large(): // a large one stays (see assume, !=)
		s.strs[i] = d.keep(func(v string) bool { return !slices.Contains(list, v) })
	}
}

// narrow restricts x to the values for which `x op other` can hold.
func narrow(x span, op string, other span) span {
	if other.empty() {
		return emptyNum
	}
	switch op {
	case "<":
		x.hi = math.Min(x.hi, other.hi)
		if x.lo >= other.hi {
			return emptyNum
		}
	case "<=":
		x.hi = math.Min(x.hi, other.hi)
	case ">":
		x.lo = math.Max(x.lo, other.lo)
		if x.hi <= other.lo {
			return emptyNum
		}
	case ">=":
		x.lo = math.Max(x.lo, other.lo)
	case "==":
		x.lo, x.hi = math.Max(x.lo, other.lo), math.Min(x.hi, other.hi)
	case "!=":
		if x.isPoint() && other.isPoint() && x.lo == other.lo {
			return emptyNum
		}
	}
	return x
}
