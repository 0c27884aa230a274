package engine_test

import (
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// A pack whose stages are not the default pack's: the KPIs count from the
// stages it names (kpis.converted, kpis.churned).
const saasPack = `version: saas-1
touchpoints:
  signup: {events: [Signed Up]}
  purchase: {events: [Order Completed]}
  cancel: {events: [Subscription Cancelled]}
stages: [trial, paying, lost]
transitions:
  - {name: signup, from: [new], to: trial, on: [signup]}
  - {name: pay, from: [new, trial, lost], to: paying, on: [purchase]}
  - {name: cancel, from: [paying], to: lost, on: [cancel]}
health:
  components:
    - {name: support, weight: 100, score: "max(0, 100 - open_tickets * 25)"}
alerts:
  - {name: tickets, severity: warning, when: open_tickets >= 3, reasons: ["{open_tickets} open"]}
kpis: {converted: paying, churned: lost}
`

func TestKPIsCountThePacksStages(t *testing.T) {
	pack, _, err := rules.Parse("saas.yaml", []byte(saasPack))
	if err != nil {
		t.Fatal(err)
	}
	eng, p := openPartition(t, t.TempDir(), engine.Options{})
	defer eng.Close()
	defer eng.Release(p)
	eng.SetPack(pack)
	// The partition picks the pack up at its next batch.
	d := engine.NewDriver(p)
	if _, err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(0); err != nil {
		t.Fatal(err)
	}
	evs := []engine.Event{
		ev("ann", "Signed Up", t0, "a1"), purchase("ann", t0+hour, "a2", 10), ev("ann", "Subscription Cancelled", t0+2*hour, "a3"),
		ev("bob", "Signed Up", t0, "b1"), purchase("bob", t0+hour, "b2", 20),
		ev("cy", "Signed Up", t0, "c1"),
	}
	if err := d.Process(&engine.Events{List: evs}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(0); err != nil {
		t.Fatal(err)
	}
	tot := engine.Totals(map[int32]engine.Meta{0: p.Meta()})
	k := engine.KPIsOf(pack, tot)
	if k.Converted != 2 || k.Churned != 1 || k.ChurnRate != 0.5 || k.LifetimeValueMean != 15 {
		t.Errorf("KPIs %+v: want 2 converted (ann, bob), 1 churned (ann), churn rate 0.5, 15 per converted customer", k)
	}
	f := engine.FunnelOf(pack, tot)
	for _, s := range f.Stages {
		switch s.Stage {
		case "paying":
			if s.ConversionFromPrevious == nil || *s.ConversionFromPrevious != 2.0/3 {
				t.Errorf("paying converts from trial: %+v", s)
			}
		case "lost":
			if s.ConversionFromPrevious != nil {
				t.Errorf("the churned stage has a conversion rate: %+v", s)
			}
		}
	}

	// A pack without a converted stage counts none, rather than misreading
	// a stage of the default pack's name.
	noKPIs, _, err := rules.Parse("saas.yaml", []byte(saasPack[:len(saasPack)-len("kpis: {converted: paying, churned: lost}\n")]+"kpis: {converted: \"\", churned: \"\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k := engine.KPIsOf(noKPIs, tot); k.Converted != 0 || k.Churned != 0 || k.ChurnRate != 0 {
		t.Errorf("KPIs of a pack naming no stages: %+v", k)
	}
}
