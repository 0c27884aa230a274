package engine_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// benchProfiles is the default pack with a plan trait, a param read by
// support-overload, and three profiles, the last catching the rest of
// the paying plans: a customer on the trial plan (most of the workload
// before it buys) tries all three conditions at every evaluation.
const benchProfiles = `traits: [{name: plan, type: string}]
params: {max_open_tickets: 3}
profiles:
  - name: onboarding
    when: days_since_first_seen < 30 && stage in ["reach", "acquisition"] && plan != "trial"
    health: {weights: {engagement: 60, sentiment: 0, support: 20, commercial: 20}}
    alerts: {usage-drop: {disabled: true}}
  - name: enterprise
    when: plan in ["business", "enterprise"]
    health: {bands: {green: 80, yellow: 60}}
    params: {max_open_tickets: 1}
  - name: smb
    when: plan in ["basic", "starter", "pro"]
    params: {max_open_tickets: 4}
`

// BenchmarkApplyProfiles is BenchmarkApply's customers=2000 run for the
// default pack, for it with the plan trait the profiles read, and for it
// with three profiles (bench/README.md, issue 12 profiles): CPU per
// event, allocations, records.
func BenchmarkApplyProfiles(b *testing.B) {
	src := strings.Replace(string(rules.DefaultYAML()), "\ntransitions:\n", "\n"+benchProfiles+"\ntransitions:\n", 1)
	src = strings.Replace(src, "when: open_tickets >= 3\n", "when: open_tickets >= max_open_tickets\n", 1)
	withProfiles, _, err := rules.Parse("bench.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	if len(withProfiles.Profiles) != 3 || !strings.Contains(src, ">= max_open_tickets") {
		b.Fatal("the bench pack lost its profiles or its param")
	}
	// The trait alone, without profiles: what profiles=3 costs beyond
	// reading the trait its conditions compare.
	traitOnly, _, err := rules.Parse("bench.yaml", []byte(strings.Replace(string(rules.DefaultYAML()), "\ntransitions:\n", "\ntraits: [{name: plan, type: string}]\ntransitions:\n", 1)))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		pack *rules.Pack
	}{
		{"customers=2000/profiles=0", rules.Default()},
		{"customers=2000/traits=1/profiles=0", traitOnly},
		{"customers=2000/profiles=3", withProfiles},
	} {
		b.Run(bc.name, func(b *testing.B) { benchApply(b, bc.pack, 2000, 30) })
	}
}

// benchApply applies the workload to one partition through the Driver,
// committing every 1000 events, as BenchmarkApply does.
func benchApply(b *testing.B, pack *rules.Pack, customers, days int) {
	evs, span := workloadEvents(b, customers, days)
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	eng, err := engine.Open(b.TempDir(), pack, engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	p, err := eng.Partition(0)
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Release(p)
	d := engine.NewDriver(p)
	records := 0
	commit := func() {
		out, err := d.Flush()
		if err != nil {
			b.Fatal(err)
		}
		records += len(out.Records)
		if err := d.Commit(0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	var src engine.Events
	for i := 0; i < b.N; {
		k := i % len(evs)
		if k == 0 && i > 0 {
			b.StopTimer()
			round := i / len(evs)
			for j := range evs {
				evs[j].Time += span
				evs[j].ID = ids[j] + "#" + strconv.Itoa(round)
			}
			b.StartTimer()
		}
		n := min(b.N-i, len(evs)-k, 1000-i%1000)
		src = engine.Events{List: evs[k : k+n], First: int64(i)}
		if err := d.Process(&src); err != nil {
			b.Fatal(err)
		}
		if i += n; i%1000 == 0 {
			commit()
		}
	}
	commit()
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/event")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(records)/float64(b.N), "records/event")
}
