package engine_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// A paying customer who sends nothing more gets silent-customer at its last
// engagement + 14 days, once other customers' events push the watermark
// (newest event time minus the allowed lateness) to that instant, and not
// a millisecond before.
func TestSilentCustomerFiresWhenOthersMoveWatermark(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lateness time.Duration // 0: the default
		want     int64
	}{
		{"default lateness is 10m", 0, 10 * minute},
		{"lateness 1h", time.Hour, hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{AllowedLateness: tc.lateness})
			h.apply(purchase("alice", t0+9*hour, "a1", 49))
			h.apply(ev("alice", "Signed In", t0+10*hour, "a2"))
			due := t0 + 10*hour + 14*day
			// Another customer keeps the partition busy. Reach touches
			// give it no timers of its own.
			for d := int64(1); d < 14; d++ {
				h.apply(ev("pacer", "Email Opened", t0+d*day, fmt.Sprint("p", d)))
			}
			h.apply(ev("pacer", "Email Opened", due+tc.want-1, "p-before"))
			if got := h.p.Watermark(); got != due-1 {
				t.Fatalf("watermark %s, want %s (newest event - lateness)", iso(got), iso(due-1))
			}
			if rs := alerts(h.of("alice", false)); len(rs) != 0 {
				t.Fatalf("alert before the watermark reached the due time: %v", summary(rs))
			}
			h.apply(ev("pacer", "Email Opened", due+tc.want, "p-at"))
			rs := alerts(h.of("alice", false))
			if len(rs) != 1 {
				t.Fatalf("alice alerts %v, want one silent-customer firing", summary(rs))
			}
			a := rs[0]
			if a.Rule != "silent-customer" || a.Status != "firing" || a.Severity != "warning" || a.At != iso(due) || a.EventID != "" {
				t.Errorf("alert %s: want silent-customer firing warning at %s with no event_id (a timer)", a.raw, iso(due))
			}
			if !containsAll(a.Reasons, "no engagement for 14 days", "conversion") {
				t.Errorf("reasons %q do not say why (14 days, stage conversion)", a.Reasons)
			}
			st := h.state("alice")
			if a.AlertID != engine.AlertID("alice", "silent-customer", due, st.AlertsFired) {
				t.Errorf("alert_id %s is not AlertID(customer, rule, due, firing number %d)", a.AlertID, st.AlertsFired)
			}
			if want := []engine.OpenAlert{{Rule: "silent-customer", FiredAt: due, Seq: st.AlertsFired}}; !reflect.DeepEqual(st.Alerts, want) {
				t.Errorf("open alerts %+v, want %+v", st.Alerts, want)
			}
		})
	}
}

// Events older than the newest one (late) still update the customer's
// state, counters, windows and alerts; they neither move the watermark nor
// roll back the customer's latest times.
func TestLateEventsStillUpdateState(t *testing.T) {
	h := newHarness(t, engine.Options{})
	h.apply(purchase("alice", t0, "a1", 20))
	h.apply(ev("alice", "Signed In", t0+4*day, "a2"))
	h.apply(ev("pacer", "Email Opened", t0+5*day, "p1")) // the newest event
	wm := h.p.Watermark()

	late := t0 + 3*day
	h.apply(ev("alice", "Ticket Opened", late, "a3"))
	h.apply(ev("alice", "Feature Used", late+minute, "a4"))
	h.apply(purchase("alice", late+2*minute, "a5", 30))
	h.apply(nps("alice", late+3*minute, "a6", 4))
	h.apply(ev("alice", "Email Opened", t0-2*day, "a7")) // older than her first event

	if got := h.p.Watermark(); got != wm {
		t.Errorf("late events moved the watermark from %s to %s", iso(wm), iso(got))
	}
	if m := h.p.Meta(); m.MaxEventTime != t0+5*day {
		t.Errorf("max event time %s, want %s", iso(m.MaxEventTime), iso(t0+5*day))
	}
	st := h.state("alice")
	checks := []struct {
		what      string
		got, want any
	}{
		{"stage", st.Stage, "retention"},
		{"purchases", st.Purchases, uint32(2)},
		{"revenue cents", st.RevenueCents, int64(5000)},
		{"open tickets", st.OpenTickets, uint32(1)},
		{"nps", st.NPS, int8(4)},
		{"first seen (lowered by the older event)", iso(st.Times[rules.FirstSeen]), iso(t0 - 2*day)},
		{"last seen (not rolled back)", iso(st.Times[rules.LastSeen]), iso(t0 + 4*day)},
		{"last engagement (not rolled back)", iso(st.Times[rules.LastEngagement]), iso(t0 + 4*day)},
		{"last purchase", iso(st.Times[rules.LastPurchase]), iso(late + 2*minute)},
		// Days is a ring: Days[d % len] counts day d (documented layout).
		{"engagements on the late day", st.Days[int((late/day))%len(st.Days)], uint16(1)},
		{"engagements on the newest day", st.Days[int((t0+4*day)/day)%len(st.Days)], uint16(1)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	var gotStage, gotAlert bool
	for _, r := range h.of("alice", false) {
		if r.Kind == "stage" && r.Rule == "repeat-purchase" && r.At == iso(late+2*minute) && r.EventID == "a5" {
			gotStage = true
		}
		if r.Kind == "alert" && r.Rule == "detractor" && r.Status == "firing" && r.At == iso(late+3*minute) && r.EventID == "a6" {
			gotAlert = true
		}
	}
	if !gotStage || !gotAlert {
		t.Errorf("late events: repeat-purchase %v, detractor %v; records:\n%s", gotStage, gotAlert, strings.Join(summary(h.of("alice", false)), "\n"))
	}
}

// A timer superseded by newer activity does not fire at its old due time;
// it fires at the new one.
func TestSupersededTimerDoesNotFire(t *testing.T) {
	h := newHarness(t, engine.Options{})
	h.apply(purchase("alice", t0, "a1", 49))              // silent due t0+14d
	h.apply(ev("alice", "Feature Used", t0+10*day, "a2")) // now due t0+24d
	n := len(h.of("alice", true))
	h.apply(ev("pacer", "Email Opened", t0+14*day+hour, "p1"))
	h.apply(ev("pacer", "Email Opened", t0+20*day, "p2"))
	if rs := h.of("alice", true)[n:]; len(rs) != 0 {
		t.Fatalf("superseded timer produced records: %v", summary(rs))
	}
	if st := h.state("alice"); len(st.Alerts) != 0 {
		t.Fatalf("open alerts %+v after a superseded timer", st.Alerts)
	}
	h.apply(ev("pacer", "Email Opened", t0+24*day+10*minute, "p3"))
	rs := alerts(h.of("alice", false))
	if len(rs) != 1 || rs[0].Rule != "silent-customer" || rs[0].At != iso(t0+24*day) {
		t.Fatalf("want silent-customer firing at %s, got %v", iso(t0+24*day), summary(rs))
	}
	h.apply(ev("alice", "Signed In", t0+25*day, "a3"))
	rs = alerts(h.of("alice", false))
	if len(rs) != 2 || rs[1].Status != "resolved" || rs[1].AlertID != rs[0].AlertID || rs[1].EventID != "a3" {
		t.Fatalf("want the alert resolved by the engagement, same alert_id; got %v", summary(rs))
	}
}

// Timers fire in due-time order even when the watermark jumps over many of
// them at once and some were indexed early (rescheduled lazily).
func TestTimersFireInDueOrder(t *testing.T) {
	h := newHarness(t, engine.Options{})
	// a: indexed at t0+14d, really due at t0+14d+1h (engaged after buying).
	h.apply(purchase("a", t0, "a1", 10))
	h.apply(ev("a", "Signed In", t0+hour, "a2"))
	// c: due t0+14d+12h, between a's index key and a's real due time.
	h.apply(purchase("c", t0+12*hour, "c1", 10))
	// b: due t0+15d.
	h.apply(purchase("b", t0+day, "b1", 10))
	// s: signed up, abandons at t0+30d; l: a lead, no timers.
	h.apply(ev("s", "Signed Up", t0+2*day, "s1"))
	h.apply(ev("l", "Email Opened", t0+2*day, "l1"))
	h.advance(t0 + 90*day)
	var timed []rec
	for _, r := range h.recs {
		if r.Kind != "health" && r.EventID == "" {
			timed = append(timed, r)
		}
	}
	want := []string{
		"a alert silent-customer firing @" + iso(t0+14*day+hour),
		"c alert silent-customer firing @" + iso(t0+14*day+12*hour),
		"b alert silent-customer firing @" + iso(t0+15*day),
		"s alert abandoned-signup firing @" + iso(t0+32*day),
		"a stage lapsed conversion->churned @" + iso(t0+60*day+hour),
		"a alert silent-customer resolved @" + iso(t0+60*day+hour),
		"c stage lapsed conversion->churned @" + iso(t0+60*day+12*hour),
		"c alert silent-customer resolved @" + iso(t0+60*day+12*hour),
		"b stage lapsed conversion->churned @" + iso(t0+61*day),
		"b alert silent-customer resolved @" + iso(t0+61*day),
	}
	if got := summary(timed); !reflect.DeepEqual(got, want) {
		t.Errorf("timer records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	checkTimerOrder(t, h.recs)
}

// checkTimerOrder asserts that timer-caused records (no event_id) come out
// in non-decreasing event time: the watermark only moves forward and timers
// fire in due order.
func checkTimerOrder(t *testing.T, recs []rec) {
	t.Helper()
	var last int64
	for _, r := range recs {
		if r.Kind == "health" || r.EventID != "" {
			continue
		}
		at := r.atMillis(t)
		if at < last {
			t.Errorf("timer record %s fired after one at %s", r.raw, iso(last))
		}
		last = at
	}
}

// A customer's lifecycle must not depend on how busy its partition is: the
// same journey gives the same records whether other customers' events move
// the watermark past its timers or its own next event does.
func TestCustomerTimelineIndependentOfOtherTraffic(t *testing.T) {
	journey := []engine.Event{
		ev("x", "Signed Up", t0, "x1"),
		purchase("x", t0+day, "x2", 29),
		ev("x", "Signed In", t0+2*day, "x3"),
		purchase("x", t0+80*day, "x4", 29), // back after 78 silent days
		ev("x", "Signed In", t0+81*day, "x5"),
	}
	run := func(traffic bool) []rec {
		h := newHarness(t, engine.Options{})
		next := t0
		for _, e := range journey {
			for traffic && next < e.Time {
				h.apply(ev("pacer", "Email Opened", next, fmt.Sprint("p", next)))
				next += 6 * hour
			}
			h.apply(e)
		}
		return h.of("x", true)
	}
	alone, busy := run(false), run(true)
	want := []string{
		"x stage signup ->acquisition @" + iso(t0),
		"x stage first-purchase acquisition->conversion @" + iso(t0+day),
		"x alert silent-customer firing @" + iso(t0+16*day),
		"x stage lapsed conversion->churned @" + iso(t0+62*day),
		"x alert silent-customer resolved @" + iso(t0+62*day),
		"x stage win-back churned->retention @" + iso(t0+80*day),
	}
	if got := summary(withoutHealth(busy)); !reflect.DeepEqual(got, want) {
		t.Fatalf("with traffic:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !reflect.DeepEqual(raws(alone), raws(busy)) {
		t.Errorf("customer x alone:\n%s\nwith other customers' traffic:\n%s",
			strings.Join(summary(alone), "\n"), strings.Join(summary(busy), "\n"))
	}
}

func alerts(rs []rec) []rec {
	var out []rec
	for _, r := range rs {
		if r.Kind == "alert" {
			out = append(out, r)
		}
	}
	return out
}

func withoutHealth(rs []rec) []rec {
	var out []rec
	for _, r := range rs {
		if r.Kind != "health" {
			out = append(out, r)
		}
	}
	return out
}

func raws(rs []rec) []string {
	var s []string
	for _, r := range rs {
		s = append(s, r.raw)
	}
	return s
}

func containsAll(reasons []string, subs ...string) bool {
	all := strings.Join(reasons, "\n")
	for _, s := range subs {
		if !strings.Contains(all, s) {
			return false
		}
	}
	return true
}

// TestLatenessZero: an allowed lateness configured as zero means none
// (the watermark is the newest event time), not the default.
func TestLatenessZero(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  time.Duration
		want int64 // watermark behind the event
	}{
		{"default", 0, 10 * minute},
		{"explicit zero", engine.Lateness(0), 0},
		{"five minutes", engine.Lateness(5 * time.Minute), 5 * minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{AllowedLateness: tc.opt})
			h.apply(ev("cus_1", "Signed Up", t0+day, "e1"))
			if got := t0 + day - h.p.Watermark(); got != tc.want {
				t.Fatalf("watermark trails the event by %d ms, want %d", got, tc.want)
			}
		})
	}
}
