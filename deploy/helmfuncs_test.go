package deploy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"
)

// helmFuncs returns the functions the chart's templates call, apart from text/template's own
// builtins: exactly those, each with the semantics it has in Helm 3 (Helm's own include,
// required and toYaml; the rest from sprig v3, Helm's function library). renderChart checks
// that the templates call nothing else, and TestHelmFuncs that nothing here goes unused and
// that each function behaves as Helm's does on the values a chart gets. The signatures are
// sprig's, so that text/template converts and rejects arguments as it does under Helm.
//
// include names root: it executes one of root's templates.
func helmFuncs(root *template.Template) template.FuncMap {
	return template.FuncMap{
		// contains SUBSTR S (sprig): whether S contains SUBSTR. The string comes last, so that
		// it can be piped in.
		"contains": func(substr, s string) bool { return strings.Contains(s, substr) },
		// deepCopy V (sprig, copystructure.Copy): an independent copy, so that set and unset on
		// it leave .Values alone. Here for what a chart gets: maps, lists and scalars as Helm
		// decodes values; anything else is an error (sprig's copy panics less often).
		"deepCopy": deepCopyValue,
		// default D V (sprig): V, unless V is missing or empty (nil, false, 0, 0.0, "", an empty
		// list or map), then D. `default "x" 0` is "x": a 0 cannot be set through default.
		"default": func(d any, given ...any) any {
			if len(given) == 0 || isEmpty(given[0]) {
				return d
			}
			return given[0]
		},
		// dict K1 V1 K2 V2 ... (sprig): a new map[string]any; keys formatted as strval does; a
		// key without a value maps to "".
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i < len(kv); i += 2 {
				if i+1 == len(kv) {
					m[strval(kv[i])] = ""
					continue
				}
				m[strval(kv[i])] = kv[i+1]
			}
			return m
		},
		// fail MSG (Helm): stops rendering with the error MSG.
		"fail": func(msg string) (string, error) { return "", errors.New(msg) },
		// include NAME DATA (Helm): the output of template NAME run on DATA, as a string, so
		// that it can be piped (unlike the template action).
		"include": func(name string, data any) (string, error) {
			var buf bytes.Buffer
			err := root.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		// int64 V (sprig, spf13/cast.ToInt64): ints as they are; floats, which every number in
		// .Values is (Helm decodes values through JSON), truncated toward zero; bools 1 or 0;
		// nil 0; strings parsed in base 0 ("12", "0x10", "12.0"); anything else 0, silently.
		"int64": toInt64,
		// join SEP LIST (sprig): the elements formatted as strval does (a float64 million is
		// "1e+06"), nil elements dropped; a non-list is a one-element list, nil an empty one.
		"join": func(sep string, v any) string { return strings.Join(strslice(v), sep) },
		// nindent N S (sprig): a newline, then S with every line (empty ones too) indented by
		// N spaces.
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		// quote V... (sprig): each non-nil argument formatted as strval does, in Go's double
		// quotes, joined by spaces. Not for numbers from .Values: a float64 2000000 quotes as
		// "2e+06", hence `int64 | quote` in the chart.
		"quote": func(vs ...any) string {
			var out []string
			for _, v := range vs {
				if v != nil {
					out = append(out, strconv.Quote(strval(v)))
				}
			}
			return strings.Join(out, " ")
		},
		// replace OLD NEW S (sprig): every OLD in S replaced by NEW.
		"replace": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		// required MSG V (Helm): V, or the error MSG when V is nil or "" (false and 0 pass).
		"required": func(msg string, v any) (any, error) {
			if s, ok := v.(string); v == nil || ok && s == "" {
				return v, errors.New(msg)
			}
			return v, nil
		},
		// set MAP KEY V (sprig): sets KEY in MAP itself and returns MAP.
		"set": func(m map[string]any, key string, v any) map[string]any {
			m[key] = v
			return m
		},
		// sha256sum S (sprig): the SHA-256 of S, in lower-case hex.
		"sha256sum": func(s string) string {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		},
		// toYaml V (Helm, sigs.k8s.io/yaml): V as YAML through JSON (keys sorted), without the
		// final newline; "" when V does not marshal. See helmToYAML for the one difference.
		"toYaml": helmToYAML,
		// trimSuffix SUFFIX S (sprig): S without one trailing SUFFIX. The string comes last.
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		// trunc N S (sprig): the first N bytes of S; for a negative N, the last -N bytes; S
		// itself when it is not longer than that.
		"trunc": func(n int, s string) string {
			switch {
			case n < 0 && len(s)+n > 0:
				return s[len(s)+n:]
			case n >= 0 && len(s) > n:
				return s[:n]
			}
			return s
		},
		// unset MAP KEY (sprig): deletes KEY from MAP itself and returns MAP.
		"unset": func(m map[string]any, key string) map[string]any {
			delete(m, key)
			return m
		},
		// upper S (sprig): S in upper case.
		"upper": strings.ToUpper,
	}
}

// isEmpty is sprig's empty: what default replaces.
func isEmpty(v any) bool {
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Invalid:
		return true
	case reflect.Array, reflect.Slice, reflect.Map, reflect.String:
		return r.Len() == 0
	case reflect.Bool:
		return !r.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return r.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return r.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return r.Float() == 0
	case reflect.Complex64, reflect.Complex128:
		return r.Complex() == 0
	case reflect.Struct:
		return false
	}
	return r.IsNil()
}

// strval is how sprig turns a value into text (quote, join, dict keys).
func strval(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprintf("%v", v)
}

// strslice is sprig's conversion of join's argument to strings.
func strslice(v any) []string {
	if v == nil {
		return []string{}
	}
	if s, ok := v.([]string); ok {
		return s
	}
	r := reflect.ValueOf(v)
	if r.Kind() != reflect.Slice && r.Kind() != reflect.Array {
		return []string{strval(v)}
	}
	out := make([]string, 0, r.Len())
	for i := 0; i < r.Len(); i++ {
		if e := r.Index(i).Interface(); e != nil {
			out = append(out, strval(e))
		}
	}
	return out
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int64:
		return x
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case uint:
		return int64(x)
	case uint64:
		return int64(x)
	case uint32:
		return int64(x)
	case uint16:
		return int64(x)
	case uint8:
		return int64(x)
	case float64:
		return int64(x)
	case float32:
		return int64(x)
	case bool:
		if x {
			return 1
		}
		return 0
	case string:
		// cast drops a zero decimal part ("12.0", "12.") before parsing.
		s := x
		if i := strings.LastIndexByte(s, '.'); i >= 0 && strings.Trim(s[i+1:], "0") == "" {
			s = s[:i]
		}
		n, err := strconv.ParseInt(s, 0, 0)
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}

func deepCopyValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, float64, int, int64:
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := deepCopyValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := deepCopyValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	return nil, fmt.Errorf("deepCopy: %T is not a value Helm hands a chart", v)
}

// templateBuiltins are text/template's predefined functions, which Helm leaves as they are.
var templateBuiltins = map[string]bool{
	"and": true, "call": true, "html": true, "index": true, "slice": true, "js": true, "len": true,
	"not": true, "or": true, "print": true, "printf": true, "println": true, "urlquery": true,
	"eq": true, "ge": true, "gt": true, "le": true, "lt": true, "ne": true,
}

// templateFuncs lists the functions that the template files call, builtins included, each with
// the files that call it. The files are parsed without resolving functions, so that a function
// the test does not define is reported by name rather than as a parse error.
func templateFuncs(files []string) (map[string][]string, error) {
	used := map[string][]string{}
	var walk func(n parse.Node, file string)
	walk = func(n parse.Node, file string) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c, file)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe, file)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c, file)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a, file)
			}
		case *parse.ChainNode:
			walk(n.Node, file)
		case *parse.IdentifierNode:
			if l := used[n.Ident]; len(l) == 0 || l[len(l)-1] != file {
				used[n.Ident] = append(used[n.Ident], file)
			}
		case *parse.IfNode:
			walk(n.Pipe, file)
			walk(n.List, file)
			walk(n.ElseList, file)
		case *parse.RangeNode:
			walk(n.Pipe, file)
			walk(n.List, file)
			walk(n.ElseList, file)
		case *parse.WithNode:
			walk(n.Pipe, file)
			walk(n.List, file)
			walk(n.ElseList, file)
		case *parse.TemplateNode:
			walk(n.Pipe, file)
		}
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		tree := parse.New(filepath.Base(f))
		tree.Mode = parse.SkipFuncCheck
		trees := map[string]*parse.Tree{}
		if _, err := tree.Parse(string(text), "", "", trees); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, tr := range trees {
			walk(tr.Root, filepath.Base(f))
		}
	}
	return used, nil
}

// undefinedFuncs reports the functions the templates call that neither funcs nor text/template
// defines, one line each with the files that call it.
func undefinedFuncs(used map[string][]string, funcs template.FuncMap) []string {
	var out []string
	for name, files := range used {
		if _, ok := funcs[name]; !ok && !templateBuiltins[name] {
			out = append(out, fmt.Sprintf("%s (in %s)", name, strings.Join(files, ", ")))
		}
	}
	sort.Strings(out)
	return out
}

// TestHelmFuncs checks the function map against the chart and against Helm: every function in
// it is called by a template, and each behaves as Helm's on the cases that matter for values
// decoded through JSON (numbers are float64) and for the arguments' order in pipelines.
func TestHelmFuncs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		t.Fatal(err)
	}
	used, err := templateFuncs(files)
	if err != nil {
		t.Fatal(err)
	}
	funcs := helmFuncs(nil)
	if missing := undefinedFuncs(used, funcs); len(missing) > 0 {
		t.Errorf("the chart calls functions helmFuncs does not define: %s", strings.Join(missing, "; "))
	}
	var unused, names []string
	for name := range funcs {
		names = append(names, name)
		if used[name] == nil {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	sort.Strings(names)
	if len(unused) > 0 {
		t.Errorf("helmFuncs defines functions no template calls (remove them): %s", strings.Join(unused, ", "))
	}
	t.Logf("the chart calls %s", strings.Join(names, ", "))

	data := map[string]any{
		"nil":     nil,
		"million": 2e6,
		"zero":    0.0,
		"empty":   []any{},
		"list":    []any{"a", 1.0, nil, 2e6},
		"strings": []string{"x", "y"},
		"map":     map[string]any{"k": "orig", "nested": map[string]any{"x": 1.0}, "l": []any{"a"}},
	}
	for _, tc := range []struct {
		name, tmpl, want, err string
	}{
		{"default of an empty string", `{{ "" | default "d" }}`, "d", ""},
		{"default of 0", `{{ .zero | default "d" }}`, "d", ""},
		{"default of false", `{{ false | default "d" }}`, "d", ""},
		{"default of nil", `{{ .nil | default "d" }}`, "d", ""},
		{"default of an empty list", `{{ .empty | default "d" }}`, "d", ""},
		{"default keeps a value", `{{ "v" | default "d" }} {{ .million | default 1 }}`, "v 2e+06", ""},
		{"trunc", `{{ trunc 3 "abcdef" }} {{ trunc 10 "abc" }} {{ trunc 0 "abc" }}`, "abc abc ", ""},
		{"trunc from the end", `{{ trunc -2 "abcdef" }} {{ trunc -5 "abc" }}`, "ef abc", ""},
		{"trunc of a number", `{{ trunc 3 .million }}`, "", "wrong type"},
		{"trimSuffix, string last", `{{ "a-b--" | trimSuffix "-" }}`, "a-b-", ""},
		{"nindent", `{{ "a\n\nb" | nindent 2 }}`, "\n  a\n  \n  b", ""},
		{"quote", `{{ quote "a\"b" }} {{ quote .nil "x" 8080 true }}`, `"a\"b" "x" "8080" "true"`, ""},
		{"quote of a float from values", `{{ .million | quote }} {{ .million | int64 | quote }}`, `"2e+06" "2000000"`, ""},
		{"sha256sum", `{{ sha256sum "abc" }}`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ""},
		{"int64 of floats", `{{ int64 .million }} {{ int64 1.9 }} {{ int64 -1.9 }}`, "2000000 1 -1", ""},
		{"int64 of strings", `{{ int64 "12" }} {{ int64 "0x10" }} {{ int64 "12.0" }} {{ int64 "x" }}`, "12 16 12 0", ""},
		{"int64 of nil and bool", `{{ int64 .nil }} {{ int64 true }}`, "0 1", ""},
		{"int64 compares with constants", `{{ lt (int64 .zero) 1 }} {{ gt (int64 .million) (int64 12.0) }}`, "true true", ""},
		{"join", `{{ join "," .list }} {{ join "+" .strings }} {{ join "," "one" }} [{{ join "," .nil }}]`, "a,1,2e+06 x+y one []", ""},
		{"contains, string last", `{{ contains "life" "lifeline-a" }} {{ contains "lifeline-a" "life" }}`, "true false", ""},
		{"replace", `{{ "0.1.0+build.1" | replace "+" "_" }}`, "0.1.0_build.1", ""},
		{"upper", `{{ upper "scram-sha-512" }}`, "SCRAM-SHA-512", ""},
		{"dict, set and unset", `{{ $d := dict "a" 1 "b" }}{{ $_ := set $d "c" "x" }}{{ $_ := unset $d "a" }}{{ toYaml $d }}`, "b: \"\"\nc: x", ""},
		{"set returns the map", `{{ (set (dict) "k" "v").k }}`, "v", ""},
		{"deepCopy is independent", `{{ $c := deepCopy .map }}{{ $_ := set $c "k" "new" }}{{ $_ := set $c.nested "x" 2 }}{{ .map.k }} {{ .map.nested.x }} {{ $c.k }} {{ $c.nested.x }}`, "orig 1 new 2", ""},
		{"toYaml", `{{ toYaml (dict "b" 1.5 "a" (dict "c" "x")) }}`, "a:\n  c: x\nb: 1.5", ""},
		{"required passes false and 0", `{{ required "m" false }} {{ required "m" .zero }}`, "false 0", ""},
		{"required of an empty string", `{{ required "x is needed" "" }}`, "", "x is needed"},
		{"required of nil", `{{ required "x is needed" .nil }}`, "", "x is needed"},
		{"fail", `{{ fail "no way" }}`, "", "no way"},
		{"include pipes", `{{ define "t" }}[{{ . }}]{{ end }}{{ include "t" "x" | upper }}`, "[X]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := template.New("root")
			root.Funcs(helmFuncs(root))
			if _, err := root.Parse(tc.tmpl); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			err := root.Execute(&buf, data)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%s: got %q, %v; want an error with %q", tc.tmpl, buf.String(), err, tc.err)
				}
			case err != nil:
				t.Errorf("%s: %v", tc.tmpl, err)
			case buf.String() != tc.want:
				t.Errorf("%s:\n got  %q\n want %q", tc.tmpl, buf.String(), tc.want)
			}
		})
	}
}
