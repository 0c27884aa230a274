package rules

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// The rule language is expr's, restricted (see expr.go). This file says
// what is in it, and words every expression error for a rule author: expr's
// type checker speaks of Go (float64, []interface {}, time.Time, mismatched
// types), and its tree of *ast nodes is no business of a rule's.

// functions are the functions an expression may call.
var functions = []string{"min", "max", "abs", "floor", "ceil", "round", "clamp"}

func unsupported(n ast.Node, what string) error {
	return nodeErr(n, "%s is not supported in rule expressions (use variables, numbers, strings, arithmetic, comparisons, and/or/not, ?:, in [...], min, max, abs, floor, ceil, round, clamp)", what)
}

const inListMsg = `the right side of in must be a list written out, like ["retention", "loyalty"] or [9, 10]`

// checkLanguage reports the first construct of a parsed expression that
// the rule language does not have, at its place. It runs before expr's
// type checker, whose messages for these constructs would name Go types
// or say nothing useful ("type text[number] is undefined").
func (vc *vocab) checkLanguage(n ast.Node) error {
	switch n := n.(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode:
		return nil
	case *ast.IdentifierNode:
		if strings.HasPrefix(n.Value, "$") {
			return unsupported(n, n.Value)
		}
		if kind, _ := vc.lookup(n.Value); kind == 0 {
			// expr would take a name such as string or now for its
			// function, and report a mismatched type.
			return nodeErr(n, "%s", vc.unknownVar(n.Value))
		}
		return nil
	case *ast.UnaryNode:
		switch n.Operator {
		case "-", "+", "!", "not":
			return vc.checkLanguage(n.Node)
		}
		return unsupported(n, "operator "+n.Operator)
	case *ast.BinaryNode:
		switch n.Operator {
		case "in", "not in":
			if err := vc.checkLanguage(n.Left); err != nil {
				return err
			}
			arr, ok := n.Right.(*ast.ArrayNode)
			if !ok {
				return nodeErr(n.Right, inListMsg)
			}
			for _, e := range arr.Nodes {
				if _, ok := listItem(e); !ok {
					return nodeErr(e, "the items of a list after in are written out: numbers such as 9 or -1, or texts such as \"retention\"")
				}
			}
			return nil
		case "+", "-", "*", "/", "%", "**", "^", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "and", "or":
			if err := vc.checkLanguage(n.Left); err != nil {
				return err
			}
			return vc.checkLanguage(n.Right)
		}
		return unsupported(n, "operator "+n.Operator)
	case *ast.ConditionalNode:
		for _, x := range []ast.Node{n.Cond, n.Exp1, n.Exp2} {
			if err := vc.checkLanguage(x); err != nil {
				return err
			}
		}
		return nil
	case *ast.BuiltinNode:
		return vc.checkCall(n, n.Name, n.Arguments)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			return vc.checkCall(n, id.Value, n.Arguments)
		}
		return unsupported(n, "calling a method (x.f())")
	case *ast.ChainNode:
		return vc.checkLanguage(n.Node)
	case *ast.ArrayNode:
		return nodeErr(n, "a list [...] is only allowed after in, as in stage in [\"retention\", \"loyalty\"]")
	case *ast.NilNode:
		return nodeErr(n, "nil is not a value in rule expressions: every variable has one (nps is -1 without an answer, has_nps says whether there is one; a text variable is \"\" when empty)")
	}
	return unsupported(n, describe(n))
}

func (vc *vocab) checkCall(n ast.Node, name string, args []ast.Node) error {
	if name == HasTraitFunc {
		_, err := vc.hasTraitArg(n, args)
		return err
	}
	if !slices.Contains(functions, name) {
		hint := didYouMean(name, functions)
		if name == "mod" || name == "fmod" {
			hint = "; write a % b"
		}
		all := append(slices.Clone(functions), HasTraitFunc)
		return nodeErr(n, "function %s is not supported in rule expressions (the functions are %s)%s", name, strings.Join(all, ", "), hint)
	}
	for _, a := range args {
		if err := vc.checkLanguage(a); err != nil {
			return err
		}
	}
	return nil
}

// unknownVar is the message for a name that is no variable.
func (vc *vocab) unknownVar(name string) string {
	names := vc.names()
	return fmt.Sprintf("unknown variable %s (expected one of %s)%s", name, strings.Join(names, ", "), didYouMean(name, names))
}

// listItem returns a literal item of a list after in: a number (-1
// included) or a text.
func listItem(n ast.Node) (any, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.StringNode:
		return n.Value, true
	case *ast.UnaryNode:
		if n.Operator == "-" || n.Operator == "+" {
			if x, ok := listItem(n.Node); ok {
				if f, ok := x.(float64); ok {
					if n.Operator == "-" {
						f = -f
					}
					return f, true
				}
			}
		}
	}
	return nil, false
}

// describe names an expression construct in a rule author's words.
func describe(n ast.Node) string {
	switch n := n.(type) {
	case *ast.MemberNode:
		return "a field or an index (x.y, x[i])"
	case *ast.SliceNode:
		return "a slice (x[i:j])"
	case *ast.MapNode, *ast.PairNode:
		return "a map ({key: value})"
	case *ast.ArrayNode:
		return "a list [...] outside in"
	case *ast.NilNode:
		return "nil"
	case *ast.BytesNode:
		return `bytes (b"...")`
	case *ast.VariableDeclaratorNode:
		return "let"
	case *ast.SequenceNode:
		return "a sequence of expressions (;)"
	case *ast.PredicateNode, *ast.PointerNode:
		return "a predicate (# or .field inside a function)"
	case *ast.BuiltinNode:
		return "function " + n.Name
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			return "function " + id.Value
		}
		return "calling a method (x.f())"
	case *ast.BinaryNode:
		return "operator " + n.Operator
	case *ast.UnaryNode:
		return "operator " + n.Operator
	case *ast.StringNode:
		return "text"
	case *ast.IntegerNode, *ast.FloatNode:
		return "a number"
	case *ast.BoolNode:
		return "a condition"
	}
	return "this expression"
}

// wrongType reports n where a value of another type belongs: "expected a
// number, but got text".
func wrongType(n ast.Node, want string) error {
	switch kindOfWord(n) {
	case "":
		return unsupported(n, describe(n))
	case want:
		return unsupported(n, describe(n)) // the right type in the wrong construct
	default:
		return nodeErr(n, "expected %s, but got %s", want, kindOfWord(n))
	}
}

// Words for expression types.
const (
	aNumber    = "a number"
	aCondition = "a condition (true or false)"
	someText   = "text"
)

func kindOfWord(n ast.Node) string {
	switch kindOf(n) {
	case reflect.Float64:
		return aNumber
	case reflect.Bool:
		return aCondition
	case reflect.String:
		return someText
	}
	return ""
}

// The checker messages the rule language can still meet, with the Go
// types they name.
var (
	reMismatch2   = regexp.MustCompile(`^invalid operation: (\S+) \(mismatched types (.+) and (.+)\)$`)
	reMismatch1   = regexp.MustCompile(`^invalid operation: (\S+) \(mismatched type (.+)\)$`)
	reNonBoolCond = regexp.MustCompile(`^non-bool expression \(type (.+)\) used as condition$`)
	reInArray     = regexp.MustCompile(`^cannot use (.+) as type (.+) in array$`)
	reBadArg      = regexp.MustCompile(`^invalid argument for (\w+) \(type (.+)\)$`)
	reBadArgCall  = regexp.MustCompile(`^cannot use (.+) as argument \(type (.+)\) to call (\w+)$`)
	reExpected    = regexp.MustCompile(`^expected (\S+), but got (.+)$`)
	reArgCount    = regexp.MustCompile(`^invalid number of arguments \(expected (\d+), got (\d+)\)$`)
	reLiteral     = regexp.MustCompile(`^invalid \w+ literal: strconv\.\w+: parsing "(.*)": (.*)$`)
	// The parser's tokens: Operator(">"), Bracket(")"), EOF.
	reToken = regexp.MustCompile(`\btoken (\w+)(?:\("((?:[^"\\]|\\.)*)"\))?`)
	// Go type names left in any other message.
	reGoType = regexp.MustCompile(`\[\]interface \{\}|\[\]uint8|map\[[^\]]*\][\w{} ]*\}?|interface \{\}|time\.Time|time\.Duration|\*ast\.\w+|\b(float64|int|int64|bool|string)\b`)
)

// typeWord names a type of expr's messages in a rule author's words.
func typeWord(t string) string {
	switch t = strings.TrimSpace(t); {
	case t == "float64" || t == "int" || t == "int64" || t == "number":
		return aNumber
	case t == "bool" || t == "condition":
		return "a condition"
	case t == "string" || t == "text":
		return someText
	case strings.HasPrefix(t, "[]uint8"):
		return "bytes"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a map"
	case t == "time.Time":
		return "a time"
	case t == "time.Duration":
		return "a duration"
	case t == "interface {}":
		return "a value whose type depends on a condition (?: with a number on one side and text on the other)"
	case t == "unknown" || t == "nil":
		return "nil"
	}
	return "a value of another kind"
}

// plainMessage rewrites a message of expr's parser or checker in a rule
// author's words.
func plainMessage(msg string) string {
	msg = strings.TrimSpace(msg)
	if m := reMismatch2.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s does not work on %s and %s", m[1], typeWord(m[2]), typeWord(m[3]))
	}
	if m := reMismatch1.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s does not work on %s", m[1], typeWord(m[2]))
	}
	if m := reNonBoolCond.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("expected a condition (true or false) before ?, but got %s", typeWord(m[1]))
	}
	if m := reInArray.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("in looks for %s in a list of %s", typeWord(m[1]), strings.TrimPrefix(typeWord(m[2]), "a ")+"s")
	}
	if m := reBadArg.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s takes numbers, not %s", m[1], typeWord(m[2]))
	}
	if m := reBadArgCall.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s takes numbers, not %s", m[3], typeWord(m[1]))
	}
	if m := reExpected.FindStringSubmatch(msg); m != nil {
		want := aNumber
		if m[1] == "bool" {
			want = aCondition
		}
		return fmt.Sprintf("expected %s, but got %s", want, typeWord(m[2]))
	}
	if m := reArgCount.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("this function takes %s, not %s", plural(m[1], "argument"), m[2])
	}
	if m := reLiteral.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("the number %s cannot be read: %s", m[1], m[2])
	}
	if msg == "literal not terminated" {
		return `text not terminated: a closing quote is missing`
	}
	if msg == `unexpected token Operator("=")` {
		return `unexpected "=": write == to compare`
	}
	msg = reToken.ReplaceAllStringFunc(msg, func(t string) string {
		m := reToken.FindStringSubmatch(t)
		switch {
		case m[2] != "":
			return `"` + m[2] + `"`
		case m[1] == "EOF":
			return "end of expression"
		case m[1] == "String":
			return `""`
		}
		return strings.ToLower(m[1])
	})
	return reGoType.ReplaceAllStringFunc(msg, typeWord)
}

func plural(n, word string) string {
	if n == "1" {
		return n + " " + word
	}
	return n + " " + word + "s"
}
