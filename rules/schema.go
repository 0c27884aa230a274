package rules

import (
	"bytes"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The YAML schema of a rule pack, as written. rules/README.md is its
// reference; default.yaml is the worked example. Every node keeps its
// position so that errors found after parsing still point at file:line.

type pos struct{ Line, Col int }

func (p *pos) at(n *yaml.Node) { p.Line, p.Col = n.Line, n.Column }

// text is a scalar with its position; for block scalars (| or >) the text
// starts on the line after the indicator.
type text struct {
	pos
	Value  string
	block  bool
	quoted bool
}

func (t *text) UnmarshalYAML(n *yaml.Node) error {
	t.at(n)
	if n.Tag == badTag {
		return nil
	}
	t.block = n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	t.quoted = n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	if t.block {
		t.Line++
	}
	return n.Decode(&t.Value)
}

// at maps a position inside t's value (1-based line and column of the
// value's text) to the file.
func (d *diags) at(t *text, line, col int) (int, int) {
	line, col = max(line, 1), max(col, 1)
	if t.block {
		// Block scalars (| or >): the text starts on the line after the
		// indicator, at that line's indentation.
		// Columns inside the text count from the block's indentation,
		// which its first line shows.
		return t.Line + line - 1, d.firstCol(t.Line) + col - 1
	}
	// Plain and quoted scalars start at the node's column, after the
	// opening quote if any. YAML folds a scalar written over several lines
	// into one: walk the file's lines to find where col falls.
	l, c := t.Line, t.Col
	if t.quoted {
		c++
	}
	if line > 1 {
		return t.Line + line - 1, col
	}
	for {
		rest := d.srcLine(l)
		seg := 0 // characters of the value on this line
		if n := utf8.RuneCount(rest); n >= c {
			seg = utf8.RuneCount(bytes.TrimRight(rest, " \t")) - (c - 1)
		}
		if col <= seg+1 || seg <= 0 || l-t.Line > 100 {
			return l, c + col - 1 // seg+1: the line end, folded into a space
		}
		col -= seg + 1 // the line break folds into one space
		l++
		c = d.firstCol(l)
	}
}

// texts is a list of scalars that may also be written as one scalar.
type texts struct {
	pos
	Items []text
}

func (t *texts) UnmarshalYAML(n *yaml.Node) error {
	t.at(n)
	if n.Tag == badTag {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		var one text
		if err := n.Decode(&one); err != nil {
			return err
		}
		t.Items = []text{one}
		return nil
	}
	return n.Decode(&t.Items)
}

type packDoc struct {
	Version     text                     `yaml:"version"`
	Description string                   `yaml:"description"`
	EventMatch  text                     `yaml:"event_match"`
	Touchpoints map[string]touchpointDoc `yaml:"touchpoints"`
	Stages      texts                    `yaml:"stages"`
	KPIs        kpisDoc                  `yaml:"kpis"`
	Money       moneyDoc                 `yaml:"money"`
	Traits      []traitDoc               `yaml:"traits"`
	Params      map[string]text          `yaml:"params"`
	Transitions []transitionDoc          `yaml:"transitions"`
	Health      healthDoc                `yaml:"health"`
	Alerts      []alertDoc               `yaml:"alerts"`
	Profiles    []profileDoc             `yaml:"profiles"`
}

type touchpointDoc struct {
	pos
	Events texts `yaml:"events"`
	Calls  texts `yaml:"calls"`
	Match  text  `yaml:"match"`
}

func (t *touchpointDoc) UnmarshalYAML(n *yaml.Node) error {
	t.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain touchpointDoc
	return n.Decode((*plain)(t))
}

type transitionDoc struct {
	pos
	Name        text   `yaml:"name"`
	Description string `yaml:"description"`
	From        texts  `yaml:"from"`
	To          text   `yaml:"to"`
	On          texts  `yaml:"on"`
	When        text   `yaml:"when"`
	After       text   `yaml:"after"`
	Since       texts  `yaml:"since"`
}

func (t *transitionDoc) UnmarshalYAML(n *yaml.Node) error {
	t.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain transitionDoc
	return n.Decode((*plain)(t))
}

type healthDoc struct {
	pos
	EmitDelta  *float64       `yaml:"emit_delta"`
	Bands      bandsDoc       `yaml:"bands"`
	Components []componentDoc `yaml:"components"`
}

func (h *healthDoc) UnmarshalYAML(n *yaml.Node) error {
	h.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain healthDoc
	return n.Decode((*plain)(h))
}

type bandsDoc struct {
	pos
	Green  *float64 `yaml:"green"`
	Yellow *float64 `yaml:"yellow"`
}

func (b *bandsDoc) UnmarshalYAML(n *yaml.Node) error {
	b.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain bandsDoc
	return n.Decode((*plain)(b))
}

type componentDoc struct {
	pos
	Name        text   `yaml:"name"`
	Description string `yaml:"description"`
	Weight      text   `yaml:"weight"`
	Score       text   `yaml:"score"`
}

func (c *componentDoc) UnmarshalYAML(n *yaml.Node) error {
	c.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain componentDoc
	return n.Decode((*plain)(c))
}

type alertDoc struct {
	pos
	Name           text   `yaml:"name"`
	Description    string `yaml:"description"`
	Severity       text   `yaml:"severity"`
	Stages         texts  `yaml:"stages"`
	When           text   `yaml:"when"`
	After          text   `yaml:"after"`
	Since          texts  `yaml:"since"`
	Resolve        text   `yaml:"resolve"`
	For            text   `yaml:"for"`
	Cooldown       text   `yaml:"cooldown"`
	Unless         texts  `yaml:"unless"`
	Reasons        texts  `yaml:"reasons"`
	ResolveReasons texts  `yaml:"resolve_reasons"`
}

func (a *alertDoc) UnmarshalYAML(n *yaml.Node) error {
	a.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain alertDoc
	return n.Decode((*plain)(a))
}

type kpisDoc struct {
	pos
	Converted text `yaml:"converted"`
	Churned   text `yaml:"churned"`
}

func (k *kpisDoc) UnmarshalYAML(n *yaml.Node) error {
	k.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain kpisDoc
	return n.Decode((*plain)(k))
}

type moneyDoc struct {
	pos
	Value    texts           `yaml:"value"`
	Currency text            `yaml:"currency"`
	Rates    map[string]text `yaml:"rates"`
}

func (m *moneyDoc) UnmarshalYAML(n *yaml.Node) error {
	m.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain moneyDoc
	return n.Decode((*plain)(m))
}

func (t *traitDoc) UnmarshalYAML(n *yaml.Node) error {
	t.at(n)
	if n.Tag == badTag {
		return nil
	}
	type plain traitDoc
	return n.Decode((*plain)(t))
}
