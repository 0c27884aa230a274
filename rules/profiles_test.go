package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// profilesPack is testdata/check/profiles-valid.yaml: onboarding (first
// 30 days, not yet a customer), enterprise (plan), then everyone.
func profilesPack(tb testing.TB) *Pack {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "check", "profiles-valid.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	p, _, err := Parse("profiles-valid.yaml", src)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestProfileForFirstMatchWins(t *testing.T) {
	p := profilesPack(t)
	if got := strings.Join(p.ProfileNames(), ","); got != "onboarding,enterprise,everyone" {
		t.Fatalf("profiles %s", got)
	}
	for _, tc := range []struct {
		name    string
		days    float64
		stage   string
		plan    string
		profile string
		limit   float64 // max_open_tickets under the profile
	}{
		{"a new lead is onboarding", 3, "lead", "", "onboarding", 3},
		{"a new enterprise lead is still onboarding: the first match wins", 3, "lead", "enterprise", "onboarding", 3},
		{"a new customer is past onboarding", 3, "customer", "enterprise", "enterprise", 1},
		{"an old enterprise lead", 40, "lead", "enterprise", "enterprise", 1},
		{"anyone else", 40, "customer", "smb", "everyone", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Vars{Traits: []TraitValue{{}}}
			v.Num[DaysSinceFirstSeen] = tc.days
			v.Str[Stage] = tc.stage
			if tc.plan != "" {
				v.Traits[0] = TraitValue{Kind: TraitString, Str: tc.plan}
			}
			pr := p.ProfileFor(&v)
			if pr.Name != tc.profile {
				t.Errorf("profile %q, want %q", pr.Name, tc.profile)
			}
			if len(v.Params) != 1 || v.Params[0] != tc.limit {
				t.Errorf("params %v, want max_open_tickets %v", v.Params, tc.limit)
			}
			v.Num[OpenTickets] = 1
			if fired, want := p.Alerts[0].When(&v), tc.limit <= 1; fired != want {
				t.Errorf("tickets alert with 1 open ticket: %v, want %v", fired, want)
			}
			if got, want := pr.AlertDisabled(p.Alerts[0]), tc.profile == "onboarding"; got != want {
				t.Errorf("tickets disabled %v, want %v", got, want)
			}
		})
	}
}

func TestProfileHealthOverride(t *testing.T) {
	p := profilesPack(t)
	var v Vars
	v.Traits = []TraitValue{{}}
	v.Num[DaysSinceEngagement] = 10 // engagement 50
	v.Num[OpenTickets] = 0          // support 100
	comps := make([]float64, 2)
	if score, band := p.Health.Eval(&v, comps); score != 75 || band != Green {
		t.Errorf("the pack's own scorecard: %v %v, want 75 green (50*50%% + 100*50%%)", score, band)
	}
	onboarding := p.Profiles[0]
	sc := p.Scorecard(onboarding)
	if score, band := sc.Eval(&v, comps); score != 50 || band != Yellow {
		t.Errorf("onboarding: %v %v, want 50 yellow (engagement only; green from 70, yellow from 40)", score, band)
	}
	if sc.Components[1].Weight != 0 || p.Health.Components[1].Weight != 50 {
		t.Errorf("support weight: onboarding %v, pack %v", sc.Components[1].Weight, p.Health.Components[1].Weight)
	}
	if p.Scorecard(p.Profiles[1]) != &p.Health {
		t.Error("enterprise changes no health but has a scorecard of its own")
	}
}

func TestNoProfiles(t *testing.T) {
	p := Default()
	var v Vars
	pr := p.ProfileFor(&v)
	if pr.Name != "" || len(v.Params) != 0 || p.Scorecard(pr) != &p.Health || pr.AlertDisabled(p.Alerts[0]) {
		t.Errorf("the default pack has no profile, but ProfileFor gave %+v", pr)
	}
}

func TestParamsInReasons(t *testing.T) {
	p := profilesPack(t)
	v := Vars{Traits: []TraitValue{{Kind: TraitString, Str: "enterprise"}}}
	v.Num[DaysSinceFirstSeen] = 40
	v.Num[OpenTickets] = 2
	p.ProfileFor(&v)
	if got := p.Alerts[0].Reasons[0].String(&v); got != "2 tickets open (limit 1)" {
		t.Errorf("reason %q", got)
	}
}

// BenchmarkProfileFor is what picking a profile costs an evaluation: a
// pack without profiles, and testdata/check/profiles-valid.yaml's three
// for a customer the third (the catch-all) selects, so that each of the
// two conditions before it is tried.
func BenchmarkProfileFor(b *testing.B) {
	for _, bc := range []struct {
		name string
		pack *Pack
	}{
		{"profiles=0", Default()},
		{"profiles=3/third-matches", profilesPack(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := Vars{Traits: make([]TraitValue, len(bc.pack.Traits))}
			if len(v.Traits) > 0 {
				v.Traits[0] = TraitValue{Kind: TraitString, Str: "smb"}
			}
			v.Num[DaysSinceFirstSeen] = 40
			v.Str[Stage] = "customer"
			b.ReportAllocs()
			var pr *Profile
			for i := 0; i < b.N; i++ {
				pr = bc.pack.ProfileFor(&v)
			}
			if len(bc.pack.Profiles) > 0 && pr.Name != "everyone" {
				b.Fatalf("profile %q", pr.Name)
			}
		})
	}
}

func TestProfilesAtMost16(t *testing.T) {
	var b strings.Builder
	b.WriteString("profiles:\n")
	for i := 0; i < MaxProfiles+1; i++ {
		fmt.Fprintf(&b, "  - {name: p%d, when: open_tickets >= %d}\n", i, i)
	}
	src := validPack(t) + b.String()
	_, diags, err := Parse("p.yaml", []byte(src))
	if err == nil {
		t.Fatal("17 profiles: no error")
	}
	want := "profiles: 17 declared, at most 16"
	if len(diags) != 1 || !strings.Contains(diags[0].String(), want) {
		t.Errorf("diagnostics %v, want one: %s", diags, want)
	}
	// 16 are fine.
	src = validPack(t) + strings.Join(strings.SplitAfter(b.String(), "\n")[:MaxProfiles+1], "")
	if _, _, err := Parse("p.yaml", []byte(src)); err != nil {
		t.Errorf("16 profiles: %v", err)
	}
}

// A value left empty (YAML null) decodes without a place of its own: its
// error still points into the file.
func TestProfileEmptyValuesArePlaced(t *testing.T) {
	for _, extra := range []string{
		"params: {x: }",
		"profiles: [{name: a, health: {weights: {support: }}}]",
		"profiles: [{name: a, alerts: {tickets: }}]",
		"profiles: [{name: a, params: {x: }}]",
		"profiles: [{name: a, alerts: {tickets: {disabled: }}}]",
	} {
		_, diags, err := Parse("p.yaml", []byte(validPack(t)+extra+"\n"))
		if err == nil || len(diags) != 1 {
			t.Errorf("%s: want one error, got %v", extra, diags)
			continue
		}
		if d := diags[0]; d.Line < 24 || d.Col < 1 {
			t.Errorf("%s: %s is not placed on the line that says it", extra, d)
		}
	}
}
