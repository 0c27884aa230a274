package main

import (
	"io"
	"testing"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
)

// The hot path, piece by piece: go test -bench . -benchmem ./bench

// sampleEvents returns n good Segment events from the generator.
func sampleEvents(b *testing.B, customers, days int) [][]byte {
	b.Helper()
	g, err := journey.New(journey.Config{Customers: customers, Days: days, BadRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		out = append(out, append([]byte(nil), r.Value...))
	}
	return out
}

func BenchmarkDecodeSegment(b *testing.B) {
	evs := sampleEvents(b, 1000, 7)
	d := decode.New(decode.Options{})
	var ev engine.Event
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(evs[i%len(evs)], nil, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	pack := rules.Default()
	names := []string{"Signed In", "Order Completed", "Ticket Opened", "Unmapped Event", ""}
	types := []string{"track", "track", "track", "track", "page"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(names)
		_ = pack.Classify(types[k], names[k])
	}
}

func busyState() engine.State {
	st := engine.State{Stage: "retention", NPS: 8, Purchases: 7, RevenueCents: 123456, OpenTickets: 1, TicketsOpened: 4, Health: 81, Band: rules.Green}
	now := int64(1_780_000_000_000)
	for f := range st.Times {
		st.Times[f] = now - int64(f)*3_600_000
	}
	st.DayBase = int32(now / engine.DayMillis)
	for i := range st.Days {
		st.Days[i] = uint16(i % 5)
	}
	for i := range engine.DefaultDedupeIDs { // a full dedupe horizon
		st.Recent = append(st.Recent, uint64(i+1)*0x9e3779b97f4a7c15)
	}
	st.Alerts = []engine.OpenAlert{{Rule: "usage-drop", FiredAt: now - 86_400_000}}
	st.TimerDue = now + 14*engine.DayMillis
	return st
}

func BenchmarkStateEncode(b *testing.B) {
	st := busyState()
	buf := st.AppendEncode(nil)
	b.ReportMetric(float64(len(buf)), "bytes/state")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = st.AppendEncode(buf[:0])
	}
}

func BenchmarkStateDecode(b *testing.B) {
	st := busyState()
	buf := st.AppendEncode(nil)
	var out engine.State
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := out.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRulesDefaultPack evaluates what one event costs in rules: the
// stage machine for a purchase in conversion, the scorecard, and every
// alert rule of the default pack.
func BenchmarkRulesDefaultPack(b *testing.B) {
	pack := rules.Default()
	var v rules.Vars
	v.Num[rules.Purchases] = 1
	v.Num[rules.OpenTickets] = 2
	v.Num[rules.NPS] = 8
	v.Num[rules.Engagement7d] = 3
	v.Num[rules.Engagement30d] = 14
	v.Num[rules.BaselineWeekly] = 5
	v.Num[rules.DaysSinceEngagement] = 2
	v.Bool[rules.HasNPS] = true
	v.Str[rules.Stage] = "conversion"
	v.Str[rules.Touchpoint] = "purchase"
	var times rules.Times
	now := int64(1_780_000_000_000)
	for f := range times {
		times[f] = now - 86_400_000
	}
	si := pack.StageIndex("conversion")
	comps := make([]float64, len(pack.Health.Components))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, t := range pack.EventTransitions(si, rules.CatPurchase) {
			if t.When == nil || t.When(&v) {
				break
			}
		}
		pack.Health.Eval(&v, comps)
		for _, a := range pack.Alerts {
			_ = a.Active(&v, si, &times, now)
		}
	}
}

// BenchmarkApply is the engine's per-event cost with Pebble: decode, the
// customer's read-modify-write through the cache, rules, outputs, and a
// commit every 1000 events, over 10,000 customers with skewed activity;
// with a checkpoint at every commit, and every 20,000 events (the Kafka
// runtime's default).
func BenchmarkApply(b *testing.B) {
	evs := sampleEvents(b, 10000, 14)
	for _, bc := range []struct {
		name string
		opts engine.Options
	}{
		{"checkpoint=every-commit", engine.Options{}},
		{"checkpoint=20k-events", engine.Options{CheckpointEvents: 20_000}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchApply(b, evs, bc.opts) })
	}
}

func benchApply(b *testing.B, evs [][]byte, opts engine.Options) {
	eng, err := engine.Open(b.TempDir(), rules.Default(), opts)
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
	src := &rounds{dec: decode.New(decode.Options{}), vals: evs}
	b.ReportAllocs()
	b.ResetTimer()
	for src.end < b.N {
		src.end = min(src.end+1000, b.N)
		if err := d.Process(src); err != nil {
			b.Fatal(err)
		}
		if err := commit(d); err != nil {
			b.Fatal(err)
		}
	}
}

// rounds is a Source over encoded events, replayed round after round
// up to end, each round's events new: later in time, without an id (the
// ids of a replay would be duplicates).
type rounds struct {
	dec    *decode.Decoder
	vals   [][]byte
	i, end int
}

func (s *rounds) Next() (int64, error) {
	if s.i >= s.end {
		return 0, io.EOF
	}
	s.i++
	return int64(s.i - 1), nil
}

func (s *rounds) Event(ev *engine.Event) bool {
	i := s.i - 1
	if err := s.dec.Decode(s.vals[i%len(s.vals)], nil, ev); err != nil {
		return false
	}
	ev.ID = ""
	ev.Time += int64(i/len(s.vals)) * 14 * engine.DayMillis
	return true
}

// commit ends a batch as the Kafka runtime does: flush, commit, and a
// checkpoint when one is due (there, while it polls).
func commit(d *engine.Driver) error {
	if _, err := d.Flush(); err != nil {
		return err
	}
	if err := d.Commit(0); err != nil {
		return err
	}
	if p := d.Partition(); p.CheckpointDue() {
		return p.Checkpoint()
	}
	return nil
}
