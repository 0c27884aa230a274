package engine

import (
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/lifeline-hq/lifeline/rules"
)

// Traits: a customer's values of the pack's declared traits (rules.Trait),
// kept in its state by name, so that a reload that adds, removes or
// reorders traits keeps every value it still declares.
//
// In memory, once the engine has touched a customer under the current
// pack, State.Traits holds one value per pack trait in the pack's order
// and State.TraitNames is the pack's own name slice (shared, read-only):
// evaluation then points Vars.Traits at State.Traits and costs nothing.
// A state decoded from the store holds only the values it had, under
// their names; alignTraits lays them out in the pack's order on first use,
// dropping those the pack no longer declares (or declares with another
// type).

// sameNames reports whether a and b name the same traits in the same
// order; the common case, a state already aligned to this pack, is the
// same backing array.
func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// alignTraits lays st's trait values out in pack's trait order.
func (p *Partition) alignTraits(st *State) {
	names := p.pack.TraitNames()
	if sameNames(st.TraitNames, names) && len(st.Traits) == len(names) {
		st.TraitNames = names
		return
	}
	scratch := alignedTraits(p.pack, st, p.eval.traits[:0])
	p.eval.traits = scratch
	st.Traits = append(st.Traits[:0], scratch...)
	st.TraitNames = names
}

// alignedTraits appends to dst st's value of each of pack's traits, in
// the pack's order (absent when st has none of that name and type).
func alignedTraits(pack *rules.Pack, st *State, dst []rules.TraitValue) []rules.TraitValue {
	for i := range pack.Traits {
		t := &pack.Traits[i]
		var v rules.TraitValue
		for j, name := range st.TraitNames {
			if name == t.Name && j < len(st.Traits) && st.Traits[j].Kind == t.Kind {
				v = st.Traits[j]
				break
			}
		}
		dst = append(dst, v)
	}
	return dst
}

// readTraits sets st's traits from an event's traits object (JSON text),
// for each trait of the pack whose path the object holds: a value of the
// trait's type replaces the old one, null removes it, and a value of
// another type that cannot stand for it (an object, a list, "abc" for a
// number) leaves it as it was. st must be aligned. A value equal to the
// one kept costs no allocation.
func (p *Partition) readTraits(st *State, raw string) {
	root, err := p.eval.traitParser.Parse(raw)
	if err != nil {
		return // the decoder wrote it from parsed JSON: not reached
	}
	for i := range p.pack.Traits {
		t := &p.pack.Traits[i]
		x := root.Get(t.Path...)
		if x == nil {
			continue
		}
		cur := &st.Traits[i]
		switch x.Type() {
		case fastjson.TypeNull:
			*cur = rules.TraitValue{}
		case fastjson.TypeString:
			b := x.GetStringBytes()
			switch t.Kind {
			case rules.TraitString:
				setTraitText(cur, b, t.MaxLen)
			case rules.TraitNumber:
				if f, err := strconv.ParseFloat(string(b), 64); err == nil && validTraitNum(f) {
					*cur = rules.TraitValue{Kind: rules.TraitNumber, Num: f}
				}
			case rules.TraitBool:
				if f, ok := boolText(b); ok {
					*cur = rules.TraitValue{Kind: rules.TraitBool, Num: f}
				}
			}
		case fastjson.TypeNumber:
			f := x.GetFloat64()
			switch t.Kind {
			case rules.TraitNumber:
				if validTraitNum(f) {
					*cur = rules.TraitValue{Kind: rules.TraitNumber, Num: f}
				}
			case rules.TraitString:
				// The number as the JSON wrote it: a plan id 42 reads "42".
				setTraitText(cur, x.MarshalTo(p.eval.traitBuf[:0]), t.MaxLen)
			}
		case fastjson.TypeTrue, fastjson.TypeFalse:
			f := 0.0
			if x.Type() == fastjson.TypeTrue {
				f = 1
			}
			switch t.Kind {
			case rules.TraitBool:
				*cur = rules.TraitValue{Kind: rules.TraitBool, Num: f}
			case rules.TraitString:
				s := "false"
				if f == 1 {
					s = "true"
				}
				setTraitText(cur, []byte(s), t.MaxLen)
			}
		}
	}
}

// setTraitText keeps b, cut to max bytes at a character boundary; it
// copies only when the value changes.
func setTraitText(cur *rules.TraitValue, b []byte, max int) {
	if len(b) > max {
		n := max
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		b = b[:n]
	}
	if cur.Kind == rules.TraitString && cur.Str == string(b) {
		return
	}
	*cur = rules.TraitValue{Kind: rules.TraitString, Str: string(b)}
}

// validTraitNum: a finite number an expression can compare.
func validTraitNum(f float64) bool { return f-f == 0 }

func boolText(b []byte) (float64, bool) {
	switch string(b) {
	case "true", "TRUE", "True":
		return 1, true
	case "false", "FALSE", "False":
		return 0, true
	}
	return 0, false
}

// traitsJSON is a customer's traits for Describe: each declared trait's
// value, or nil when the customer has none.
func traitsJSON(pack *rules.Pack, vals []rules.TraitValue) map[string]any {
	m := make(map[string]any, len(pack.Traits))
	for i, t := range pack.Traits {
		v := vals[i]
		switch v.Kind {
		case rules.TraitString:
			m[t.Name] = v.Str
		case rules.TraitNumber:
			m[t.Name] = v.Num
		case rules.TraitBool:
			m[t.Name] = v.Num != 0
		default:
			m[t.Name] = nil
		}
	}
	return m
}
