package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// cyclePack is a pack with a cycle of timed transitions: away counts from
// last_seen, so it is due once per event of the customer, and back from
// stage_entered. `rules check` warns of it; the engine must go round it
// once per event, not once per minute up to the watermark.
const cyclePack = `version: cycle-1
touchpoints:
  engagement: {events: [Signed In]}
stages: [active, away]
kpis: {converted: "", churned: ""}
health:
  components:
    - {name: support, weight: 100, score: "max(0, 100 - open_tickets * 25)"}
transitions:
  - {name: join, from: [new], to: active, on: [engagement]}
  - {name: away, from: [active], to: away, after: 1m, since: [last_seen]}
  - {name: back, from: [away], to: active, after: 1m, since: [stage_entered]}
`

// A cycle of timed transitions moves a quiet customer a bounded number of
// times per event, however far the watermark jumps; the cycle that would
// not be bounded (every transition counting from stage_entered) cannot be
// loaded at all, so no engine ever runs it.
func TestTimerCycleIsBoundedPerEvent(t *testing.T) {
	pack, diags, err := rules.Parse("cycle.yaml", []byte(cyclePack))
	if err != nil {
		t.Fatal(err)
	}
	if ws := rules.Warnings(diags); len(ws) != 1 || !strings.Contains(ws[0].Msg, "cycle") {
		t.Errorf("warnings %v, want one about the cycle", ws)
	}
	h := newHarness(t, engine.Options{})
	h.eng.SetPack(pack)
	h.commit() // a partition takes a new pack at a commit
	h.apply(ev("ann", "Signed In", t0, "a1"))
	h.advance(t0 + 30*day)
	h.apply(ev("ann", "Signed In", t0+31*day, "a2"))
	h.advance(t0 + 60*day)

	var moves []string
	for _, r := range h.of("ann", false) {
		if r.Kind == "stage" {
			moves = append(moves, r.Rule+"@"+r.At)
		}
	}
	want := []string{"join@" + iso(t0),
		"away@" + iso(t0+minute), "back@" + iso(t0+2*minute),
		"away@" + iso(t0+31*day+minute), "back@" + iso(t0+31*day+2*minute)}
	if strings.Join(moves, " ") != strings.Join(want, " ") {
		t.Errorf("stage moves:\n got %v\nwant %v (once round the cycle per event)", moves, want)
	}

	endless := strings.Replace(cyclePack, "since: [last_seen]", "since: [stage_entered]", 1)
	_, _, err = rules.Parse("endless.yaml", []byte(endless))
	var inv *rules.InvalidError
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "cycle that never ends") || !strings.Contains(err.Error(), "line 11") || !strings.Contains(err.Error(), "line 12") {
		t.Errorf("Parse of a pack with an endless timer cycle: %v; want an InvalidError naming the cycle and lines 11 and 12", err)
	}
}
