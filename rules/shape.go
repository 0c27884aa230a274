package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Reading a pack's YAML happens in three steps, so that every mistake is
// reported at once and at its place:
//
//  1. yaml.v3 parses the text into a node tree (a syntax error stops here:
//     nothing after it can be trusted);
//  2. the shape check walks that tree against the schema (schema.go) and
//     reports, at the key or value itself, every key the schema does not
//     know and every value of the wrong kind;
//  3. the tree is decoded into the schema structs.
//
// Step 2 exists because yaml.v3's strict mode cannot do it for us: its
// KnownFields option does not reach into types with their own
// UnmarshalYAML (every section here has one, to keep positions), so a
// misspelt key such as `whn:` inside a transition would be silently
// ignored; and its messages name Go types and give no column.

var (
	textType    = reflect.TypeOf(text{})
	textsType   = reflect.TypeOf(texts{})
	packDocType = reflect.TypeOf(packDoc{})
)

// sectionNames names each schema struct in messages.
var sectionNames = map[reflect.Type]string{
	packDocType:                     "the rule pack",
	reflect.TypeOf(touchpointDoc{}): "a touchpoint category",
	reflect.TypeOf(transitionDoc{}): "a transition",
	reflect.TypeOf(healthDoc{}):     "health",
	reflect.TypeOf(bandsDoc{}):      "health bands",
	reflect.TypeOf(componentDoc{}):  "a health component",
	reflect.TypeOf(alertDoc{}):      "an alert",
	reflect.TypeOf(kpisDoc{}):       "kpis",
	reflect.TypeOf(moneyDoc{}):      "money",
	reflect.TypeOf(traitDoc{}):      "a trait",

	// profiles.go
	reflect.TypeOf(profileDoc{}):       "a profile",
	reflect.TypeOf(profileHealthDoc{}): "a profile's health",
	reflect.TypeOf(profileAlertDoc{}):  "a profile's alert",
}

// decodeDoc parses data into doc, reporting every problem to d. It returns
// false when the text is not a YAML mapping at all (nothing to compile).
// keys receives the position of each top-level key.
func decodeDoc(d *diags, data []byte, doc *packDoc, keys map[string]pos) (ok bool) {
	// yaml.v3 panics on a few malformed inputs (a mapping used as a key
	// inside a merge, for one). A pack is user input, and a reload must
	// never take the process down: turn a panic into a diagnostic.
	defer func() {
		if r := recover(); r != nil {
			// The panic's text speaks of the library's internals: say
			// instead what triggers it and what to do.
			d.errorf(1, 1, "YAML: this file cannot be read: the YAML library failed on it, which unusual anchors (&), aliases (*) or merges (<<) can cause; write those sections out")
			ok = false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(1, 1, "the file is empty: a rule pack needs at least touchpoints, stages, transitions and health (see rules/README.md)")
			return false
		}
		syntaxError(d, err)
		return false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		d.errorf(extra.Line, extra.Column, "a rule pack is one YAML document, but another one starts here (remove the --- line)")
	case !errors.Is(err, io.EOF):
		syntaxError(d, err)
		return false
	}
	if !d.checkAliases(&root) || d.stopped() {
		return false
	}
	top := &root
	if top.Kind == yaml.DocumentNode {
		if len(top.Content) == 0 {
			d.errorf(1, 1, "the file is empty: a rule pack needs at least touchpoints, stages, transitions and health (see rules/README.md)")
			return false
		}
		top = top.Content[0]
	}
	top = unalias(top)
	if isNull(top) {
		d.errorf(top.Line, top.Column, "the file is empty: a rule pack needs at least touchpoints, stages, transitions and health (see rules/README.md)")
		return false
	}
	if top.Kind != yaml.MappingNode {
		d.errorf(top.Line, top.Column, "expected a rule pack (keys version, description, event_match, touchpoints, stages, kpis, money, traits, params, transitions, health, alerts, profiles), found %s", kindName(top))
		return false
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], unalias(top.Content[i+1])
		if _, dup := keys[k.Value]; dup {
			continue
		}
		keys[k.Value] = pos{k.Line, k.Column}
		if (k.Value == "touchpoints" || k.Value == "kpis") && v.Kind == yaml.MappingNode {
			// Category names are keys, and a kpis key left empty still
			// says something: remember where each is written.
			for j := 0; j+1 < len(v.Content); j += 2 {
				if _, dup := keys[k.Value+"/"+v.Content[j].Value]; !dup {
					keys[k.Value+"/"+v.Content[j].Value] = pos{v.Content[j].Line, v.Content[j].Column}
				}
			}
		}
	}
	d.shape(top, packDocType, "")
	if d.stopped() {
		return false
	}
	if err := top.Decode(doc); err != nil {
		// The shape check has reported these in plain words already;
		// keep only what it missed, on lines it said nothing about.
		reported := map[int]bool{}
		for _, x := range d.list {
			reported[x.Line] = true
		}
		var te *yaml.TypeError
		msgs := []string{err.Error()}
		if errors.As(err, &te) {
			msgs = te.Errors
		}
		for _, m := range msgs {
			line, msg := splitYAMLError(m)
			if line == 0 {
				line = top.Line
			}
			if !reported[line] && !strings.Contains(msg, badTag) {
				d.errorf(line, d.firstCol(line), "%s", plainYAML(msg))
			}
		}
		if te == nil {
			// Not a type error: decoding stopped, and what it left
			// cannot be compiled.
			if d.errorCount() == 0 {
				d.errorf(top.Line, top.Column, "%v", err)
			}
			return false
		}
	}
	return true
}

// reUnmarshal is yaml.v3's message for a value of the wrong kind, which
// names the Go type it decodes into.
var reUnmarshal = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")

// plainYAML words a yaml.v3 decoding message for a rule author. The shape
// check reports every value of the wrong kind first, in its own words;
// this covers what it might miss.
func plainYAML(msg string) string {
	m := reUnmarshal.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	found := "the value " + strconv.Quote(m[2])
	switch m[1] {
	case "!!seq":
		found = "a list"
	case "!!map":
		found = "a section of key: value pairs"
	}
	want := "a single value"
	switch t := strings.TrimPrefix(m[3], "*"); {
	case strings.HasPrefix(t, "[]"):
		want = "a list"
	case strings.HasPrefix(t, "map[") || strings.HasSuffix(t, "Doc"):
		want = "a section of key: value pairs"
	case strings.HasPrefix(t, "float") || strings.HasPrefix(t, "int"):
		want = "a number"
	}
	return fmt.Sprintf("expected %s, found %s", want, found)
}

// enter marks n as being checked; it reports and refuses a node already
// being checked, which only a YAML alias to a section that contains it
// (`&a {<<: *a}`) can cause.
func (d *diags) enter(n *yaml.Node) bool {
	if d.visiting[n] {
		d.errorf(n.Line, n.Column, "this YAML anchor is used inside itself (an alias or << refers to the section that contains it)")
		return false
	}
	if d.visiting == nil {
		d.visiting = map[*yaml.Node]bool{}
	}
	d.visiting[n] = true
	return true
}

// scalarKey returns key k as a single value (an alias used as a key: the
// value it stands for), or reports it and returns nil: the caller drops
// the pair.
func (d *diags) scalarKey(k *yaml.Node) *yaml.Node {
	if u := unalias(k); u.Kind == yaml.ScalarNode {
		return u
	}
	d.errorf(k.Line, k.Column, "a key must be a single word or value, found %s", kindName(unalias(k)))
	return nil
}

// mergeTargets returns the mappings a YAML merge key (<<) merges in. It
// reports each value that is not a mapping, and then returns false and a
// sequence of the valid ones, to merge instead.
func (d *diags) mergeTargets(v *yaml.Node) ([]*yaml.Node, *yaml.Node) {
	v = unalias(v)
	merged := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		merged = v.Content
	}
	var out []*yaml.Node
	bad := false
	for _, m := range merged {
		if m = unalias(m); m.Kind != yaml.MappingNode {
			d.errorf(m.Line, m.Column, "<< (a YAML merge) takes a section of key: value pairs or a list of them, found %s", kindName(m))
			bad = true
			continue
		}
		out = append(out, m)
	}
	if !bad {
		return out, nil
	}
	return out, &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: out, Line: v.Line, Column: v.Column}
}

// syntaxError reports a yaml.v3 parse error. yaml.v3 gives a line but no
// column: the diagnostic points at the first character of that line.
func syntaxError(d *diags, err error) {
	line, msg := splitYAMLError(err.Error())
	if line == 0 {
		line = 1
	}
	d.errorf(line, d.firstCol(line), "YAML syntax: %s", msg)
}

// splitYAMLError splits yaml.v3's "yaml: line 12: msg" into 12 and msg.
func splitYAMLError(m string) (int, string) {
	m = strings.TrimPrefix(m, "yaml: ")
	if rest, ok := strings.CutPrefix(m, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				return n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return 0, m
}

// firstCol is the column of the first non-blank character of line (1 when
// the line is blank or out of range).
func (d *diags) firstCol(line int) int {
	l := d.srcLine(line)
	n := len(l) - len(bytes.TrimLeft(l, " \t"))
	if n == len(l) {
		return 1
	}
	return utf8.RuneCount(l[:n]) + 1
}

// srcLine returns line (1-based) of the pack's text, without its newline.
// The first call indexes where each line starts, so that placing every
// diagnostic of a large pack costs no more than reading it once.
func (d *diags) srcLine(line int) []byte {
	if d.lineStarts == nil {
		d.lineStarts = []int{0}
		for i, c := range d.src {
			if c == '\n' {
				d.lineStarts = append(d.lineStarts, i+1)
			}
		}
	}
	if line < 1 || line > len(d.lineStarts) {
		return nil
	}
	l := d.src[d.lineStarts[line-1]:]
	if j := bytes.IndexByte(l, '\n'); j >= 0 {
		l = l[:j]
	}
	return bytes.TrimSuffix(l, []byte("\r"))
}

func unalias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// kindName says what a node is, in a rule author's words.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a section of key: value pairs"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		return fmt.Sprintf("the value %q", v)
	}
	return "something else"
}

// yamlKeys returns the keys a schema struct accepts, in declaration order,
// with their types.
func yamlKeys(t reflect.Type) ([]string, map[string]reflect.Type) {
	var names []string
	types := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		names = append(names, tag)
		types[tag] = f.Type
	}
	return names, types
}

// shape checks node n against schema type t; label names the value in
// messages (its key, or "" for the top).
func (d *diags) shape(n *yaml.Node, t reflect.Type, label string) {
	n = unalias(n)
	if n == nil || isNull(n) || d.stopped() {
		return // an empty value: each section says what it requires
	}
	if !d.enter(n) {
		return
	}
	defer delete(d.visiting, n)
	prefix := ""
	if label != "" {
		prefix = label + ": "
	}
	switch {
	case t == textType || t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.badValue(n, "%sexpected a single value, found %s", prefix, kindName(n))
		}
	case t == textsType:
		switch n.Kind {
		case yaml.ScalarNode:
		case yaml.SequenceNode:
			for _, c := range n.Content {
				c = unalias(c)
				if c.Kind != yaml.ScalarNode {
					d.badValue(c, "%seach item must be a single value, found %s", prefix, kindName(c))
				}
			}
		default:
			d.badValue(n, "%sexpected a list such as [a, b] (or one value), found %s", prefix, kindName(n))
		}
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			d.badValue(n, "%sexpected a number, found %s", prefix, kindName(n))
			n.Tag = "!!null"
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.badValue(n, "%sexpected a list (each item starting with -), found %s", prefix, kindName(n))
			return
		}
		for _, c := range n.Content {
			d.shape(c, t.Elem(), label)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.badValue(n, "%sexpected a section of key: value pairs, found %s", prefix, kindName(n))
			return
		}
		seen := map[string]int{}
		// The pairs that stay, written over n.Content as it is read: a
		// mapping with many bad keys costs its length, not its square.
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := d.scalarKey(n.Content[i]), n.Content[i+1]
			if k == nil {
				continue
			}
			if k.Value == "<<" && k.Tag == "!!merge" {
				targets, repaired := d.mergeTargets(v)
				if repaired != nil {
					v = repaired
				}
				for _, m := range targets {
					d.shape(m, t, label)
				}
				kept = append(kept, k, v)
				continue
			}
			if prev, dup := seen[k.Value]; dup {
				d.errorf(k.Line, k.Column, "%q is set twice in %s (first at line %d)", k.Value, strings.TrimSuffix(prefix, ": "), prev)
				continue
			}
			seen[k.Value] = k.Line
			d.shape(v, t.Elem(), k.Value)
			kept = append(kept, k, v)
		}
		n.Content = kept
	case t.Kind() == reflect.Struct:
		what := sectionNames[t]
		if n.Kind != yaml.MappingNode {
			d.badValue(n, "%sexpected %s (a section of key: value pairs), found %s", prefix, what, kindName(n))
			return
		}
		d.shapeStruct(n, t, what, map[string]int{})
	}
}

func (d *diags) shapeStruct(n *yaml.Node, t reflect.Type, what string, seen map[string]int) {
	names, types := yamlKeys(t)
	// The pairs that stay (see shape).
	kept := n.Content[:0]
	defer func() { n.Content = kept }()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.scalarKey(n.Content[i]), n.Content[i+1]
		if k == nil {
			continue
		}
		if k.Value == "<<" && k.Tag == "!!merge" { // check what it merges in
			targets, repaired := d.mergeTargets(v)
			if repaired != nil {
				v = repaired
			}
			kept = append(kept, k, v)
			for _, m := range targets {
				// Keys written beside << override merged ones: no
				// duplicate between the two.
				if d.enter(m) {
					d.shapeStruct(m, t, what, map[string]int{})
					delete(d.visiting, m)
				}
			}
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errorf(k.Line, k.Column, "key %q is set twice in %s (first at line %d)", k.Value, what, prev)
			continue
		}
		seen[k.Value] = k.Line
		kept = append(kept, k, v)
		ft, ok := types[k.Value]
		if !ok {
			d.errorf(k.Line, k.Column, "unknown key %q in %s (expected one of %s)%s", k.Value, what, strings.Join(names, ", "), didYouMean(k.Value, names))
			continue
		}
		d.shape(v, ft, k.Value)
	}
}

// badValue reports a value of the wrong kind and empties it, so that
// decoding goes on without it and the checks after do not report it again
// as missing (see diags.wasBad).
func (d *diags) badValue(n *yaml.Node, format string, args ...any) {
	d.errorf(n.Line, n.Column, format, args...)
	if d.bad == nil {
		d.bad = map[pos]bool{}
	}
	d.bad[pos{n.Line, n.Column}] = true
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: badTag, Line: n.Line, Column: n.Column}
}

// badTag marks a value the shape check emptied. The schema's unmarshalers
// record its position and decode nothing; a number field gets it as null
// (its default).
const badTag = "!lifeline-bad"

// wasBad tells whether the value at p was reported and emptied by the
// shape check.
func (d *diags) wasBad(p pos) bool { return d.bad[p] }

// didYouMean suggests the option closest to s, when one is close enough
// to be a likely typo ("; did you mean \"when\"?"), else "".
func didYouMean(s string, options []string) string {
	best, bestD := "", 0
	if len(s) >= 3 {
		for _, o := range options {
			if o != s && strings.HasPrefix(o, s) {
				return fmt.Sprintf("; did you mean %q?", o) // a word cut short
			}
		}
	}
	limit := 2
	if len(s) <= 4 {
		limit = 1
	}
	// Names whose lengths differ by more than the limit are further apart
	// than it: skip them without working out the distance (a large pack
	// has many names, and many mentions of them).
	n := utf8.RuneCountInString(s)
	for _, o := range options {
		if m := utf8.RuneCountInString(o); m > n+limit || m < n-limit {
			continue
		}
		dist := editDistance(strings.ToLower(s), strings.ToLower(o))
		if best == "" || dist < bestD {
			best, bestD = o, dist
		}
	}
	if best == "" || bestD > limit || best == s {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours count 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	dist := make([][]int, len(ra)+1)
	for i := range dist {
		dist[i] = make([]int, len(rb)+1)
		dist[i][0] = i
	}
	for j := range dist[0] {
		dist[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			dist[i][j] = min(dist[i-1][j]+1, dist[i][j-1]+1, dist[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				dist[i][j] = min(dist[i][j], dist[i-2][j-2]+1)
			}
		}
	}
	return dist[len(ra)][len(rb)]
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
