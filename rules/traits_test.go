package rules

import (
	"strings"
	"testing"
)

// traitPack is the valid test pack with traits declared and read by a
// transition, an alert, its reasons and a health component.
func traitPack(t *testing.T, traits string) string {
	t.Helper()
	src := validPack(t)
	src = strings.Replace(src, "stages: [lead, customer, churned]\n", "stages: [lead, customer, churned]\n"+traits, 1)
	return src
}

const fiveTraits = `traits:
  - {name: plan, type: string}
  - {name: seats, type: number, path: traits.seats_bought}
  - {name: mrr, type: number}
  - {name: csm_owner, type: string, max_len: 32, path: traits.csm.owner}
  - {name: managed, type: bool}
`

func TestTraitsReadableEverywhere(t *testing.T) {
	src := traitPack(t, fiveTraits)
	src = strings.Replace(src, "when: open_tickets >= 3", `when: 'open_tickets >= (plan == "enterprise" ? 1 : 3) && has_trait("plan")'`, 1)
	src = strings.Replace(src, `"{open_tickets} tickets open"`, `"{open_tickets} tickets open on {plan} ({seats} seats, managed {managed}, csm {csm_owner})"`, 1)
	src = strings.Replace(src, `score: "max(0, 100 - open_tickets * 25)"`, `score: "managed ? 100 : max(0, 100 - open_tickets * 25 + mrr * 0)"`, 1)
	p, diags, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diags {
		t.Errorf("%s", d)
	}
	if got := strings.Join(p.TraitNames(), ","); got != "plan,seats,mrr,csm_owner,managed" {
		t.Errorf("traits %s", got)
	}
	if got := strings.Join(p.Traits[3].Path, "."); got != "csm.owner" || p.Traits[3].MaxLen != 32 || p.Traits[0].MaxLen != DefaultTraitMaxLen {
		t.Errorf("csm_owner path %s max_len %d; plan max_len %d", got, p.Traits[3].MaxLen, p.Traits[0].MaxLen)
	}
	a := p.Alerts[0]
	v := Vars{Traits: make([]TraitValue, len(p.Traits))}
	v.Num[OpenTickets] = 1
	if a.When(&v) {
		t.Error("fired for a customer without a plan")
	}
	v.Traits[0] = TraitValue{Kind: TraitString, Str: "enterprise"}
	if !a.When(&v) {
		t.Error("did not fire for an enterprise customer with 1 ticket")
	}
	v.Traits[0].Str = "smb"
	if a.When(&v) {
		t.Error("fired for an smb customer with 1 ticket")
	}
	v.Traits[1] = TraitValue{Kind: TraitNumber, Num: 25}
	v.Traits[4] = TraitValue{Kind: TraitBool, Num: 1}
	if got := a.Reasons[0].String(&v); got != "1 tickets open on smb (25 seats, managed true, csm )" {
		t.Errorf("reason %q", got)
	}
	if got := p.Health.Components[0].Score(&v); got != 100 {
		t.Errorf("managed customer's support score %v, want 100", got)
	}
}

func TestTraitErrors(t *testing.T) {
	cases := []struct {
		name   string
		traits string
		when   string
		want   string
	}{
		{"clash", "traits:\n  - {name: stage, type: string}\n", "", `trait name "stage" is taken by a built-in variable`},
		{"function", "traits:\n  - {name: has_trait, type: bool}\n", "", `trait name "has_trait" is taken`},
		{"type", "traits:\n  - {name: plan, type: text}\n", "", `unknown type "text" (expected string, number or bool)`},
		{"no type", "traits:\n  - {name: plan}\n", "", `type is required`},
		{"path", "traits:\n  - {name: plan, type: string, path: properties.plan}\n", "", `must be traits. and a key inside the traits object`},
		{"max_len number", "traits:\n  - {name: seats, type: number, max_len: 5}\n", "", `max_len is for string traits`},
		{"max_len big", "traits:\n  - {name: plan, type: string, max_len: 5000}\n", "", `from 1 to 1024`},
		{"twice", "traits:\n  - {name: plan, type: string}\n  - {name: plan, type: string}\n", "", `declared twice`},
		{"bad name", "traits:\n  - {name: Plan, type: string}\n", "", `use lower-case letters`},
		{"typo", "traits:\n  - {name: plan, type: string}\n", `plam == "x"`, `unknown variable plam (expected one of purchases,`},
		{"typo hint", "traits:\n  - {name: plan, type: string}\n", `plam == "x"`, `did you mean "plan"?`},
		{"has_trait unknown", "traits:\n  - {name: plan, type: string}\n", `has_trait("plam")`, `has_trait("plam"): the pack declares no trait plam (traits: plan)`},
		{"has_trait var", "traits:\n  - {name: plan, type: string}\n", `has_trait(plan)`, `has_trait takes the name of a declared trait in quotes`},
		{"type mismatch", "traits:\n  - {name: seats, type: number}\n", `seats == "ten"`, `== does not work on a number and text`},
		{"unknown key", "traits:\n  - {name: plan, type: string, maxlen: 3}\n", "", `maxlen`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := traitPack(t, tc.traits)
			if tc.when != "" {
				src = strings.Replace(src, "when: open_tickets >= 3", "when: '"+tc.when+"'", 1)
			}
			_, _, err := Parse("p.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %s", err, tc.want)
			}
			if !strings.Contains(err.Error(), "p.yaml:") {
				t.Errorf("error has no file:line: %v", err)
			}
		})
	}
}

func TestTraitLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("traits:\n")
	for i := 0; i <= MaxTraits; i++ {
		b.WriteString("  - {name: t" + strings.Repeat("x", i) + ", type: number}\n")
	}
	_, _, err := Parse("p.yaml", []byte(traitPack(t, b.String())))
	if err == nil || !strings.Contains(err.Error(), "33 declared, at most 32") {
		t.Fatalf("err = %v", err)
	}
}
