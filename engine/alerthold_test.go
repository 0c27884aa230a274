package engine_test

import (
	"bytes"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// holdPack has one alert with for and one with cooldown, on the same
// condition (3 or more open tickets), and a churned stage.
const holdPack = `version: holds-1
touchpoints:
  purchase: {events: [Order Completed]}
  cancel: {events: [Subscription Cancelled]}
  support_opened: {events: [Ticket Opened]}
  support_solved: {events: [Ticket Solved]}
stages: [paying, lost]
kpis: {converted: paying, churned: lost}
transitions:
  - {name: pay, from: [new, lost], to: paying, on: [purchase]}
  - {name: cancel, from: [paying], to: lost, on: [cancel]}
health:
  components:
    - {name: support, weight: 100, score: "max(0, 100 - open_tickets * 25)"}
alerts:
  - {name: held, severity: warning, when: open_tickets >= 3, for: 2d, reasons: ["{open_tickets} open"]}
  - {name: cooled, severity: warning, when: open_tickets >= 3, cooldown: 7d, reasons: ["{open_tickets} open"]}
`

func parsePack(t *testing.T, src string) *rules.Pack {
	t.Helper()
	p, _, err := rules.Parse("pack.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newPackHarness is a harness on pack, with no allowed lateness: each
// event moves the watermark to its own time.
func newPackHarness(t *testing.T, pack *rules.Pack) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), opts: engine.Options{AllowedLateness: -1}, pack: pack}
	h.open()
	t.Cleanup(h.close)
	return h
}

// ruleRecs returns the alert records of one rule.
func ruleRecs(rs []rec, rule string) []rec {
	var out []rec
	for _, r := range alerts(rs) {
		if r.Rule == rule {
			out = append(out, r)
		}
	}
	return out
}

func tickets(h *harness, customer, name string, at int64, n int, id string) {
	for i := 0; i < n; i++ {
		h.apply(ev(customer, name, at, id+string(rune('a'+i))))
	}
}

// for: 2d fires by the timer at exactly pending+for, when the condition
// held all along, with no event of the customer at that time; the pending
// time survives a restart (it is in the stored state).
func TestAlertForFiresAtPendingPlusFor(t *testing.T) {
	h := newPackHarness(t, parsePack(t, holdPack))
	start := t0 + hour
	tickets(h, "ann", "Ticket Opened", start, 3, "o")
	if rs := ruleRecs(h.recs, "held"); len(rs) != 0 {
		t.Fatalf("held fired at once: %v", summary(rs))
	}
	if st := h.state("ann"); len(st.Holds) != 1 || st.Holds[0].PendingSince != start {
		t.Fatalf("holds %+v, want held pending since %s", st.Holds, iso(start))
	}
	h.advance(start + 2*day - 1)
	if rs := ruleRecs(h.recs, "held"); len(rs) != 0 {
		t.Fatalf("held fired before its 2 days: %v", summary(rs))
	}
	h.reopen()
	h.advance(start + 2*day)
	rs := ruleRecs(h.recs, "held")
	if len(rs) != 1 || rs[0].Status != "firing" || rs[0].At != iso(start+2*day) || rs[0].EventID != "" {
		t.Fatalf("want one firing at %s by the timer; got %v", iso(start+2*day), summary(rs))
	}
	if st := h.state("ann"); len(st.Holds) != 0 || len(st.Alerts) != 2 {
		t.Errorf("after firing: holds %+v, open %+v; want no hold, held and cooled open", st.Holds, st.Alerts)
	}
}

// A condition that stops holding within for never fires; held again, it
// needs the whole for again, from then.
func TestAlertForFlappingNeverFires(t *testing.T) {
	h := newPackHarness(t, parsePack(t, holdPack))
	for i := int64(0); i < 10; i++ { // 3 open for 1d, 2 open for 1d, ...
		at := t0 + 2*i*day
		tickets(h, "bo", "Ticket Opened", at, 1, "o"+string(rune('a'+i)))
		if i == 0 {
			tickets(h, "bo", "Ticket Opened", at, 2, "first")
		}
		h.apply(ev("bo", "Ticket Solved", at+day, "s"+string(rune('a'+i))))
	}
	h.advance(t0 + 40*day)
	if rs := ruleRecs(h.recs, "held"); len(rs) != 0 {
		t.Fatalf("held fired on a condition that never held 2 days: %v", summary(rs))
	}
	for _, hd := range h.state("bo").Holds {
		if hd.Rule == "held" {
			t.Errorf("hold %+v left behind, want none for held", hd)
		}
	}
	// Held from +41d: fires at +43d, not earlier.
	tickets(h, "bo", "Ticket Opened", t0+41*day, 1, "last")
	h.advance(t0 + 43*day - 1)
	if rs := ruleRecs(h.recs, "held"); len(rs) != 0 {
		t.Fatalf("fired before 2 days from +41d: %v", summary(rs))
	}
	h.advance(t0 + 43*day)
	if rs := ruleRecs(h.recs, "held"); len(rs) != 1 || rs[0].At != iso(t0+43*day) {
		t.Fatalf("want one firing at +43d; got %v", summary(rs))
	}
}

// cooldown: 7d: no new firing within 7 days of a resolve; a condition that
// holds when the cooldown ends fires then (by the timer); one that stopped
// holding does not, and fires at once when it holds after the cooldown.
func TestAlertCooldown(t *testing.T) {
	h := newPackHarness(t, parsePack(t, holdPack))
	tickets(h, "cy", "Ticket Opened", t0, 3, "o")
	h.apply(ev("cy", "Ticket Solved", t0+day, "s1"))
	tickets(h, "cy", "Ticket Opened", t0+2*day, 1, "p") // holds again, within the cooldown
	rs := ruleRecs(h.recs, "cooled")
	if len(rs) != 2 || rs[0].Status != "firing" || rs[1].Status != "resolved" || rs[1].ResolvedBy != "condition_cleared" {
		t.Fatalf("want firing, resolved (condition_cleared); got %v", summary(rs))
	}
	h.advance(t0 + 8*day - 1)
	if rs := ruleRecs(h.recs, "cooled"); len(rs) != 2 {
		t.Fatalf("fired within the cooldown: %v", summary(rs))
	}
	h.advance(t0 + 8*day)
	rs = ruleRecs(h.recs, "cooled")
	if len(rs) != 3 || rs[2].Status != "firing" || rs[2].At != iso(t0+8*day) || rs[2].EventID != "" || rs[2].AlertID == rs[0].AlertID {
		t.Fatalf("want a new firing at the cooldown's end (%s) by the timer; got %v", iso(t0+8*day), summary(rs))
	}

	// dan: the condition clears within the cooldown: nothing at its end.
	tickets(h, "dan", "Ticket Opened", t0+10*day, 3, "o")
	h.apply(ev("dan", "Ticket Solved", t0+11*day, "s1"))
	tickets(h, "dan", "Ticket Opened", t0+12*day, 1, "p")
	h.apply(ev("dan", "Ticket Solved", t0+13*day, "s2"))
	h.advance(t0 + 19*day)
	if rs := ruleRecs(h.of("dan", false), "cooled"); len(rs) != 2 {
		t.Fatalf("dan: want firing, resolved only; got %v", summary(rs))
	}
	tickets(h, "dan", "Ticket Opened", t0+20*day, 1, "q")
	if rs := ruleRecs(h.of("dan", false), "cooled"); len(rs) != 3 || rs[2].At != iso(t0+20*day) {
		t.Fatalf("dan: want a firing at once after the cooldown (%s); got %v", iso(t0+20*day), summary(rs))
	}
}

// Resolved records say why: the condition cleared, or the customer
// churned (the pack's kpis.churned stage). Alerts without stages do not
// apply to churned customers: before, they stayed open for good.
func TestResolvedByChurnedAndCleared(t *testing.T) {
	h := newHarness(t, engine.Options{})
	h.apply(purchase("eve", t0, "e1", 10))
	h.apply(nps("eve", t0+hour, "e2", 3))
	h.apply(ev("eve", "Subscription Cancelled", t0+2*hour, "e3"))
	h.apply(nps("eve", t0+3*hour, "e4", 2))
	rs := ruleRecs(h.of("eve", false), "detractor")
	if len(rs) != 2 || rs[1].Status != "resolved" || rs[1].ResolvedBy != "churned" || rs[1].At != iso(t0+2*hour) {
		t.Fatalf("eve: want detractor firing, then resolved by churned at the cancel; got %v", summary(rs))
	}
	if st := h.state("eve"); st.Stage != "churned" || len(st.Alerts) != 0 {
		t.Errorf("eve: stage %s, open %+v; want churned, none", st.Stage, st.Alerts)
	}

	h.apply(purchase("fay", t0, "f1", 10))
	h.apply(nps("fay", t0+hour, "f2", 3))
	h.apply(nps("fay", t0+2*hour, "f3", 8))
	rs = ruleRecs(h.of("fay", false), "detractor")
	if len(rs) != 2 || rs[1].ResolvedBy != "condition_cleared" {
		t.Fatalf("fay: want detractor resolved by condition_cleared; got %v", summary(rs))
	}
	if rs[0].ResolvedBy != "" || strings.Contains(rs[0].raw, "resolved_by") {
		t.Errorf("a firing record has resolved_by: %s", rs[0].raw)
	}
}

// A reload that drops a rule resolves its open alerts, with severity info
// and resolved_by pack_changed, at the customer's next event.
func TestResolvedByPackChanged(t *testing.T) {
	h := newHarness(t, engine.Options{})
	tickets(h, "gil", "Ticket Opened", t0, 3, "o")
	if rs := ruleRecs(h.recs, "support-overload"); len(rs) != 1 {
		t.Fatalf("want support-overload firing; got %v", summary(rs))
	}
	src := string(rules.DefaultYAML())
	i := strings.Index(src, "  - name: support-overload")
	j := strings.Index(src, "  - name: payment-failed")
	if i < 0 || j < i {
		t.Fatal("default pack: support-overload not found before payment-failed")
	}
	h.eng.SetPack(parsePack(t, src[:i]+src[j:]))
	h.commit() // the partition takes the new pack at its next batch
	h.apply(ev("gil", "Signed In", t0+hour, "s"))
	rs := ruleRecs(h.of("gil", false), "support-overload")
	if len(rs) != 2 || rs[1].Status != "resolved" || rs[1].ResolvedBy != "pack_changed" || rs[1].Severity != "info" || rs[1].AlertID != rs[0].AlertID {
		t.Fatalf("want the alert resolved by pack_changed (info, same id); got %v", summary(rs))
	}
}

// A state written by the version before alert holds (encoding version 3;
// the fixture was written by commit 1a83a6d: ann bought, answered NPS 3
// and opened 3 tickets, so detractor and support-overload are open)
// decodes with no holds, and its open alerts resolve as before, now with
// a cause.
func TestAlertsReadVersion3State(t *testing.T) {
	old, err := os.ReadFile("testdata/state-v3-ann.bin")
	if err != nil {
		t.Fatal(err)
	}
	if old[0] != 3 {
		t.Fatalf("fixture is encoding version %d, want 3", old[0])
	}
	var st engine.State
	if err := st.Decode(old); err != nil {
		t.Fatalf("decode a version 3 state: %v", err)
	}
	if st.Stage != "conversion" || len(st.Alerts) != 2 || st.Alerts[1].Rule != "support-overload" || st.Alerts[1].Seq != 2 || len(st.Holds) != 0 {
		t.Fatalf("version 3 state decoded as stage %s, alerts %+v, holds %+v; want conversion, detractor and support-overload (seq 2), none",
			st.Stage, st.Alerts, st.Holds)
	}
	if enc := st.AppendEncode(nil); enc[0] != 5 || !bytes.Equal(enc[1:len(enc)-2], old[1:]) || enc[len(enc)-2] != 0 || enc[len(enc)-1] != 0 {
		t.Errorf("re-encoded: version %d, %d bytes; want version 5, the rest as version 3 wrote it, no holds and no traits", enc[0], len(enc))
	}

	h := newHarness(t, engine.Options{})
	if err := h.p.Restore("ann", old); err != nil {
		t.Fatal(err)
	}
	if err := h.p.CommitRestore(1, 0); err != nil {
		t.Fatal(err)
	}
	h.apply(ev("ann", "Ticket Solved", st.Alerts[1].FiredAt+hour, "s1"))
	rs := ruleRecs(h.recs, "support-overload")
	want := engine.AlertID("ann", "support-overload", st.Alerts[1].FiredAt, 2)
	if len(rs) != 1 || rs[0].Status != "resolved" || rs[0].AlertID != want || rs[0].ResolvedBy != "condition_cleared" {
		t.Fatalf("want support-overload %s resolved by condition_cleared; got %v", want, rs)
	}
}

// The customer lookup shows what holds an alert back: pending since when
// and firing when, or a cooldown until when.
func TestDescribeShowsHeldAlerts(t *testing.T) {
	pack := parsePack(t, holdPack)
	h := newPackHarness(t, pack)
	tickets(h, "hal", "Ticket Opened", t0, 3, "o")
	h.apply(ev("hal", "Ticket Solved", t0+day, "s1"))
	tickets(h, "hal", "Ticket Opened", t0+2*day, 1, "p")
	st := h.state("hal")
	c := engine.Describe(pack, "hal", &st, t0+3*day)
	want := []engine.HeldAlert{
		{Rule: "cooled", PendingSince: iso(t0 + 2*day), FiresAt: iso(t0 + 8*day), CooldownUntil: iso(t0 + 8*day)},
		{Rule: "held", PendingSince: iso(t0 + 2*day), FiresAt: iso(t0 + 4*day)},
	}
	got := c.HeldAlerts
	slices.SortFunc(got, func(a, b engine.HeldAlert) int { return strings.Compare(a.Rule, b.Rule) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("held alerts:\n got %+v\nwant %+v", got, want)
	}
}
