package engine_test

import (
	"math"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// profilesPack is the default pack with a plan trait and three profiles:
// enterprise (stricter bands, no support-overload), acquisition (in
// that stage: scored on engagement alone), and everyone else.
func profilesPack(t *testing.T) *rules.Pack {
	t.Helper()
	src := string(rules.DefaultYAML())
	src = strings.Replace(src, "\ntransitions:\n", `
traits: [{name: plan, type: string}]
profiles:
  - name: enterprise
    when: plan == "enterprise"
    health: {bands: {green: 90, yellow: 80}}
    alerts: {support-overload: {disabled: true}}
  - name: trial
    when: stage == "acquisition"
    health: {weights: {engagement: 100, sentiment: 0, support: 0, commercial: 0}}
  - name: everyone
transitions:
`, 1)
	return parsePack(t, src)
}

func lastHealth(t *testing.T, h *harness, customer string) rec {
	t.Helper()
	var last *rec
	for _, r := range h.of(customer, true) {
		if r.Kind == "health" {
			last = &r
		}
	}
	if last == nil {
		t.Fatalf("%s: no health record", customer)
	}
	return *last
}

func TestProfileFirstMatchWins(t *testing.T) {
	h := newPackHarness(t, profilesPack(t))
	// ent is enterprise and in acquisition: the first profile that
	// matches is its profile.
	h.apply(identify("ent", t0, "i1", `{"plan":"enterprise"}`))
	h.apply(ev("ent", "Signed Up", t0, "e1"))
	h.apply(identify("smb", t0, "i2", `{"plan":"smb"}`))
	h.apply(ev("smb", "Signed Up", t0, "e2"))
	h.apply(purchase("smb", t0+hour, "e3", 10))

	ent := lastHealth(t, h, "ent")
	if !strings.Contains(ent.raw, `"profile":"enterprise"`) {
		t.Errorf("ent's health record %s, want profile enterprise", ent.raw)
	}
	// 75 is green for the pack, red under enterprise's bands (80, 90).
	if ent.Score != 75 || ent.Band != "red" {
		t.Errorf("ent: %v %s, want 75 red (enterprise bands)", ent.Score, ent.Band)
	}
	smb := lastHealth(t, h, "smb")
	if !strings.Contains(smb.raw, `"profile":"everyone"`) || smb.Band != "green" {
		t.Errorf("smb's health record %s, want profile everyone, green", smb.raw)
	}

	// support-overload is off for enterprise, on for everyone else.
	tickets(h, "ent", "Ticket Opened", t0+2*hour, 3, "t")
	tickets(h, "smb", "Ticket Opened", t0+2*hour, 3, "u")
	if rs := ruleRecs(h.of("ent", false), "support-overload"); len(rs) != 0 {
		t.Errorf("ent got %v", summary(rs))
	}
	rs := ruleRecs(h.of("smb", false), "support-overload")
	if len(rs) != 1 || !strings.Contains(rs[0].raw, `"profile":"everyone"`) {
		t.Fatalf("smb: want support-overload firing under profile everyone, got %v", rs)
	}

	// A downgrade moves ent to another profile at its next evaluation:
	// support-overload fires then, under the new profile.
	h.apply(identify("ent", t0+3*hour, "i3", `{"plan":"pro"}`))
	rs = ruleRecs(h.of("ent", false), "support-overload")
	if len(rs) != 1 || !strings.Contains(rs[0].raw, `"profile":"trial"`) {
		t.Fatalf("ent after the downgrade: want support-overload firing under trial, got %v", rs)
	}

	st := h.state("ent")
	c := engine.Describe(h.eng.Pack(), "ent", &st, t0+4*hour)
	if c.Profile == nil || *c.Profile != "trial" {
		t.Errorf("Describe profile %v, want trial", c.Profile)
	}
	if w := c.Health.Weights; w["engagement"] != 100 || w["sentiment"] != 0 {
		t.Errorf("Describe weights %+v, want trial's (engagement 100, the rest 0)", w)
	}
}

func TestProfileHealthWeights(t *testing.T) {
	h := newPackHarness(t, profilesPack(t))
	h.apply(ev("c", "Signed Up", t0, "e1"))
	h.apply(nps("c", t0+hour, "e2", 0)) // sentiment 0: the pack's score drops, trial's does not
	r := lastHealth(t, h, "c")
	if !strings.Contains(r.raw, `"profile":"trial"`) || r.Score != r.Components["engagement"] {
		t.Errorf("in acquisition: %s, want profile trial and the score of engagement alone", r.raw)
	}
	// The purchase moves c to conversion: the same evaluation scores it
	// with the pack's weights.
	h.apply(purchase("c", t0+2*hour, "e3", 10))
	r = lastHealth(t, h, "c")
	want := 0.0
	for name, w := range map[string]float64{"engagement": 40, "sentiment": 20, "support": 20, "commercial": 20} {
		want += r.Components[name] * w / 100
	}
	if !strings.Contains(r.raw, `"profile":"everyone"`) || r.Score != math.Round(want) {
		t.Errorf("in conversion: %s, want profile everyone and score %v (the pack's weights)", r.raw, math.Round(want))
	}
}

func TestNoProfilesNoProfileField(t *testing.T) {
	h := newPackHarness(t, rules.Default())
	h.apply(ev("c", "Signed Up", t0, "e1"))
	tickets(h, "c", "Ticket Opened", t0+hour, 3, "t")
	for _, r := range h.of("c", true) {
		if strings.Contains(r.raw, `"profile"`) {
			t.Errorf("the default pack has no profiles, but %s", r.raw)
		}
	}
	st := h.state("c")
	if c := engine.Describe(h.eng.Pack(), "c", &st, t0+2*hour); c.Profile != nil {
		t.Errorf("Describe profile %q for the default pack", *c.Profile)
	}
}
