package config

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A config file holds secrets (sasl.password), and a secret typed on the
// wrong line lands in a key of another type. yaml.v3 words such a mistake
// with the value's first characters ("cannot unmarshal !!str `hunter2...`
// into int32"), and an error is logged and shown: the config's errors
// never echo a value of the wrong type. They name the key, its line and
// what it expects instead.

// reTypeError is yaml.v3's message for a value of the wrong type.
var reTypeError = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `.*`)? into (\\S+)$")

// reLine is the "line N: " yaml.v3 puts before its messages.
var reLine = regexp.MustCompile(`^line (\d+): `)

// slot is where a key of the config is written.
type slot struct {
	key  string // dotted path, e.g. sasl.password
	node *yaml.Node
	typ  reflect.Type
}

// slots lists the keys written in the document at root, with the Go type
// each decodes into.
func slots(root *yaml.Node) []slot {
	var out []slot
	var walk func(n *yaml.Node, t reflect.Type, key string)
	walk = func(n *yaml.Node, t reflect.Type, key string) {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) > 0:
			walk(n.Content[0], t, key)
		case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
			for i := 0; i+1 < len(n.Content); i += 2 {
				name := n.Content[i].Value
				f, ok := fieldByTag(t, name)
				if !ok {
					continue
				}
				k := name
				if key != "" {
					k = key + "." + name
				}
				v := n.Content[i+1]
				out = append(out, slot{key: k, node: v, typ: f.Type})
				walk(v, f.Type, k)
			}
		case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
			for i, c := range n.Content {
				k := key + "[" + strconv.Itoa(i) + "]"
				out = append(out, slot{key: k, node: c, typ: t.Elem()})
			}
		}
	}
	walk(root, reflect.TypeOf(Config{}), "")
	return out
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// plainDecodeError rewords one of yaml.v3's decoding messages ("line N:
// ...") for the config at root: the key it is about, and for a value of
// the wrong type what the key expects and what kind of value it found,
// never the value. yaml.v3 reports in file order; used holds the keys
// named by earlier messages, so that two mistakes on one line (in a
// {flow: mapping}) each get their own key.
func plainDecodeError(root *yaml.Node, msg string, used map[*yaml.Node]bool) string {
	m := reTypeError.FindStringSubmatch(msg)
	if m == nil {
		// A message of the config's own (a bad duration): it says what is
		// wrong already; add the key written on that line.
		if lm := reLine.FindStringSubmatch(msg); lm != nil && strings.Contains(msg, "duration") {
			line, _ := strconv.Atoi(lm[1])
			if s := slotAt(root, line, used, func(s slot) bool { return s.typ == reflect.TypeOf(Duration(0)) }); s != nil {
				return "line " + lm[1] + ": " + s.key + ": " + strings.TrimPrefix(msg, lm[0])
			}
		}
		return msg
	}
	line, _ := strconv.Atoi(m[1])
	tag, into := m[2], m[3]
	s := slotAt(root, line, used, func(s slot) bool { return s.typ.String() == into && tagOf(s.node) == tag })
	key := "a key"
	want := expected(into, nil)
	if s != nil {
		key = s.key
		want = expected(into, s.typ)
	}
	return "line " + m[1] + ": " + key + ": expected " + want + ", found " + found(tag)
}

// slotAt returns the first key written on line, not yet used, that ok
// accepts, and marks it used.
func slotAt(root *yaml.Node, line int, used map[*yaml.Node]bool, ok func(slot) bool) *slot {
	for _, s := range slots(root) {
		if s.node.Line == line && !used[s.node] && ok(s) {
			used[s.node] = true
			return &s
		}
	}
	return nil
}

func tagOf(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.ShortTag()
}

// expected says what a key of Go type into (t when known) takes.
func expected(into string, t reflect.Type) string {
	if t == reflect.TypeOf(Duration(0)) {
		return "a duration such as 30s, 10m or 2d"
	}
	switch {
	case strings.HasPrefix(into, "[]"):
		return "a list such as [a, b]"
	case strings.HasPrefix(into, "int"), strings.HasPrefix(into, "uint"):
		return "a whole number"
	case into == "bool":
		return "true or false"
	case into == "string":
		return "a single value"
	case t != nil && t.Kind() == reflect.Struct, strings.HasPrefix(into, "config."):
		return "a section of key: value pairs"
	}
	return "a value of another type"
}

// found says what kind of value a YAML tag is, without the value.
func found(tag string) string {
	switch tag {
	case "!!map":
		return "a section of key: value pairs"
	case "!!seq":
		return "a list"
	case "!!str":
		return "text"
	case "!!int":
		return "a whole number (out of range here)"
	case "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	case "!!null":
		return "nothing"
	}
	return "a value of another type"
}
