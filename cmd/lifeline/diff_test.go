package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/rules"
)

// diffEvents: five customers, each placed to show one thing when
// support-overload fires from 2 open tickets instead of 3 and advocate
// takes an NPS of 8 instead of 9.
func diffEvents() string {
	var b strings.Builder
	n := 0
	ev := func(customer, event string, day int, props string) {
		n++
		fmt.Fprintf(&b, `{"type":"track","event":%q,"userId":%q,"messageId":"m%d","timestamp":"2026-03-%02dT10:00:00Z","properties":{%s}}`+"\n", event, customer, n, day, props)
	}
	for _, c := range []struct {
		id      string
		tickets int
		nps     int // 0: none
	}{{"ann", 3, 0}, {"bob", 2, 0}, {"cat", 1, 0}, {"dan", 0, 8}, {"eve", 0, 9}} {
		ev(c.id, "Order Completed", 1, `"revenue":10`)
		ev(c.id, "Order Completed", 2, `"revenue":10`)
		for i := 0; i < c.tickets; i++ {
			ev(c.id, "Ticket Opened", 3+i, "")
		}
		if c.nps > 0 {
			ev(c.id, "NPS Responded", 6, fmt.Sprintf(`"score":%d`, c.nps))
		}
	}
	return b.String()
}

// group is a number of customers and examples, as the report has them.
type group struct {
	Count    int
	Examples []string
}

// TestRulesDiff: lowering two thresholds moves exactly the customers it
// should: bob gets support-overload (ann had it already, cat still does
// not), dan becomes loyal (eve was already); the report says so per rule
// and per stage, as JSON and as tables.
func TestRulesDiff(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "events.ndjson", diffEvents())
	src := string(rules.DefaultYAML())
	changed := strings.NewReplacer("open_tickets >= 3", "open_tickets >= 2", "nps >= 9", "nps >= 8").Replace(src)
	if changed == src {
		t.Fatal("the default pack no longer has the thresholds this test changes")
	}
	newPack := writeFile(t, dir, "new.yaml", changed)

	code, out := rulesCLI(t, "diff", "default", newPack, "--in", in, "--json", "--examples", "10")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var rep struct {
		Old, New struct {
			File, Version string
		}
		Customers, Changed  int
		Alerts, Transitions []struct {
			Name     string
			OldTimes int   `json:"old_times"`
			NewTimes int   `json:"new_times"`
			OnlyOld  group `json:"only_old"`
			OnlyNew  group `json:"only_new"`
			Both     group
		}
		Stages []struct {
			Stage    string
			Old, New int
		}
		StageChanges []struct {
			From, To string
			Count    int
			Examples []string
		} `json:"stage_changes"`
	}
	js := out[:strings.LastIndex(out, "}")+1]
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("--json output is not the report: %v\n%s", err, out)
	}
	if rep.Old.File != "default" || rep.New.File != newPack || rep.Customers != 5 || rep.Changed != 2 {
		t.Errorf("old %+v, new %+v, %d customers, %d changed; want default vs %s, 5 customers, 2 changed", rep.Old, rep.New, rep.Customers, rep.Changed, newPack)
	}
	type split struct{ onlyOld, onlyNew, both []string }
	ids := func(g group) []string {
		if g.Count != len(g.Examples) {
			t.Errorf("group of %d customers with %d examples %v (--examples 10: all should be shown)", g.Count, len(g.Examples), g.Examples)
		}
		return g.Examples
	}
	got := map[string]split{}
	for _, d := range append(rep.Alerts, rep.Transitions...) {
		got[d.Name] = split{ids(d.OnlyOld), ids(d.OnlyNew), ids(d.Both)}
	}
	for name, want := range map[string]split{
		"support-overload": {nil, []string{"bob"}, []string{"ann"}},
		"advocate":         {nil, []string{"dan"}, []string{"eve"}},
		"repeat-purchase":  {nil, nil, []string{"ann", "bob", "cat", "dan", "eve"}},
	} {
		if !reflect.DeepEqual(got[name], want) {
			t.Errorf("%s: only old %v, only new %v, both %v; want %v, %v, %v", name, got[name].onlyOld, got[name].onlyNew, got[name].both, want.onlyOld, want.onlyNew, want.both)
		}
	}
	if len(rep.StageChanges) != 1 || rep.StageChanges[0].From != "retention" || rep.StageChanges[0].To != "loyalty" || !reflect.DeepEqual(rep.StageChanges[0].Examples, []string{"dan"}) {
		t.Errorf("stage changes %+v, want dan from retention to loyalty only", rep.StageChanges)
	}
	for _, s := range rep.Stages {
		want := map[string][2]int{"retention": {4, 3}, "loyalty": {1, 2}}[s.Stage]
		if [2]int{s.Old, s.New} != want {
			t.Errorf("stage %q: %d customers under old, %d under new; want %v", s.Stage, s.Old, s.New, want)
		}
	}

	// The tables say the same, with the names of the packs.
	code, out = rulesCLI(t, "diff", "default", newPack, "--in", in)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, re := range []string{
		`(?m)^new: ` + regexp.QuoteMeta(newPack) + ` \(version default-`,
		`(?m)^5 customers, 2 with an outcome that changes$`,
		`(?m)^support-overload +0 +1 +1 +1 +2 +only new: bob$`,
		`(?m)^advocate +0 +1 +1 +1 +2 +only new: dan$`,
		`(?m)^retention → loyalty +1 +dan$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table output does not match %s:\n%s", re, out)
		}
	}

	// A pack compared with itself changes nothing.
	code, out = rulesCLI(t, "diff", newPack, newPack, "--in", in)
	if code != 0 || !strings.Contains(out, "5 customers, 0 with an outcome that changes") || !strings.Contains(out, "no customer ends in another stage") {
		t.Errorf("a pack against itself: exit %d:\n%s", code, out)
	}

	// An invalid pack is refused with its diagnostics, before any replay.
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(src, "to: loyalty", "to: loyal", 1))
	code, out = rulesCLI(t, "diff", "default", bad, "--in", in)
	if code == 0 || !strings.Contains(out, filepath.Base(bad)) || !strings.Contains(out, `did you mean "loyalty"?`) {
		t.Errorf("invalid new pack: exit %d:\n%s", code, out)
	}
}
