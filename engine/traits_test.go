package engine_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// traitsPack is the default pack with five traits and an alert that only
// enterprise customers get, at a lower threshold: one open ticket.
func traitsPack(t *testing.T, traits string) *rules.Pack {
	t.Helper()
	src := string(rules.DefaultYAML())
	src = strings.Replace(src, "\ntransitions:\n", "\n"+traits+"\ntransitions:\n", 1)
	src = strings.Replace(src, "\nalerts:\n", `
alerts:
  - name: enterprise-ticket
    severity: critical
    when: plan == "enterprise" && open_tickets >= 1
    reasons:
      - "{plan} customer ({seats} seats, csm {csm_owner}) has {open_tickets} ticket open"
`, 1)
	return parsePack(t, src)
}

const fiveTraits = `traits:
  - {name: plan, type: string}
  - {name: seats, type: number}
  - {name: mrr, type: number, path: traits.billing.mrr}
  - {name: csm_owner, type: string, max_len: 8}
  - {name: managed, type: bool}
`

func identify(customer string, at int64, id, traits string) engine.Event {
	return engine.Event{ID: id, CustomerID: customer, Type: "identify", Time: at, Traits: traits}
}

func TestTraitsFromIdentifyDriveAnAlert(t *testing.T) {
	h := newPackHarness(t, traitsPack(t, fiveTraits))
	h.apply(identify("ent", t0, "i1", `{"plan":"enterprise","seats":"40","billing":{"mrr":1200.5},"csm_owner":"Bérénice Marchand","managed":true,"email":"x@example.com"}`))
	h.apply(identify("smb", t0, "i2", `{"plan":"smb","seats":3}`))
	h.apply(ev("ent", "Ticket Opened", t0+hour, "e1"))
	h.apply(ev("smb", "Ticket Opened", t0+hour, "e2"))

	rs := ruleRecs(h.of("ent", false), "enterprise-ticket")
	if len(rs) != 1 || rs[0].Status != "firing" {
		t.Fatalf("enterprise customer: want enterprise-ticket firing, got %v", summary(h.of("ent", false)))
	}
	// csm_owner is cut to 8 bytes at a character boundary ("Béréni" is
	// 8 bytes: é is two).
	if want := "enterprise customer (40 seats, csm Béréni) has 1 ticket open"; rs[0].Reasons[0] != want {
		t.Errorf("reason %q, want %q", rs[0].Reasons[0], want)
	}
	if rs := ruleRecs(h.of("smb", false), "enterprise-ticket"); len(rs) != 0 {
		t.Errorf("smb customer got %v", summary(rs))
	}

	// A later identify changes the plan: the condition clears.
	h.apply(identify("ent", t0+2*hour, "i3", `{"plan":"pro"}`))
	if rs := ruleRecs(h.of("ent", false), "enterprise-ticket"); len(rs) != 2 || rs[1].Status != "resolved" {
		t.Fatalf("after the downgrade: %v", summary(rs))
	}
	// A track call's context.traits sets them too; null removes one; a
	// value of another type (an object for a number) is ignored.
	h.apply(engine.Event{ID: "e3", CustomerID: "ent", Type: "track", Name: "Signed In", Time: t0 + 3*hour,
		Traits: `{"plan":"enterprise","managed":null,"seats":{"used":3}}`})
	if rs := ruleRecs(h.of("ent", false), "enterprise-ticket"); len(rs) != 3 || rs[2].Status != "firing" {
		t.Fatalf("after context.traits: %v", summary(rs))
	}

	st := h.state("ent")
	c := engine.Describe(h.eng.Pack(), "ent", &st, t0+4*hour)
	got, _ := json.Marshal(c.Traits)
	if want := `{"csm_owner":"Béréni","managed":null,"mrr":1200.5,"plan":"enterprise","seats":40}`; string(got) != want {
		t.Errorf("Describe traits %s, want %s", got, want)
	}

	// The traits survive a restart (the store) unchanged.
	h.reopen()
	st2 := h.state("ent")
	if !sameState(st, st2) {
		t.Errorf("after a restart:\n%+v\nwant\n%+v", st2, st)
	}
}

// A reload that removes a trait and adds another keeps every customer:
// the kept trait keeps its value, the new one starts empty, and the
// removed one is dropped when the customer is next written.
func TestTraitsHotReload(t *testing.T) {
	h := newPackHarness(t, traitsPack(t, fiveTraits))
	h.apply(identify("ann", t0, "i1", `{"plan":"enterprise","seats":12,"managed":true}`))
	h.apply(ev("ann", "Ticket Opened", t0+hour, "e1"))
	h.commit()

	h.eng.SetPack(traitsPack(t, `traits:
  - {name: region, type: string}
  - {name: seats, type: number}
  - {name: plan, type: string}
  - {name: csm_owner, type: string}
`))
	h.apply(ev("ann", "Signed In", t0+2*hour, "e2"))
	h.commit() // the partition takes the new pack up after a commit
	h.apply(ev("ann", "Ticket Opened", t0+3*hour, "e3"))
	st := h.state("ann") // as stored: the values it has, by name
	if strings.Join(st.TraitNames, ",") != "seats,plan" || len(st.Traits) != 2 || st.Traits[0].Num != 12 || st.Traits[1].Str != "enterprise" {
		t.Fatalf("after the reload: %v %+v", st.TraitNames, st.Traits)
	}
	c := engine.Describe(h.eng.Pack(), "ann", &st, t0+4*hour)
	got, _ := json.Marshal(c.Traits)
	if want := `{"csm_owner":null,"plan":"enterprise","region":null,"seats":12}`; string(got) != want {
		t.Errorf("Describe traits %s, want %s", got, want)
	}
	enc := st.AppendEncode(nil)
	if bytes.Contains(enc, []byte("managed")) {
		t.Errorf("the removed trait is still written: %q", enc)
	}

	// A pack with no traits drops them all at the next write.
	h.eng.SetPack(rules.Default())
	h.commit()
	h.apply(ev("ann", "Signed In", t0+6*hour, "e5"))
	if st := h.state("ann"); len(st.Traits) != 0 || bytes.Contains(st.AppendEncode(nil), []byte("plan")) {
		t.Errorf("traits kept under a pack without any: %v %+v", st.TraitNames, st.Traits)
	}
}

// A state written by version 4 (before traits) decodes with none; the
// fixture is a version 4 encoding, written by this test with -update
// from a customer with holds and open alerts as that version laid it out
// (version 5 adds only the trailing trait count).
func TestTraitsReadVersion4State(t *testing.T) {
	const path = "testdata/state-v4-hal.bin"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if old[0] != 4 {
		t.Fatalf("fixture is encoding version %d, want 4", old[0])
	}
	var st engine.State
	if err := st.Decode(old); err != nil {
		t.Fatalf("decode a version 4 state: %v", err)
	}
	if len(st.Traits) != 0 || len(st.Holds) == 0 || len(st.Alerts) == 0 {
		t.Fatalf("decoded: traits %v, holds %v, alerts %v; want no traits, the holds and alerts", st.Traits, st.Holds, st.Alerts)
	}
	if enc := st.AppendEncode(nil); enc[0] != 5 || !bytes.Equal(enc[1:len(enc)-1], old[1:]) || enc[len(enc)-1] != 0 {
		t.Errorf("re-encoded: version %d; want 5, the rest as version 4 wrote it, and no traits", enc[0])
	}
	// Under a pack with traits, the customer reads them as absent.
	h := newPackHarness(t, traitsPack(t, fiveTraits))
	if err := h.p.Restore("hal", old); err != nil {
		t.Fatal(err)
	}
	if err := h.p.CommitRestore(1, 0); err != nil {
		t.Fatal(err)
	}
	h.apply(identify("hal", st.Times[rules.LastSeen]+hour, "i1", `{"plan":"enterprise"}`))
	got := h.state("hal")
	c := engine.Describe(h.eng.Pack(), "hal", &got, got.Times[rules.LastSeen])
	if j, _ := json.Marshal(c.Traits); string(j) != `{"csm_owner":null,"managed":null,"mrr":null,"plan":"enterprise","seats":null}` {
		t.Errorf("after an identify: %s", j)
	}
}

// Events without traits cost a traits pack no allocation beyond the
// default pack's.
func TestTraitsNoAllocsWithoutTraits(t *testing.T) {
	per := map[string]float64{}
	for _, tc := range []struct {
		name string
		pack *rules.Pack
	}{{"default", rules.Default()}, {"five traits", traitsPack(t, fiveTraits)}} {
		h := newPackHarness(t, tc.pack)
		h.apply(identify("ann", t0, "i0", `{"plan":"enterprise","seats":12}`))
		events := make([]engine.Event, 300)
		for i := range events {
			events[i] = ev("ann", "Signed In", t0+int64(i+1)*minute, "s"+strings.Repeat("x", i))
		}
		i := 0
		per[tc.name] = testing.AllocsPerRun(200, func() {
			h.apply(events[i])
			i++
		})
	}
	t.Logf("allocations per applied event (harness included): %v", per)
	if per["five traits"] > per["default"] {
		t.Errorf("a pack with traits allocates %.1f per event without traits, the default pack %.1f", per["five traits"], per["default"])
	}
}
