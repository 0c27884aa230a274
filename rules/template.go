package rules

import (
	"strings"
	"unicode/utf8"
)

// Template is a reason text with {variable} placeholders, parsed once per
// load. "{open_tickets} tickets open" renders as "3 tickets open".
type Template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit  string
	kind byte // 0 literal; 'n', 'b', 's': a variable
	idx  int
}

// Render appends the template's text for v to dst.
func (t Template) Render(dst []byte, v *Vars) []byte {
	for _, p := range t.parts {
		switch p.kind {
		case 0:
			dst = append(dst, p.lit...)
		case 'n':
			dst = append(dst, formatNum(v.Num[p.idx])...)
		case 'b':
			if v.Bool[p.idx] {
				dst = append(dst, "true"...)
			} else {
				dst = append(dst, "false"...)
			}
		case 's':
			dst = append(dst, v.Str[p.idx]...)
		case 'S':
			dst = append(dst, v.Traits[p.idx].Str...)
		case 'N':
			dst = append(dst, formatNum(v.Traits[p.idx].Num)...)
		case 'P':
			dst = append(dst, formatNum(v.Params[p.idx])...)
		case 'B':
			if v.Traits[p.idx].Num != 0 {
				dst = append(dst, "true"...)
			} else {
				dst = append(dst, "false"...)
			}
		}
	}
	return dst
}

// String renders the template for v.
func (t Template) String(v *Vars) string { return string(t.Render(nil, v)) }

func compileTemplates(d *diags, vc *vocab, items []text) []Template {
	out := make([]Template, 0, len(items))
	for i := range items {
		t, ok := parseTemplate(d, vc, &items[i])
		if ok {
			out = append(out, t)
		}
	}
	return out
}

func parseTemplate(d *diags, vc *vocab, src *text) (Template, bool) {
	var t Template
	s := src.Value
	ok := true
	for s != "" {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			t.parts = append(t.parts, tmplPart{lit: s})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, tmplPart{lit: s[:open]})
		}
		end := strings.IndexByte(s[open:], '}')
		col := utf8.RuneCountInString(src.Value[:len(src.Value)-len(s)+open]) + 1
		line, c := d.at(src, 1, col)
		if end < 0 {
			d.errorf(line, c, "unclosed { in reason text")
			return t, false
		}
		name := strings.TrimSpace(s[open+1 : open+end])
		kind, idx := vc.lookup(name)
		if kind == 0 {
			names := vc.names()
			d.errorf(line, c, "unknown variable {%s} in reason text (expected one of %s)%s", name, strings.Join(names, ", "), didYouMean(name, names))
			ok = false
		}
		t.parts = append(t.parts, tmplPart{kind: kind, idx: idx})
		s = s[open+end+1:]
	}
	return t, ok
}
