package rules

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
)

// Expressions are written in expr-lang/expr (https://expr-lang.org): its
// parser and type checker give rule authors a documented syntax and
// positioned errors. The checked tree is then compiled here into Go
// closures over Vars, so that evaluating a condition costs a few
// nanoseconds and no allocation on the per-event path (expr's own VM costs
// 40-230 ns and boxes every number). The language is expr's, restricted to
// what a rule needs: literals, variables, arithmetic, comparison, logic,
// the ternary operator, `in [...]`, and the functions min, max, abs, floor,
// ceil, round and clamp.

type (
	numFn  = func(*Vars) float64
	boolFn = func(*Vars) bool
	strFn  = func(*Vars) string
)

// exprError is a compile error at a position inside the expression text:
// a 1-based line and column, or (when line is 0) a rune offset.
type exprError struct {
	line, col int
	off       int
	msg       string
}

func (e *exprError) Error() string { return e.msg }

// exprEnv declares every variable with its type for expr's checker.
func (vc *vocab) exprEnv() map[string]any {
	env := make(map[string]any, int(numVars)+int(boolVars)+int(strVars))
	if vc != nil {
		for _, t := range vc.traits {
			switch t.Kind {
			case TraitNumber:
				env[t.Name] = float64(0)
			case TraitBool:
				env[t.Name] = false
			default:
				env[t.Name] = ""
			}
		}
		for _, pm := range vc.params {
			env[pm.Name] = float64(0)
		}
	}
	for _, n := range numNames {
		env[n] = float64(0)
	}
	for _, n := range boolNames {
		env[n] = false
	}
	for _, n := range strNames {
		env[n] = ""
	}
	return env
}

// clampSig exists only to give expr's checker clamp's signature.
func clampSig(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }

// modOp is the function expr's checker turns a % b into when a or b is a
// number variable: expr's own % takes integers only, and every variable
// is a float64. The name is one the parser cannot produce, so that no rule
// can call it by name; the compiler and the analysis read it as %.
const modOp = "%"

// mod is a % b for rules: the remainder of a / b with the sign of a
// (math.Mod: 7 % 3 = 1, 7.5 % 2 = 1.5, -7 % 3 = -1, 7 % -3 = 1), and 0
// when b is 0, as division by zero is.
func mod(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return math.Mod(a, b)
}

func (vc *vocab) checkExpr(src string, want reflect.Kind) (ast.Node, error) {
	opts := []expr.Option{
		expr.Env(vc.exprEnv()),
		expr.Function(HasTraitFunc, func(p ...any) (any, error) { return nil, nil }, func(string) bool { return false }),
		expr.Optimize(false),
		expr.Function("clamp", func(p ...any) (any, error) { return nil, nil }, clampSig),
		// The overloads cover a number variable on either side; a % b of
		// two integer literals is expr's own, typed int, compiled alike.
		expr.Function(modOp, func(p ...any) (any, error) { return nil, nil },
			mod, func(a int, b float64) float64 { return 0 }, func(a float64, b int) float64 { return 0 }),
		expr.Operator("%", modOp),
	}
	switch want {
	case reflect.Bool:
		opts = append(opts, expr.AsBool())
	case reflect.Float64:
		opts = append(opts, expr.AsFloat64())
	}
	// What the rule language lacks is reported in its own words first;
	// a syntax error is left to expr.Compile, which reports it with its
	// line and column.
	if tree, err := parser.Parse(src); err == nil {
		if err := vc.checkLanguage(tree.Node); err != nil {
			return nil, err
		}
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			msg := plainMessage(fe.Message)
			if name, ok := strings.CutPrefix(fe.Message, "unknown name "); ok {
				msg = vc.unknownVar(name)
			}
			return nil, &exprError{line: fe.Line, col: fe.Column + 1, msg: msg}
		}
		return nil, &exprError{line: 1, col: 1, msg: plainMessage(err.Error())}
	}
	return prog.Node(), nil
}

// compileBool and compileNum compile with the built-in variables only.
func compileBool(src string) (boolFn, ast.Node, error) { return (*vocab)(nil).compileBool(src) }
func compileNum(src string) (numFn, ast.Node, error)   { return (*vocab)(nil).compileNum(src) }

// compileBool compiles a condition. It also returns the checked tree, for
// the pack checks (check.go).
func (vc *vocab) compileBool(src string) (boolFn, ast.Node, error) {
	n, err := vc.checkExpr(src, reflect.Bool)
	if err != nil {
		return nil, nil, err
	}
	f, err := vc.boolOf(n)
	if err != nil {
		return nil, nil, err
	}
	return f, n, nil
}

// compileNum compiles a numeric expression (a health component), and
// returns its checked tree too.
func (vc *vocab) compileNum(src string) (numFn, ast.Node, error) {
	n, err := vc.checkExpr(src, reflect.Float64)
	if err != nil {
		return nil, nil, err
	}
	f, err := vc.numOf(n)
	if err != nil {
		return nil, nil, err
	}
	return f, n, nil
}

// ternary compiles cond ? a : b, for any result type.
func ternary[T any](vc *vocab, n *ast.ConditionalNode, of func(ast.Node) (func(*Vars) T, error)) (func(*Vars) T, error) {
	c, err := vc.boolOf(n.Cond)
	if err != nil {
		return nil, err
	}
	a, err := of(n.Exp1)
	if err != nil {
		return nil, err
	}
	b, err := of(n.Exp2)
	if err != nil {
		return nil, err
	}
	return func(v *Vars) T {
		if c(v) {
			return a(v)
		}
		return b(v)
	}, nil
}

func nodeErr(n ast.Node, format string, args ...any) error {
	// expr records rune offsets; the caller maps them to file positions.
	return &exprError{off: n.Location().From, msg: fmt.Sprintf(format, args...)}
}

// offsetPos converts a rune offset in src to a 1-based line and column.
func offsetPos(src string, off int) (line, col int) {
	line, col = 1, 1
	i := 0
	for _, r := range src {
		if i == off {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i++
	}
	return line, col
}

func kindOf(n ast.Node) reflect.Kind {
	if c, ok := n.(*ast.ConditionalNode); ok {
		// expr types `c ? nps : 5` as interface{} (float64 and int):
		// both branches being numbers makes it a number.
		if a := kindOf(c.Exp1); a == kindOf(c.Exp2) {
			return a
		}
	}
	t := n.Type()
	if t == nil {
		return reflect.Invalid
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Float64:
		return reflect.Float64
	}
	return t.Kind()
}

func (vc *vocab) numOf(n ast.Node) (numFn, error) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		c := float64(n.Value)
		return func(*Vars) float64 { return c }, nil
	case *ast.FloatNode:
		c := n.Value
		return func(*Vars) float64 { return c }, nil
	case *ast.IdentifierNode:
		kind, i := vc.lookup(n.Value)
		switch kind {
		case 'n':
			return func(v *Vars) float64 { return v.Num[i] }, nil
		case 'N':
			return func(v *Vars) float64 { return v.Traits[i].Num }, nil
		case 'P':
			return func(v *Vars) float64 { return v.Params[i] }, nil
		}
		return nil, nodeErr(n, "expected a number, but got %s (%s)", kindOfWord(n), n.Value)
	case *ast.UnaryNode:
		x, err := vc.numOf(n.Node)
		if err != nil {
			return nil, err
		}
		switch n.Operator {
		case "-":
			return func(v *Vars) float64 { return -x(v) }, nil
		case "+":
			return x, nil
		}
		return nil, unsupported(n, "operator "+n.Operator)
	case *ast.BinaryNode:
		return vc.numBinary(n)
	case *ast.ConditionalNode:
		return ternary(vc, n, vc.numOf)
	case *ast.BuiltinNode:
		return vc.numCall(n, n.Name, n.Arguments)
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return nil, unsupported(n, "this call")
		}
		return vc.numCall(n, id.Value, n.Arguments)
	case *ast.ChainNode:
		return vc.numOf(n.Node)
	}
	return nil, wrongType(n, aNumber)
}

func (vc *vocab) numArgs(args []ast.Node) ([]numFn, error) {
	fns := make([]numFn, len(args))
	for i, a := range args {
		f, err := vc.numOf(a)
		if err != nil {
			return nil, err
		}
		fns[i] = f
	}
	return fns, nil
}

func (vc *vocab) numCall(n ast.Node, name string, args []ast.Node) (numFn, error) {
	switch name {
	case "abs", "floor", "ceil", "round", "min", "max", "clamp", modOp:
	default:
		return nil, unsupported(n, "function "+name)
	}
	fns, err := vc.numArgs(args)
	if err != nil {
		return nil, err
	}
	unary := func(f func(float64) float64) (numFn, error) {
		if len(fns) != 1 {
			return nil, nodeErr(n, "%s takes one argument", name)
		}
		x := fns[0]
		return func(v *Vars) float64 { return f(x(v)) }, nil
	}
	switch name {
	case "abs":
		return unary(math.Abs)
	case "floor":
		return unary(math.Floor)
	case "ceil":
		return unary(math.Ceil)
	case "round":
		return unary(math.Round)
	case "min", "max":
		if len(fns) < 2 {
			return nil, nodeErr(n, "%s takes two or more numbers", name)
		}
		pick := math.Min
		if name == "max" {
			pick = math.Max
		}
		if len(fns) == 2 {
			a, b := fns[0], fns[1]
			return func(v *Vars) float64 { return pick(a(v), b(v)) }, nil
		}
		return func(v *Vars) float64 {
			r := fns[0](v)
			for _, f := range fns[1:] {
				r = pick(r, f(v))
			}
			return r
		}, nil
	case modOp:
		if len(fns) != 2 {
			return nil, nodeErr(n, "%% takes two numbers: a %% b")
		}
		a, b := fns[0], fns[1]
		return func(v *Vars) float64 { return mod(a(v), b(v)) }, nil
	case "clamp":
		if len(fns) != 3 {
			return nil, nodeErr(n, "clamp takes three numbers: clamp(x, low, high)")
		}
		x, lo, hi := fns[0], fns[1], fns[2]
		return func(v *Vars) float64 { return math.Min(math.Max(x(v), lo(v)), hi(v)) }, nil
	}
	return nil, unsupported(n, "function "+name)
}

func (vc *vocab) numBinary(n *ast.BinaryNode) (numFn, error) {
	a, err := vc.numOf(n.Left)
	if err != nil {
		return nil, err
	}
	b, err := vc.numOf(n.Right)
	if err != nil {
		return nil, err
	}
	switch n.Operator {
	case "+":
		return func(v *Vars) float64 { return a(v) + b(v) }, nil
	case "-":
		return func(v *Vars) float64 { return a(v) - b(v) }, nil
	case "*":
		return func(v *Vars) float64 { return a(v) * b(v) }, nil
	case "/":
		// Division by zero yields 0 rather than Inf or NaN: a rule over a
		// customer with no history must still compare sensibly.
		return func(v *Vars) float64 {
			d := b(v)
			if d == 0 {
				return 0
			}
			return a(v) / d
		}, nil
	case "%": // two integer literals; with a variable, % is a modOp call
		return func(v *Vars) float64 { return mod(a(v), b(v)) }, nil
	case "**", "^":
		return func(v *Vars) float64 { return math.Pow(a(v), b(v)) }, nil
	}
	return nil, unsupported(n, "operator "+n.Operator+" on numbers")
}

func (vc *vocab) strOf(n ast.Node) (strFn, error) {
	switch n := n.(type) {
	case *ast.StringNode:
		c := n.Value
		return func(*Vars) string { return c }, nil
	case *ast.IdentifierNode:
		kind, i := vc.lookup(n.Value)
		switch kind {
		case 's':
			return func(v *Vars) string { return v.Str[i] }, nil
		case 'S':
			return func(v *Vars) string { return v.Traits[i].Str }, nil
		}
		return nil, nodeErr(n, "expected text, but got %s (%s)", kindOfWord(n), n.Value)
	case *ast.ConditionalNode:
		return ternary(vc, n, vc.strOf)
	case *ast.BinaryNode:
		return nil, nodeErr(n, "%s does not work on text", n.Operator)
	}
	return nil, wrongType(n, someText)
}

func (vc *vocab) boolOf(n ast.Node) (boolFn, error) {
	switch n := n.(type) {
	case *ast.BoolNode:
		c := n.Value
		return func(*Vars) bool { return c }, nil
	case *ast.IdentifierNode:
		kind, i := vc.lookup(n.Value)
		switch kind {
		case 'b':
			return func(v *Vars) bool { return v.Bool[i] }, nil
		case 'B':
			return func(v *Vars) bool { return v.Traits[i].Num != 0 }, nil
		}
		return nil, nodeErr(n, "expected %s, but got %s (%s)", aCondition, kindOfWord(n), n.Value)
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil, unsupported(n, "operator "+n.Operator)
		}
		x, err := vc.boolOf(n.Node)
		if err != nil {
			return nil, err
		}
		return func(v *Vars) bool { return !x(v) }, nil
	case *ast.ConditionalNode:
		return ternary(vc, n, vc.boolOf)
	case *ast.BinaryNode:
		return vc.boolBinary(n)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == HasTraitFunc {
			i, err := vc.hasTraitArg(n, n.Arguments)
			if err != nil {
				return nil, err
			}
			return func(v *Vars) bool { return v.Traits[i].Kind != TraitAbsent }, nil
		}
	case *ast.ChainNode:
		return vc.boolOf(n.Node)
	}
	return nil, wrongType(n, aCondition)
}

func (vc *vocab) boolBinary(n *ast.BinaryNode) (boolFn, error) {
	switch n.Operator {
	case "&&", "and", "||", "or":
		a, err := vc.boolOf(n.Left)
		if err != nil {
			return nil, err
		}
		b, err := vc.boolOf(n.Right)
		if err != nil {
			return nil, err
		}
		if n.Operator == "&&" || n.Operator == "and" {
			return func(v *Vars) bool { return a(v) && b(v) }, nil
		}
		return func(v *Vars) bool { return a(v) || b(v) }, nil
	case "in", "not in":
		f, err := vc.inList(n)
		if err != nil {
			return nil, err
		}
		if n.Operator == "not in" {
			return func(v *Vars) bool { return !f(v) }, nil
		}
		return f, nil
	case "==", "!=", "<", "<=", ">", ">=":
	default:
		return nil, unsupported(n, "operator "+n.Operator)
	}
	switch kindOf(n.Left) {
	case reflect.Float64:
		a, err := vc.numOf(n.Left)
		if err != nil {
			return nil, err
		}
		b, err := vc.numOf(n.Right)
		if err != nil {
			return nil, err
		}
		switch n.Operator {
		case "==":
			return func(v *Vars) bool { return a(v) == b(v) }, nil
		case "!=":
			return func(v *Vars) bool { return a(v) != b(v) }, nil
		case "<":
			return func(v *Vars) bool { return a(v) < b(v) }, nil
		case "<=":
			return func(v *Vars) bool { return a(v) <= b(v) }, nil
		case ">":
			return func(v *Vars) bool { return a(v) > b(v) }, nil
		default:
			return func(v *Vars) bool { return a(v) >= b(v) }, nil
		}
	case reflect.String:
		a, err := vc.strOf(n.Left)
		if err != nil {
			return nil, err
		}
		b, err := vc.strOf(n.Right)
		if err != nil {
			return nil, err
		}
		switch n.Operator {
		case "==":
			return func(v *Vars) bool { return a(v) == b(v) }, nil
		case "!=":
			return func(v *Vars) bool { return a(v) != b(v) }, nil
		}
		return nil, nodeErr(n, "%s does not work on text: text compares with == and != only", n.Operator)
	case reflect.Bool:
		a, err := vc.boolOf(n.Left)
		if err != nil {
			return nil, err
		}
		b, err := vc.boolOf(n.Right)
		if err != nil {
			return nil, err
		}
		switch n.Operator {
		case "==":
			return func(v *Vars) bool { return a(v) == b(v) }, nil
		case "!=":
			return func(v *Vars) bool { return a(v) != b(v) }, nil
		}
	}
	if c, ok := n.Left.(*ast.ConditionalNode); ok {
		return nil, nodeErr(n, "%s cannot compare a ?: whose sides differ in type: one is %s, the other %s", n.Operator, kindOfWord(c.Exp1), kindOfWord(c.Exp2))
	}
	return nil, unsupported(n, "comparing these values")
}

// inList compiles `x in [a, b, ...]` where the list is literal.
func (vc *vocab) inList(n *ast.BinaryNode) (boolFn, error) {
	arr, ok := n.Right.(*ast.ArrayNode)
	if !ok {
		return nil, nodeErr(n.Right, inListMsg)
	}
	switch kindOf(n.Left) {
	case reflect.String:
		x, err := vc.strOf(n.Left)
		if err != nil {
			return nil, err
		}
		set := make(map[string]bool, len(arr.Nodes))
		for _, e := range arr.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nil, nodeErr(e, "expected text in this list, like the left side of in, but got %s", kindOfWord(e))
			}
			set[s.Value] = true
		}
		return func(v *Vars) bool { return set[x(v)] }, nil
	case reflect.Float64:
		x, err := vc.numOf(n.Left)
		if err != nil {
			return nil, err
		}
		var vals []float64
		for _, e := range arr.Nodes {
			x, _ := listItem(e)
			f, ok := x.(float64)
			if !ok {
				return nil, nodeErr(e, "expected a number in this list, like the left side of in, but got %s", kindOfWord(e))
			}
			vals = append(vals, f)
		}
		return func(v *Vars) bool {
			xv := x(v)
			for _, c := range vals {
				if c == xv {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, nodeErr(n.Left, "in looks for a number or text, not %s", kindOfWord(n.Left))
}

// formatNum renders a number for a reason: integers without decimals,
// others with at most two.
func formatNum(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// hasTraitArg checks has_trait's argument: the name of a declared trait,
// quoted. It returns the trait's index.
func (vc *vocab) hasTraitArg(n ast.Node, args []ast.Node) (int, error) {
	if len(args) == 1 {
		if s, ok := args[0].(*ast.StringNode); ok {
			if i := vc.trait(s.Value); i >= 0 {
				return i, nil
			}
			return 0, nodeErr(args[0], "has_trait(%q): the pack declares no trait %s (traits: %s)%s", s.Value, s.Value, listOrNone(vc.traitNames()), didYouMean(s.Value, vc.traitNames()))
		}
	}
	return 0, nodeErr(n, "has_trait takes the name of a declared trait in quotes, like has_trait(\"plan\") (traits: %s)", listOrNone(vc.traitNames()))
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none declared"
	}
	return strings.Join(names, ", ")
}
