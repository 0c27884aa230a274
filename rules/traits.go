package rules

import (
	"fmt"
	"slices"
	"strings"
)

// Traits are what a pack keeps of a customer's identify and group calls
// (and of a track call's context.traits): plan, seats, mrr, csm_owner.
// The pack declares each one, with its type, so that a customer's state
// holds at most MaxTraits bounded values whatever its events carry; each
// is then a variable of its name in every expression and reason text.

// MaxTraits bounds how many traits a pack declares: each is a value in
// every customer's state.
const MaxTraits = 32

// DefaultTraitMaxLen is how many bytes of a text trait are kept unless
// the trait's max_len says otherwise; MaxTraitLen bounds max_len.
const (
	DefaultTraitMaxLen = 64
	MaxTraitLen        = 1024
)

// HasTraitFunc is the function that tells whether a customer has a value
// for a trait: has_trait("plan").
const HasTraitFunc = "has_trait"

// TraitKind is a trait's type; the zero value, TraitAbsent, marks a
// trait the customer has no value for.
type TraitKind uint8

// The trait types.
const (
	TraitAbsent TraitKind = iota
	TraitString
	TraitNumber
	TraitBool
)

var traitKindNames = [...]string{TraitAbsent: "", TraitString: "string", TraitNumber: "number", TraitBool: "bool"}

// String returns the kind's name as a pack writes it.
func (k TraitKind) String() string {
	if int(k) < len(traitKindNames) {
		return traitKindNames[k]
	}
	return fmt.Sprintf("TraitKind(%d)", k)
}

// Trait is one declared trait.
type Trait struct {
	Name string
	Kind TraitKind
	// Path is where the value is inside the traits object, one key per
	// element: the pack's path without its leading "traits." ("plan"
	// for traits.plan, ["company", "plan"] for traits.company.plan).
	Path []string
	// MaxLen: a text value is cut to this many bytes (at a character
	// boundary). Numbers and bools have none.
	MaxLen int
}

// TraitValue is one trait's value for a customer. A number is in Num; a
// bool is Num 1 or 0; a text is in Str. Kind is TraitAbsent when the
// customer has none: expressions then read "", 0 or false.
type TraitValue struct {
	Kind TraitKind
	Str  string
	Num  float64
}

// vocab is the set of names an expression of one pack may read: the
// built-in variables and the pack's traits. A nil vocab has the built-in
// ones only.
type vocab struct {
	traits []Trait
	params []Param // profiles.go
}

// lookup finds a variable by name: kind is 'n', 'b' or 's' for a built-in
// variable (idx into Vars.Num, Bool or Str), 'N', 'B' or 'S' for a trait
// of that type (idx into Vars.Traits), or 0 when unknown.
func (vc *vocab) lookup(name string) (kind byte, idx int) {
	if kind, idx = lookupVar(name); kind != 0 || vc == nil {
		return kind, idx
	}
	for i := range vc.traits {
		if vc.traits[i].Name == name {
			switch vc.traits[i].Kind {
			case TraitNumber:
				return 'N', i
			case TraitBool:
				return 'B', i
			default:
				return 'S', i
			}
		}
	}
	if i := vc.param(name); i >= 0 {
		return 'P', i // a param: a number, Vars.Params[i]
	}
	return 0, 0
}

// names lists every variable, the traits after the built-in ones.
func (vc *vocab) names() []string {
	names := VarNames()
	if vc != nil {
		for _, t := range vc.traits {
			names = append(names, t.Name)
		}
		for _, pm := range vc.params {
			names = append(names, pm.Name)
		}
	}
	return names
}

// trait returns the index of the trait named name, or -1.
func (vc *vocab) trait(name string) int {
	if vc == nil {
		return -1
	}
	for i := range vc.traits {
		if vc.traits[i].Name == name {
			return i
		}
	}
	return -1
}

func (vc *vocab) traitNames() []string {
	if vc == nil {
		return nil
	}
	names := make([]string, len(vc.traits))
	for i, t := range vc.traits {
		names[i] = t.Name
	}
	return names
}

// TraitNames returns the pack's trait names in declaration order, the
// order of Vars.Traits. The slice is the pack's own, the same at every
// call: callers must not modify it.
func (p *Pack) TraitNames() []string { return p.traitNames }

func (p *Pack) vocab() *vocab { return &vocab{traits: p.Traits, params: p.Params} }

type traitDoc struct {
	pos
	Name   text `yaml:"name"`
	Type   text `yaml:"type"`
	Path   text `yaml:"path"`
	MaxLen text `yaml:"max_len"`
}

// reservedNames may not name a trait: an expression could not tell the
// trait from the function.
var reservedNames = []string{HasTraitFunc, "true", "false", "nil", "not", "and", "or", "in"}

// compileTraits reads the traits section: names that clash with no
// variable, a type each, a path inside the traits object, a length
// bound for texts.
func compileTraits(d *diags, p *Pack, c *compiled, docs []traitDoc) {
	if len(docs) > MaxTraits {
		at := c.top("traits")
		d.errorf(at.Line, at.Col, "traits: %d declared, at most %d: each is kept in every customer's state; keep the ones rules read", len(docs), MaxTraits)
		return
	}
	seen := map[string]int{}
	builtins := append(VarNames(), functions...)
	for i := range docs {
		td := &docs[i]
		what := fmt.Sprintf("trait %d", i+1)
		name := td.Name.Value
		ok := true
		switch {
		case name == "":
			checkRuleName(d, what, td.pos, td.Name, seen)
			ok = false
		case !validName(name):
			d.errorf(td.Name.Line, td.Name.Col, "trait name %q: use lower-case letters, digits and _ (it is a variable in expressions)", name)
			ok = false
		case slices.Contains(builtins, name) || slices.Contains(reservedNames, name):
			d.errorf(td.Name.Line, td.Name.Col, "trait name %q is taken by a built-in variable or function; name the trait otherwise (say %s), and set path: traits.%s to keep reading that key", name, "trait_"+name, name)
			ok = false
		default:
			if prev, dup := seen[name]; dup {
				d.errorf(td.Name.Line, td.Name.Col, "trait %q is declared twice (first at line %d)", name, prev)
				ok = false
			}
			seen[name] = td.Name.Line
		}
		t := Trait{Name: name, MaxLen: DefaultTraitMaxLen}
		switch td.Type.Value {
		case "string":
			t.Kind = TraitString
		case "number":
			t.Kind = TraitNumber
		case "bool":
			t.Kind = TraitBool
		case "":
			if !d.wasBad(td.Type.pos) {
				d.errorf(td.Line, td.Col, "trait %q: type is required: string, number or bool", name)
			}
			ok = false
		default:
			d.errorf(td.Type.Line, td.Type.Col, "trait %q: unknown type %q (expected string, number or bool)%s", name, td.Type.Value, didYouMean(td.Type.Value, []string{"string", "number", "bool"}))
			ok = false
		}
		// A path or max_len mistake keeps the trait, so that expressions
		// reading it report nothing more.
		path := td.Path.Value
		if path == "" {
			path = "traits." + name
		}
		if rest, found := strings.CutPrefix(path, "traits."); !found || rest == "" || slices.Contains(strings.Split(rest, "."), "") {
			at := td.Path.pos
			d.errorf(at.Line, at.Col, "trait %q: path %q must be traits. and a key inside the traits object, like traits.%s or traits.company.plan", name, path, name)
		} else {
			t.Path = strings.Split(rest, ".")
		}
		if td.MaxLen.Value != "" {
			n, err := parseCount(td.MaxLen.Value)
			switch {
			case t.Kind != TraitString && t.Kind != TraitAbsent:
				d.errorf(td.MaxLen.Line, td.MaxLen.Col, "trait %q: max_len is for string traits; a %s has none (remove it)", name, t.Kind)
			case err != nil || n < 1 || n > MaxTraitLen:
				d.errorf(td.MaxLen.Line, td.MaxLen.Col, "trait %q: max_len %q must be a whole number of bytes from 1 to %d", name, td.MaxLen.Value, MaxTraitLen)
			default:
				t.MaxLen = n
			}
		}
		if ok {
			p.Traits = append(p.Traits, t)
			p.traitNames = append(p.traitNames, t.Name)
		}
	}
}

// parseCount reads a whole decimal number without sign.
func parseCount(s string) (int, error) {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' || n > 1<<20 {
			return 0, fmt.Errorf("not a whole number: %q", s)
		}
		n = n*10 + int(r-'0')
	}
	return n, nil
}
