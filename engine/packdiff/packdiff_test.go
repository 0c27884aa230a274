package packdiff

import (
	"reflect"
	"strings"
	"testing"
)

// Records cut anywhere between writes are read whole, and Compare splits
// customers by rule and final stage, examples in id order.
func TestCompare(t *testing.T) {
	oldRecs := `{"kind":"stage","customer_id":"b","to":"lead","rule":"signup"}
{"kind":"alert","customer_id":"b","rule":"quiet","status":"firing"}
{"kind":"alert","customer_id":"b","rule":"quiet","status":"resolved"}
{"kind":"stage","customer_id":"a","to":"lead","rule":"signup"}
{"kind":"alert","customer_id":"a","rule":"quiet","status":"firing"}
{"kind":"health","customer_id":"c","score":80}
`
	newRecs := strings.ReplaceAll(oldRecs, `"customer_id":"b","rule":"quiet","status":"firing"`, `"customer_id":"b","rule":"loud","status":"firing"`) +
		`{"kind":"stage","customer_id":"a","to":"customer","rule":"buy"}` // no newline at the end
	old, new := NewOutcomes(), NewOutcomes()
	for i := 0; i < len(oldRecs); i += 7 { // writes that cut records
		if _, err := old.Write([]byte(oldRecs[i:min(i+7, len(oldRecs))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := new.Read(strings.NewReader(newRecs)); err != nil {
		t.Fatal(err)
	}
	rep := Compare(old, new, 1)
	if rep.Customers != 3 || rep.Changed != 2 {
		t.Errorf("%d customers, %d changed; want 3 and 2 (a moved on, b got another alert)", rep.Customers, rep.Changed)
	}
	g := func(n int, ex ...string) Group { return Group{Count: n, Examples: ex} }
	wantAlerts := []RuleDiff{
		{Name: "loud", OldTimes: 0, NewTimes: 1, Split: Split{OnlyNew: g(1, "b")}},
		{Name: "quiet", OldTimes: 2, NewTimes: 1, Split: Split{OnlyOld: g(1, "b"), Both: g(1, "a")}},
	}
	if !reflect.DeepEqual(rep.Alerts, wantAlerts) {
		t.Errorf("alerts %+v\nwant %+v", rep.Alerts, wantAlerts)
	}
	wantChanges := []StageChange{{From: "lead", To: "customer", Group: g(1, "a")}}
	if !reflect.DeepEqual(rep.StageChanges, wantChanges) {
		t.Errorf("stage changes %+v, want %+v", rep.StageChanges, wantChanges)
	}
	wantStages := []StageCount{{Stage: "", Old: 1, New: 1}, {Stage: "customer", Old: 0, New: 1}, {Stage: "lead", Old: 2, New: 1}}
	if !reflect.DeepEqual(rep.Stages, wantStages) {
		t.Errorf("stages %+v, want %+v", rep.Stages, wantStages)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"3 customers, 2 with an outcome that changes", "only old: b", "lead → customer          1          a\n", "(none)"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, b.String())
		}
	}
	if err := NewOutcomes().Read(strings.NewReader("{\"kind\":\"stage\"}\nnot json\n")); err == nil || !strings.Contains(err.Error(), "output record 2") {
		t.Errorf("a line that is not a record: %v, want an error naming record 2", err)
	}
}
