package rules

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Diagnostic is one problem found in a rule pack, at a position in its
// file. Errors make the pack unusable; warnings do not.
type Diagnostic struct {
	File    string
	Line    int // 1-based; 0 when the problem is the file as a whole
	Col     int // 1-based; 0 when unknown
	Warning bool
	Msg     string
}

func (d Diagnostic) String() string {
	kind := "error"
	if d.Warning {
		kind = "warning"
	}
	switch {
	case d.Line == 0:
		return fmt.Sprintf("%s: %s: %s", d.File, kind, d.Msg)
	case d.Col == 0:
		return fmt.Sprintf("%s:%d: %s: %s", d.File, d.Line, kind, d.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", d.File, d.Line, d.Col, kind, d.Msg)
}

// Errors returns the errors of list (the diagnostics that make a pack
// unusable), in list order. It returns nil when there is none.
func Errors(list []Diagnostic) []Diagnostic { return filter(list, false) }

// Warnings returns the warnings of list (likely mistakes that still leave
// a working pack), in list order. It returns nil when there is none.
func Warnings(list []Diagnostic) []Diagnostic { return filter(list, true) }

func filter(list []Diagnostic, warnings bool) []Diagnostic {
	var out []Diagnostic
	for _, d := range list {
		if d.Warning == warnings {
			out = append(out, d)
		}
	}
	return out
}

// InvalidError is returned when a pack has errors; it lists them all, in
// file order, so that an author fixes everything in one pass.
type InvalidError struct {
	Diags []Diagnostic // errors only
}

func (e *InvalidError) Error() string {
	lines := make([]string, len(e.Diags))
	for i, d := range e.Diags {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// diags collects diagnostics while a pack loads.
type diags struct {
	file string
	src  []byte // the pack's text, to place positions inside values
	// lineStarts indexes src: the offset where each line starts (see
	// srcLine).
	lineStarts []int
	list       []Diagnostic
	errors     int          // how many of list are errors
	bad        map[pos]bool // values the shape check reported and emptied
	// visiting holds the YAML nodes the shape check is inside (a cycle
	// guard for aliases).
	visiting map[*yaml.Node]bool
	// ctx bounds the time Parse takes (nil: unbounded); see stopped.
	ctx    context.Context
	polls  int
	halted bool
}

func (d *diags) errorf(line, col int, format string, args ...any) {
	d.errors++
	d.list = append(d.list, Diagnostic{File: d.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (d *diags) warnf(line, col int, format string, args ...any) {
	d.list = append(d.list, Diagnostic{File: d.file, Line: line, Col: col, Warning: true, Msg: fmt.Sprintf(format, args...)})
}

// sorted returns the diagnostics in file order, each once (a value shared
// through a YAML alias is checked, and reported, where it is written).
func (d *diags) sorted() []Diagnostic {
	sort.SliceStable(d.list, func(i, j int) bool {
		a, b := d.list[i], d.list[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	d.list = slices.Compact(d.list)
	d.list = collapseRepeats(d.list)
	return d.list
}

// unknownName finds the name an "unknown stage/category/variable" error is
// about, to report one misspelling once.
var unknownName = regexp.MustCompile(`unknown (stage|touchpoint category|variable|health band|call type) "?\{?([^"\s{}()]+)`)

// collapseRepeats reports a misspelt name once: the errors after the first
// about the same unknown name (a stage misspelt in stages: makes every
// transition that names it right an error) are folded into the first,
// which lists the lines where the name is also written.
func collapseRepeats(list []Diagnostic) []Diagnostic {
	type key struct{ kind, name string }
	first := map[key]int{}
	also := map[int][]int{}
	out := list[:0]
	for _, x := range list {
		if !x.Warning {
			if m := unknownName.FindStringSubmatch(x.Msg); m != nil {
				k := key{m[1], m[2]}
				if i, ok := first[k]; ok {
					also[i] = append(also[i], x.Line)
					continue
				}
				first[k] = len(out)
			}
		}
		out = append(out, x)
	}
	for i, lines := range also {
		ls := make([]string, len(lines))
		for j, l := range lines {
			ls[j] = strconv.Itoa(l)
		}
		where := "line " + ls[0]
		if len(ls) > 1 {
			where = "lines " + strings.Join(ls[:len(ls)-1], ", ") + " and " + ls[len(ls)-1]
		}
		out[i].Msg += fmt.Sprintf(" (the same name is also written at %s)", where)
	}
	return out
}

// errorCount is the number of errors reported so far (a value shared
// through aliases may count more than once): a section compares it before
// and after its own checks to know whether it is broken. It is counted as
// errors come, since every rule of a large pack asks.
func (d *diags) errorCount() int { return d.errors }

// Suggest returns the name of options closest to name, for a "did you
// mean" in a message about a misspelt name, or "" when none is close
// enough (a word cut short, or an edit distance of 1 for names of up to 4
// letters and 2 for longer ones). It is the closeness `rules check` uses,
// for tools that check names against a pack, such as `rules test`.
func Suggest(name string, options []string) string {
	hint := didYouMean(name, options)
	if hint == "" {
		return ""
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(hint, "; did you mean "), "?"))
	if err != nil {
		return ""
	}
	return s
}
