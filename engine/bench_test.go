package engine_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
)

// workloadEvents decodes a generated workload (the benchmarks' standard
// source) into events that own their strings, and returns the span of
// event time it covers.
func workloadEvents(tb testing.TB, customers, days int) ([]engine.Event, int64) {
	tb.Helper()
	g, err := journey.New(journey.Config{Customers: customers, Days: days, Seed: 1, BadRate: -1})
	if err != nil {
		tb.Fatal(err)
	}
	dec := decode.New(decode.Options{})
	var evs []engine.Event
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		var e engine.Event
		if err := dec.Decode(r.Value, nil, &e); err != nil {
			tb.Fatalf("workload record does not decode: %v: %s", err, r.Value)
		}
		e.ID, e.CustomerID, e.Account = strings.Clone(e.ID), strings.Clone(e.CustomerID), strings.Clone(e.Account)
		e.Type, e.Name = strings.Clone(e.Type), strings.Clone(e.Name)
		e.Traits = strings.Clone(e.Traits)
		evs = append(evs, e)
	}
	if len(evs) == 0 {
		tb.Fatal("empty workload")
	}
	return evs, evs[len(evs)-1].Time - evs[0].Time + day
}

// BenchmarkApply measures the engine's per-event cost: pre-decoded
// workload events applied to one partition over Pebble (in a temp dir)
// through the Driver, committing every 1000 events, as a runtime does per
// batch. When b.N
// exceeds the workload, it is replayed again later in event time with new
// event ids, so that every event is new work (not a duplicate).
func BenchmarkApply(b *testing.B) {
	for _, bc := range []struct {
		name            string
		customers, days int
		ahead           time.Duration // Options.MaxEventAhead
		// fold rewrites the workload's event names as another tool
		// spells them (RudderStack's snake_case), to measure the lookup
		// that matches them under the pack's event_match.
		fold bool
		// traits: a pack declaring 5 traits (the workload's identify
		// calls carry plan and email), read by an alert and a reason.
		traits bool
		// timeline: Options.TimelineRecords (each customer's last output
		// records, kept with the checkpoints).
		timeline int
	}{
		{"customers=2000", 2000, 30, 0, false, false, 0},
		// The bound judged against the input's progress: a comparison or
		// two per event.
		{"customers=2000/max_event_ahead=1d", 2000, 30, 24 * time.Hour, false, false, 0},
		{"customers=2000/names=snake_case", 2000, 30, 0, true, false, 0},
		{"customers=2000/traits=5", 2000, 30, 0, false, true, 0},
		{"customers=2000/timeline=50", 2000, 30, 0, false, false, 50},
	} {
		b.Run(bc.name, func(b *testing.B) {
			evs, span := workloadEvents(b, bc.customers, bc.days)
			if bc.fold {
				for i := range evs {
					evs[i].Name = strings.ToLower(strings.ReplaceAll(evs[i].Name, " ", "_"))
				}
			}
			ids := make([]string, len(evs))
			for i := range evs {
				ids[i] = evs[i].ID
			}
			pack := rules.Default()
			if bc.traits {
				src := strings.Replace(string(rules.DefaultYAML()), "\ntransitions:\n", "\n"+benchTraits+"\ntransitions:\n", 1)
				src = strings.Replace(src, "\nalerts:\n", "\nalerts:\n"+benchTraitAlert, 1)
				var err error
				if pack, _, err = rules.Parse("bench.yaml", []byte(src)); err != nil {
					b.Fatal(err)
				}
			}
			eng, err := engine.Open(b.TempDir(), pack, engine.Options{MaxEventAhead: bc.ahead, TimelineRecords: bc.timeline})
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
				if st := d.Stats(); st.Ahead != 0 {
					b.Fatalf("%d events rejected as too far ahead: the runs would not compare", st.Ahead)
				}
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
				// Up to the next commit, within this round of the workload.
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
		})
	}
}

const (
	benchTraits = `traits:
  - {name: plan, type: string}
  - {name: email, type: string}
  - {name: seats, type: number}
  - {name: mrr, type: number}
  - {name: managed, type: bool}
`
	benchTraitAlert = `  - name: pro-tickets
    severity: warning
    when: plan == "pro" && open_tickets >= 1 && !managed
    reasons: ["{plan} customer {email} has {open_tickets} tickets open"]
`
)

// BenchmarkStateEncode and BenchmarkStateDecode: the cost of a busy
// customer's encoding, paid once per changed customer per batch (encode)
// and once per cache miss (decode).
func BenchmarkStateEncode(b *testing.B) {
	s := busyCustomer(b)
	buf := s.AppendEncode(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = s.AppendEncode(buf[:0])
	}
}

func BenchmarkStateDecode(b *testing.B) {
	s := busyCustomer(b)
	enc := s.AppendEncode(nil)
	var got engine.State
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := got.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
