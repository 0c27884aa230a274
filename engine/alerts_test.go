package engine_test

import (
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
)

// Two firings of one rule for one customer are two alerts: a tool that
// opens a task per alert_id must see a new id for the second. Events that
// share a timestamp (bulk imports, second-resolution sources) can fire,
// resolve and fire a rule again within one millisecond.
func TestRefiringInSameMillisecondGetsNewAlertID(t *testing.T) {
	h := newHarness(t, engine.Options{})
	at := t0 + hour
	for i, name := range []string{"Ticket Opened", "Ticket Opened", "Ticket Opened", "Ticket Solved", "Ticket Opened"} {
		h.apply(ev("erin", name, at, string(rune('a'+i))))
	}
	rs := alerts(h.recs)
	if len(rs) != 3 || rs[0].Status != "firing" || rs[1].Status != "resolved" || rs[2].Status != "firing" {
		t.Fatalf("want firing, resolved, firing; got %v", summary(rs))
	}
	if rs[2].AlertID == rs[0].AlertID {
		t.Errorf("the second firing reuses the first one's alert_id %s", rs[0].AlertID)
	}
}
