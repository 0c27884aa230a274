package engine_test

import (
	"fmt"
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
