package engine_test

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
)

// A redelivered event (same dedupe key) is applied once: the customer's
// counters, the partition's aggregates and the outputs are as if it came
// once, and the partition counts the duplicate. Retries arrive close to
// the original: adjacent, or a few of the customer's events later, or
// after a restart.
func TestDuplicateAppliedOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between int  // the customer's other events between original and copy
		restart bool // commit and reopen the engine between them
	}{
		{"adjacent", 0, false},
		{"three events apart", 3, false},
		{"six events apart", 6, false},
		{"after a restart", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, engine.Options{})
			h.apply(ev("alice", "Signed Up", t0, "m0"))
			if !h.apply(purchase("alice", t0+hour, "order-1", 49.5)) {
				t.Fatal("the original was not applied")
			}
			for i := 0; i < tc.between; i++ {
				h.apply(ev("alice", "Feature Used", t0+2*hour+int64(i)*minute, fmt.Sprint("f", i)))
				// Another customer's events in between change nothing.
				h.apply(ev("bob", "Feature Used", t0+2*hour+int64(i)*minute, fmt.Sprint("b", i)))
			}
			if tc.restart {
				h.reopen()
			}
			before := h.state("alice")
			meta := h.p.Meta()
			nrec := len(h.recs)

			if h.apply(purchase("alice", t0+3*hour, "order-1", 49.5)) {
				t.Error("the redelivery was applied")
			}
			after := h.state("alice")
			if after.Purchases != 1 || after.RevenueCents != 4950 || after.Stage != "conversion" {
				t.Errorf("after the redelivery: %d purchases, %d cents, stage %s; want 1, 4950, conversion", after.Purchases, after.RevenueCents, after.Stage)
			}
			if after.Times != before.Times || after.Purchases != before.Purchases {
				t.Errorf("the redelivery changed the customer: times %v → %v", before.Times, after.Times)
			}
			m := h.p.Meta()
			if m.Duplicates != meta.Duplicates+1 {
				t.Errorf("duplicates %d → %d, want one more", meta.Duplicates, m.Duplicates)
			}
			if m.RevenueCents != meta.RevenueCents || m.Customers != meta.Customers {
				t.Errorf("aggregates changed: revenue %d → %d, customers %d → %d", meta.RevenueCents, m.RevenueCents, meta.Customers, m.Customers)
			}
			if rs := h.recs[nrec:]; len(rs) != 0 {
				t.Errorf("the redelivery produced records: %v", summary(rs))
			}

			// A different id is a different event, even with the same content.
			if !h.apply(purchase("alice", t0+4*hour, "order-2", 49.5)) {
				t.Fatal("a new event id was taken for a duplicate")
			}
			if st := h.state("alice"); st.Purchases != 2 || st.RevenueCents != 9900 || st.Stage != "retention" {
				t.Errorf("after a second order: %d purchases, %d cents, stage %s; want 2, 9900, retention", st.Purchases, st.RevenueCents, st.Stage)
			}
		})
	}
}

// Events without an id (the source gave none) are never taken for
// duplicates of each other.
func TestEventsWithoutIDAreNotDeduplicated(t *testing.T) {
	h := newHarness(t, engine.Options{})
	for i := 0; i < 3; i++ {
		if !h.apply(ev("alice", "Ticket Opened", t0+hour, "")) {
			t.Fatalf("event %d without an id was dropped", i+1)
		}
	}
	if st := h.state("alice"); st.OpenTickets != 3 {
		t.Errorf("open tickets %d, want 3", st.OpenTickets)
	}
	if m := h.p.Meta(); m.Duplicates != 0 {
		t.Errorf("duplicates %d, want 0", m.Duplicates)
	}
}

// The dedupe horizon is a count of the customer's own events: with
// DedupeIDs N, a redelivery after N-1 of the customer's other events is
// dropped for sure, one after N is applied again (the documented edge).
// Other customers' events in between do not count, and a restart (the
// ids come back from the store) changes nothing.
func TestDedupeHorizonEdge(t *testing.T) {
	for _, n := range []int{1, 8, 0, 100} { // 0: the default
		horizon := n
		if n == 0 {
			horizon = engine.DefaultDedupeIDs
		}
		for _, restart := range []bool{false, true} {
			for _, between := range []int{horizon - 1, horizon} {
				name := fmt.Sprintf("dedupe_ids=%d/%d events between/restart=%v", n, between, restart)
				t.Run(name, func(t *testing.T) {
					h := newHarness(t, engine.Options{DedupeIDs: n})
					if !h.apply(purchase("alice", t0, "order-1", 10)) {
						t.Fatal("the original was not applied")
					}
					for i := 0; i < between; i++ {
						h.apply(ev("alice", "Feature Used", t0+hour+int64(i)*minute, fmt.Sprint("f", i)))
						h.apply(ev("bob", "Feature Used", t0+hour+int64(i)*minute, fmt.Sprint("b", i)))
					}
					if restart {
						h.reopen()
					}
					applied := h.apply(purchase("alice", t0+day, "order-1", 10))
					st := h.state("alice")
					if between < horizon {
						if applied || st.Purchases != 1 || st.RevenueCents != 1000 {
							t.Errorf("redelivery after %d other events with a horizon of %d: applied %v, %d purchases, %d cents; want dropped, 1, 1000",
								between, horizon, applied, st.Purchases, st.RevenueCents)
						}
						if m := h.p.Meta(); m.Duplicates != 1 {
							t.Errorf("duplicates %d, want 1", m.Duplicates)
						}
					} else if !applied || st.Purchases != 2 {
						t.Errorf("redelivery after %d other events with a horizon of %d: applied %v, %d purchases; want applied (past the horizon), 2",
							between, horizon, applied, st.Purchases)
					}
					if got := len(st.Recent); got > horizon {
						t.Errorf("%d ids remembered, over the horizon of %d", got, horizon)
					}
				})
			}
		}
	}
}

// A state written by the version before the horizon was configurable
// (encoding version 2, 8 id slots) still decodes, and its 8 ids still
// catch redeliveries under a larger horizon (16), which then fills up
// with the new ids. The fixtures were written by that version
// (commit 5a40c97): ann applied 12 events, m01 to m12, of which the last
// 8 are remembered; the busy customer is busyCustomer.
func TestDedupeReadsVersion2State(t *testing.T) {
	old, err := os.ReadFile("testdata/state-v2-ann.bin")
	if err != nil {
		t.Fatal(err)
	}
	if old[0] != 2 {
		t.Fatalf("fixture is encoding version %d, want 2", old[0])
	}
	var st engine.State
	if err := st.Decode(old); err != nil {
		t.Fatalf("decode a version 2 state: %v", err)
	}
	if st.Stage != "retention" || st.Purchases != 11 || st.RevenueCents != 11000 || len(st.Recent) != 8 {
		t.Fatalf("version 2 state decoded as stage %s, %d purchases, %d cents, %d ids; want retention, 11, 11000, 8",
			st.Stage, st.Purchases, st.RevenueCents, len(st.Recent))
	}

	h := newHarness(t, engine.Options{DedupeIDs: 16})
	if err := h.p.Restore("ann", old); err != nil {
		t.Fatal(err)
	}
	if err := h.p.CommitRestore(1, 0); err != nil {
		t.Fatal(err)
	}
	for i := 5; i <= 12; i++ {
		if h.apply(purchase("ann", t0+day, fmt.Sprintf("m%02d", i), 10)) {
			t.Errorf("m%02d, among the 8 ids the old state remembers, was applied again", i)
		}
	}
	// m04 was forgotten by the old version already: applied again.
	if !h.apply(purchase("ann", t0+day, "m04", 10)) {
		t.Error("m04, forgotten before the upgrade, was taken for a duplicate")
	}
	// The horizon now grows past 8: after 7 more events m05 is still
	// known (16 ids in all, the horizon).
	for i := 0; i < 7; i++ {
		h.apply(ev("ann", "Feature Used", t0+2*day+int64(i)*minute, fmt.Sprint("n", i)))
	}
	if h.apply(purchase("ann", t0+3*day, "m05", 10)) {
		t.Error("m05 was applied again after 8 more events, within the horizon of 16")
	}
	if st := h.state("ann"); st.Purchases != 12 || len(st.Recent) != 16 {
		t.Errorf("ann: %d purchases, %d ids remembered; want 12 (m04 applied once more), 16", st.Purchases, len(st.Recent))
	}
	// One more, and m05, the oldest, is forgotten.
	h.apply(ev("ann", "Feature Used", t0+4*day, "n7"))
	if !h.apply(purchase("ann", t0+4*day, "m05", 10)) {
		t.Error("m05 was still taken for a duplicate after 9 more events, past the horizon of 16")
	}

	// The busy customer's old encoding decodes to what this version
	// builds from the same events (the same 8 ids under the default
	// horizon), and encodes the same but for the version byte.
	busyOld, err := os.ReadFile("testdata/state-v2-busy.bin")
	if err != nil {
		t.Fatal(err)
	}
	var got engine.State
	if err := got.Decode(busyOld); err != nil {
		t.Fatalf("decode the version 2 busy customer: %v", err)
	}
	want := busyCustomer(t)
	wantIDs := recentOldestFirst(&want)
	if !reflect.DeepEqual(recentOldestFirst(&got), wantIDs[len(wantIDs)-8:]) {
		t.Errorf("busy customer's ids: %x, want the newest 8 of %x", recentOldestFirst(&got), wantIDs)
	}
	if !sameState(got, want) {
		t.Errorf("busy customer decoded from version 2:\n%+v\nwant\n%+v", got, want)
	}
	// Version 4 appends the alert holds, version 5 the traits: none (one
	// byte, 0, each) here.
	if enc := got.AppendEncode(nil); enc[0] != 5 || !bytes.Equal(enc[1:len(enc)-2], busyOld[1:]) || enc[len(enc)-2] != 0 || enc[len(enc)-1] != 0 {
		t.Errorf("re-encoded: version %d, %d bytes; want version 5, the rest as version 2 wrote it (%d bytes), no holds and no traits", enc[0], len(enc), len(busyOld))
	}
}

// A restart with another horizon works on the states already stored:
// shrinking keeps each customer's newest ids, growing keeps them all and
// remembers more from then on.
func TestDedupeHorizonChangedOnRestart(t *testing.T) {
	h := newHarness(t, engine.Options{DedupeIDs: 64})
	for i := 0; i < 40; i++ {
		h.apply(ev("alice", "Feature Used", t0+int64(i)*minute, fmt.Sprint("f", i)))
	}
	if st := h.state("alice"); len(st.Recent) != 40 {
		t.Fatalf("%d ids remembered, want 40", len(st.Recent))
	}
	full := h.state("alice")
	big := len(full.AppendEncode(nil))

	h.opts.DedupeIDs = 8
	h.reopen()
	// f32 to f39 are the newest 8: dropped. This event is the customer's
	// next, so it shrinks the ring first: f31 is forgotten.
	for i := 39; i >= 32; i-- {
		if h.apply(ev("alice", "Feature Used", t0+hour, fmt.Sprint("f", i))) {
			t.Errorf("f%d, among the newest 8, was applied again after shrinking to 8", i)
		}
	}
	if !h.apply(ev("alice", "Feature Used", t0+hour, "f31")) {
		t.Error("f31, the 9th newest, was still taken for a duplicate after shrinking to 8")
	}
	st := h.state("alice")
	if len(st.Recent) != 8 {
		t.Errorf("%d ids remembered after shrinking to 8", len(st.Recent))
	}
	if small := len(st.AppendEncode(nil)); small != big-32*8 {
		t.Errorf("encoding %d bytes after shrinking from 40 ids to 8, want %d", small, big-32*8)
	}

	h.opts.DedupeIDs = 16
	h.reopen()
	for i := 0; i < 8; i++ {
		h.apply(ev("alice", "Feature Used", t0+2*hour+int64(i)*minute, fmt.Sprint("g", i)))
	}
	// The 8 kept before (f33 to f39 and f31) and g0 to g7: 16.
	for _, id := range []string{"f33", "f39", "f31", "g0", "g7"} {
		if h.apply(ev("alice", "Feature Used", t0+3*hour, id)) {
			t.Errorf("%s was applied again after growing to 16", id)
		}
	}
	if st := h.state("alice"); len(st.Recent) != 16 {
		t.Errorf("%d ids remembered after growing to 16, want 16", len(st.Recent))
	}
}

// Apply stays allocation-free for a customer whose ring is full: the
// ring is overwritten in place.
func TestDedupeNoAllocationWhenFull(t *testing.T) {
	h := newHarness(t, engine.Options{DedupeIDs: 16})
	for i := 0; i < 20; i++ {
		h.apply(ev("alice", "Feature Used", t0+int64(i)*minute, fmt.Sprint("f", i)))
	}
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprint("g", i)
	}
	evs := make([]engine.Event, 1)
	var src engine.Events
	i := 20
	allocs := testing.AllocsPerRun(200, func() {
		evs[0] = ev("alice", "Feature Used", t0+int64(i)*minute, ids[i%len(ids)])
		i++
		src = engine.Events{List: evs, First: h.pos}
		if err := h.d.Process(&src); err != nil {
			t.Fatal(err)
		}
		h.pos++
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per event for a customer with a full ring", allocs)
	}
}
