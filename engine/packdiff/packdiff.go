// Package packdiff compares what two rule packs make of the same input:
// the question a rule author asks before shipping a change ("what will
// this do?"). It reads the output records of two replays of one input,
// one per pack, and reports per alert rule, per transition and per stage
// which customers' outcomes differ, with counts and example customer ids.
//
// It is pure: records in, a Report out; running the packs is the
// caller's (`lifeline rules diff` replays the input through the engine
// once per pack).
package packdiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Outcomes is what one pack made of the input, per customer: the alert
// rules that fired for it, the transitions it took and its final stage.
// Add builds it from output records.
type Outcomes struct {
	customers map[string]*outcome
	Records   int64  // output records read
	partial   []byte // Write's unfinished last line
}

type outcome struct {
	stage       string
	alerts      map[string]int // rule: firings
	transitions map[string]int // transition: moves
}

// NewOutcomes returns an empty Outcomes.
func NewOutcomes() *Outcomes { return &Outcomes{customers: map[string]*outcome{}} }

// record is the part of an output record packdiff reads.
type record struct {
	Kind       string `json:"kind"`
	CustomerID string `json:"customer_id"`
	To         string `json:"to"`
	Rule       string `json:"rule"`
	Status     string `json:"status"`
}

// Read adds every record of r, NDJSON output records as `lifeline replay`
// writes them. A line that is not a record is an error naming its number.
func (o *Outcomes) Read(r io.Reader) error {
	if _, err := io.Copy(o, r); err != nil {
		return fmt.Errorf("read output records: %w", err)
	}
	return o.Flush()
}

// Write adds the records of p, NDJSON output records as `lifeline replay`
// writes them, so that a replay can write into Outcomes directly; a line
// cut between two writes is kept for the next. Flush reads a last line
// without its newline.
func (o *Outcomes) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			o.partial = append(o.partial, p...)
			break
		}
		line := p[:i]
		if len(o.partial) > 0 {
			line = append(o.partial, line...)
		}
		if err := o.addLine(line); err != nil {
			return 0, err
		}
		o.partial = o.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// Flush reads the line Write holds, if any.
func (o *Outcomes) Flush() error {
	if len(o.partial) == 0 {
		return nil
	}
	err := o.addLine(o.partial)
	o.partial = nil
	return err
}

func (o *Outcomes) addLine(line []byte) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	var rec record
	if err := json.Unmarshal(line, &rec); err != nil {
		return fmt.Errorf("output record %d is not JSON: %w", o.Records+1, err)
	}
	o.Add(rec.Kind, rec.CustomerID, rec.Rule, rec.To, rec.Status)
	return nil
}

// Add adds one output record's facts: kind (stage, alert, health), the
// customer, the rule (transition or alert rule), the stage moved to and
// the alert status.
func (o *Outcomes) Add(kind, customer, rule, to, status string) {
	o.Records++
	c := o.customers[customer]
	if c == nil {
		c = &outcome{}
		o.customers[customer] = c
	}
	switch kind {
	case "stage":
		c.stage = to
		if c.transitions == nil {
			c.transitions = map[string]int{}
		}
		c.transitions[rule]++
	case "alert":
		if status != "firing" {
			return
		}
		if c.alerts == nil {
			c.alerts = map[string]int{}
		}
		c.alerts[rule]++
	}
}

// Split is how many customers an outcome holds for under the old pack
// only, the new pack only, or both, with a few example ids of each (the
// first in id order).
type Split struct {
	OnlyOld Group `json:"only_old"`
	OnlyNew Group `json:"only_new"`
	Both    Group `json:"both"`
}

// Group is a number of customers and a few of their ids.
type Group struct {
	Count    int      `json:"count"`
	Examples []string `json:"examples"`
}

// Changed tells whether the split has customers on one side only.
func (s Split) Changed() bool { return s.OnlyOld.Count > 0 || s.OnlyNew.Count > 0 }

// RuleDiff is one alert rule or transition, by name.
type RuleDiff struct {
	Name string `json:"name"`
	// Firings (alerts) or moves (transitions) in all, per pack.
	OldTimes int `json:"old_times"`
	NewTimes int `json:"new_times"`
	Split
}

// StageCount is how many customers end in a stage under each pack.
type StageCount struct {
	Stage string `json:"stage"` // "" for customers who never entered a stage
	Old   int    `json:"old"`
	New   int    `json:"new"`
}

// StageChange is a final stage that differs: customers who end in From
// under the old pack and in To under the new one.
type StageChange struct {
	From string `json:"from"`
	To   string `json:"to"`
	Group
}

// Report is the comparison of two packs' outcomes.
type Report struct {
	Customers int `json:"customers"` // seen by either pack
	// Changed is how many customers have any outcome that differs: an
	// alert rule fired under one pack only, a transition taken under one
	// only, or another final stage.
	Changed      int           `json:"changed"`
	Alerts       []RuleDiff    `json:"alerts"`
	Transitions  []RuleDiff    `json:"transitions"`
	Stages       []StageCount  `json:"stages"`
	StageChanges []StageChange `json:"stage_changes"`
}

// Compare compares the outcomes of the old and the new pack, keeping up
// to examples customer ids per group. Rules and stages come in name
// order, stage changes by how many customers they move (most first).
func Compare(old, new *Outcomes, examples int) Report {
	ids := make([]string, 0, len(old.customers))
	for id := range old.customers {
		ids = append(ids, id)
	}
	for id := range new.customers {
		if old.customers[id] == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	empty := &outcome{}
	get := func(o *Outcomes, id string) *outcome {
		if c := o.customers[id]; c != nil {
			return c
		}
		return empty
	}
	add := func(g *Group, id string) {
		g.Count++
		if len(g.Examples) < examples {
			g.Examples = append(g.Examples, id)
		}
	}
	rep := Report{Customers: len(ids)}
	alerts, trans := map[string]*RuleDiff{}, map[string]*RuleDiff{}
	stages := map[string]*StageCount{}
	changes := map[[2]string]*StageChange{}
	split := func(m map[string]*RuleDiff, id string, a, b map[string]int) bool {
		changed := false
		for name, n := range a {
			d := ruleDiff(m, name)
			d.OldTimes += n
			if b[name] > 0 {
				add(&d.Both, id)
			} else {
				add(&d.OnlyOld, id)
				changed = true
			}
		}
		for name, n := range b {
			d := ruleDiff(m, name)
			d.NewTimes += n
			if a[name] == 0 {
				add(&d.OnlyNew, id)
				changed = true
			}
		}
		return changed
	}
	for _, id := range ids {
		a, b := get(old, id), get(new, id)
		changed := split(alerts, id, a.alerts, b.alerts)
		changed = split(trans, id, a.transitions, b.transitions) || changed
		stageCount(stages, a.stage).Old++
		stageCount(stages, b.stage).New++
		if a.stage != b.stage {
			changed = true
			k := [2]string{a.stage, b.stage}
			if changes[k] == nil {
				changes[k] = &StageChange{From: a.stage, To: b.stage}
			}
			add(&changes[k].Group, id)
		}
		if changed {
			rep.Changed++
		}
	}
	rep.Alerts = sortedDiffs(alerts)
	rep.Transitions = sortedDiffs(trans)
	for _, s := range stages {
		rep.Stages = append(rep.Stages, *s)
	}
	slices.SortFunc(rep.Stages, func(a, b StageCount) int { return strings.Compare(a.Stage, b.Stage) })
	for _, c := range changes {
		rep.StageChanges = append(rep.StageChanges, *c)
	}
	slices.SortFunc(rep.StageChanges, func(a, b StageChange) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if a.From != b.From {
			return strings.Compare(a.From, b.From)
		}
		return strings.Compare(a.To, b.To)
	})
	return rep
}

func ruleDiff(m map[string]*RuleDiff, name string) *RuleDiff {
	d := m[name]
	if d == nil {
		d = &RuleDiff{Name: name}
		m[name] = d
	}
	return d
}

func stageCount(m map[string]*StageCount, stage string) *StageCount {
	s := m[stage]
	if s == nil {
		s = &StageCount{Stage: stage}
		m[stage] = s
	}
	return s
}

func sortedDiffs(m map[string]*RuleDiff) []RuleDiff {
	out := make([]RuleDiff, 0, len(m))
	for _, d := range m {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b RuleDiff) int { return strings.Compare(a.Name, b.Name) })
	return out
}
