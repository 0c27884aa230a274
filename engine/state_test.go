package engine_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// randomState returns a state with every field set the way the engine can
// set it: times at or after first seen, a day ring, recent ids filled from
// slot 0, open alerts fired after first seen.
func randomState(r *rand.Rand) engine.State {
	var s engine.State
	stages := []string{"", "reach", "acquisition", "conversion", "retention", "loyalty", "churned", "a-stage-of-an-older-pack"}
	s.Stage = stages[r.IntN(len(stages))]
	first := t0 + r.Int64N(400*day) - 200*day
	if r.IntN(10) == 0 {
		first = 1 + r.Int64N(1<<40) // any time after the epoch
	}
	s.Times[rules.FirstSeen] = first
	later := func() int64 {
		switch r.IntN(4) {
		case 0:
			return 0 // never
		case 1:
			return first // the same instant
		}
		return first + r.Int64N(3*365*day)
	}
	for f := rules.FirstSeen + 1; f < rules.TimeField(len(s.Times)); f++ {
		s.Times[f] = later()
	}
	s.LastPaymentOK = later()
	s.Purchases = r.Uint32()
	s.RevenueCents = r.Int64() - r.Int64() // either sign (refunds)
	s.TicketsOpened = r.Uint32N(1000)
	s.OpenTickets = r.Uint32N(s.TicketsOpened + 1)
	s.FailedPayments = r.Uint32()
	s.Refunds = r.Uint32N(50)
	s.Referrals = r.Uint32N(50)
	s.NPS = int8(r.IntN(12) - 1) // -1 (none) to 10
	s.Health = uint8(r.IntN(101))
	s.Band = rules.Band(r.IntN(4))
	s.DayBase = int32(first/day) + int32(r.IntN(1000))
	for i := range s.Days {
		if r.IntN(3) > 0 {
			s.Days[i] = uint16(r.IntN(1 << 16))
		}
	}
	// Up to 64 remembered ids, sometimes a full ring turned anywhere.
	n := r.IntN(65)
	for i := 0; i < n; i++ {
		s.Recent = append(s.Recent, r.Uint64()|1)
	}
	if n > 0 && r.IntN(2) == 0 {
		s.RecentN = r.IntN(n)
	}
	alertNames := []string{"silent-customer", "usage-drop", "detractor", "support-overload", "payment-failed", "abandoned-signup", "ünïcode-rule"}
	for i := r.IntN(len(alertNames) + 1); i > 0; i-- {
		s.Alerts = append(s.Alerts, engine.OpenAlert{Rule: alertNames[r.IntN(len(alertNames))], FiredAt: first + r.Int64N(365*day)})
	}
	s.TimerDue = later()
	// Alert holds: pending since, cooldown until, or both.
	for i, n := 0, r.IntN(4); i < n; i++ {
		h := engine.AlertHold{Rule: alertNames[i]}
		switch r.IntN(3) {
		case 0:
			h.PendingSince = first + r.Int64N(365*day)
		case 1:
			h.CooldownUntil = first + r.Int64N(365*day)
		default:
			h.PendingSince = first + r.Int64N(365*day)
			h.CooldownUntil = h.PendingSince + r.Int64N(30*day)
		}
		s.Holds = append(s.Holds, h)
	}
	// Trait values: each kind, names of older and newer packs alike.
	traitNames := []string{"plan", "seats", "mrr", "csm_owner", "enterprise", "ünïcode"}
	for i, n := 0, r.IntN(len(traitNames)+1); i < n; i++ {
		var v rules.TraitValue
		switch r.IntN(3) {
		case 0:
			v = rules.TraitValue{Kind: rules.TraitString, Str: stages[r.IntN(len(stages))]}
		case 1:
			v = rules.TraitValue{Kind: rules.TraitNumber, Num: r.NormFloat64() * 1e6}
		default:
			v = rules.TraitValue{Kind: rules.TraitBool, Num: float64(r.IntN(2))}
		}
		s.Traits = append(s.Traits, v)
		s.TraitNames = append(s.TraitNames, traitNames[i])
	}
	return s
}

// recentOldestFirst lists the remembered event hashes from the oldest, the
// order that matters (which one is forgotten next).
func recentOldestFirst(s *engine.State) []uint64 {
	var ids []uint64
	for k := range s.Recent {
		ids = append(ids, s.Recent[(s.RecentN+k)%len(s.Recent)])
	}
	return ids
}

// sameState compares two states, the dedupe ring by content and age order
// rather than by slot.
func sameState(a, b engine.State) bool {
	ra, rb := recentOldestFirst(&a), recentOldestFirst(&b)
	a.Recent, b.Recent = nil, nil
	a.RecentN, b.RecentN = 0, 0
	if len(a.Alerts) == 0 {
		a.Alerts = nil
	}
	if len(b.Alerts) == 0 {
		b.Alerts = nil
	}
	if len(a.Holds) == 0 {
		a.Holds = nil
	}
	if len(b.Holds) == 0 {
		b.Holds = nil
	}
	for _, x := range []*engine.State{&a, &b} {
		if len(x.Traits) == 0 {
			x.Traits, x.TraitNames = nil, nil
		}
	}
	return reflect.DeepEqual(a, b) && reflect.DeepEqual(ra, rb)
}

func TestStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		s := randomState(r)
		enc := s.AppendEncode(nil)
		var got engine.State
		if err := got.Decode(enc); err != nil {
			t.Fatalf("state %d: decode: %v\n%+v", i, err, s)
		}
		if !sameState(s, got) {
			t.Fatalf("state %d: round trip changed it:\nin  %+v\nout %+v", i, s, got)
		}
		// Encoding is canonical: the decoded state encodes the same.
		if again := got.AppendEncode(nil); !bytes.Equal(again, enc) {
			t.Fatalf("state %d: re-encoding differs", i)
		}
		// AppendEncode appends: a prefix is kept.
		if withPrefix := s.AppendEncode([]byte("key")); !bytes.Equal(withPrefix[3:], enc) || string(withPrefix[:3]) != "key" {
			t.Fatalf("state %d: AppendEncode does not append", i)
		}
	}
}

// Decode replaces the whole state: nothing of the previous one leaks into
// the next, as when a cache entry or a reused State is decoded into.
func TestStateDecodeReplaces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var s engine.State
	for i := 0; i < 500; i++ {
		want := randomState(r)
		if err := s.Decode(want.AppendEncode(nil)); err != nil {
			t.Fatal(err)
		}
		if !sameState(want, s) {
			t.Fatalf("decode %d into a used state:\nwant %+v\ngot  %+v", i, want, s)
		}
	}
}

func TestStateDecodeNewerVersion(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := randomState(r)
	enc := s.AppendEncode(nil)
	for _, v := range []byte{enc[0] + 1, 0x7f, 0xff} {
		b := append([]byte{v}, enc[1:]...)
		var got engine.State
		err := got.Decode(b)
		if !errors.Is(err, engine.ErrNewerState) {
			t.Errorf("version byte %d: error %v, want ErrNewerState", v, err)
		}
	}
}

// Every strict prefix of a valid encoding is an error (not a state with
// missing fields), and no input makes Decode panic.
func TestStateDecodeTruncatedAndCorrupt(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 200; i++ {
		s := randomState(r)
		enc := s.AppendEncode(nil)
		for n := 0; n < len(enc); n++ {
			var got engine.State
			if err := got.Decode(enc[:n]); err == nil {
				t.Fatalf("state %d: a %d-byte prefix of %d bytes decoded without error", i, n, len(enc))
			}
		}
		for k := 0; k < 50; k++ {
			b := bytes.Clone(enc)
			for m := 1 + r.IntN(4); m > 0; m-- {
				b[r.IntN(len(b))] = byte(r.Uint32())
			}
			var got engine.State
			_ = got.Decode(b) // must not panic; may or may not be detected
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version only", []byte{1}},
		{"stage longer than the input", []byte{1, 100, 'a'}},
		{"huge stage length", append([]byte{1}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"overlong varint", append([]byte{1, 0}, bytes.Repeat([]byte{0x80}, 11)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got engine.State
			if err := got.Decode(tc.b); err == nil {
				t.Errorf("decoded %x without error", tc.b)
			}
		})
	}
}

// Counts that cannot fit their fields are corruption, not a state.
func TestStateDecodeRejectsImpossibleCounts(t *testing.T) {
	s := engine.State{Stage: "retention", NPS: -1}
	s.Times[rules.FirstSeen] = t0
	s.DayBase = int32(t0 / day)
	enc := s.AppendEncode(nil)
	// With every optional part empty the encoding ends in: day-count 0,
	// recent-count 0, alert-count 0, timer 0, alerts fired 0, holds 0,
	// traits 0.
	tail := len(enc) - 7
	if !bytes.Equal(enc[tail:], []byte{0, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("unexpected encoding tail % x", enc[tail:])
	}
	for _, tc := range []struct {
		name string
		at   int
		v    byte
	}{
		{"more days than the window", tail, byte(len(s.Days) + 1)},
		{"more recent ids than bytes left", tail + 1, 5},
		{"alerts that are not there", tail + 2, 3},
		{"alert holds that are not there", tail + 5, 2},
		{"traits that are not there", tail + 6, 2},
		{"more traits than a pack declares", tail + 6, rules.MaxTraits + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(enc)
			b[tc.at] = tc.v
			var got engine.State
			if err := got.Decode(b); err == nil {
				t.Errorf("decoded without error: %+v", got)
			}
		})
	}
}

// The number of remembered ids is bounded by MaxDedupeIDs, bytes or not,
// and a zero hash (an empty slot) is never a remembered id.
func TestStateDecodeRejectsTooManyIDs(t *testing.T) {
	s := engine.State{Stage: "retention", NPS: -1}
	s.Times[rules.FirstSeen] = t0
	enc := s.AppendEncode(nil)
	tail := len(enc) - 6 // recent-count 0, then alert-count, timer, alerts fired, holds, traits
	splice := func(n int, h byte) []byte {
		b := binary.AppendUvarint(bytes.Clone(enc[:tail]), uint64(n))
		b = append(b, bytes.Repeat([]byte{h}, 8*n)...)
		return append(b, enc[tail+1:]...)
	}
	var got engine.State
	if err := got.Decode(splice(engine.MaxDedupeIDs, 1)); err != nil || len(got.Recent) != engine.MaxDedupeIDs {
		t.Fatalf("%d ids: %v, %d decoded; want them all", engine.MaxDedupeIDs, err, len(got.Recent))
	}
	if err := got.Decode(splice(engine.MaxDedupeIDs+1, 1)); err == nil {
		t.Errorf("%d ids decoded without error", engine.MaxDedupeIDs+1)
	}
	if err := got.Decode(splice(2, 0)); err == nil {
		t.Errorf("zero hashes decoded without error: %v", got.Recent)
	}
}

// FuzzStateDecode: Decode never panics; whatever it accepts re-encodes to
// an encoding that decodes to the same state and encodes the same again.
func FuzzStateDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 8; i++ {
		s := randomState(r)
		f.Add(s.AppendEncode(nil))
	}
	busy := busyCustomer(f)
	f.Add(busy.AppendEncode(nil))
	f.Add([]byte{})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s engine.State
		if err := s.Decode(b); err != nil {
			return
		}
		enc := s.AppendEncode(nil)
		var s2 engine.State
		if err := s2.Decode(enc); err != nil {
			t.Fatalf("re-encoding of an accepted state does not decode: %v", err)
		}
		if !sameState(s, s2) {
			t.Fatalf("accepted state changes through encode/decode:\n%+v\n%+v", s, s2)
		}
		if enc2 := s2.AppendEncode(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: % x vs % x", enc, enc2)
		}
	})
}

// busyCustomer is a paying customer after 90 days of heavy use: daily
// sessions, monthly renewals, tickets, NPS answers, open alerts.
func busyCustomer(tb testing.TB) engine.State {
	tb.Helper()
	h := newHarness(tb, engine.Options{})
	id := 0
	next := func() string { id++; return fmt.Sprintf("msg_%016x", id*7919) }
	h.apply(ev("cus_000042", "Email Opened", t0, next()))
	h.apply(ev("cus_000042", "Signed Up", t0+hour, next()))
	h.apply(purchase("cus_000042", t0+2*hour, next(), 99))
	for d := int64(0); d < 90; d++ {
		at := t0 + d*day + 9*hour
		for s := int64(0); s < 4; s++ {
			h.apply(ev("cus_000042", "Feature Used", at+s*hour, next()))
		}
		if d%30 == 29 {
			h.apply(purchase("cus_000042", at+5*hour, next(), 99))
		}
		if d%9 == 0 {
			h.apply(ev("cus_000042", "Ticket Opened", at+6*hour, next()))
		}
	}
	h.apply(nps("cus_000042", t0+89*day, next(), 3))
	h.apply(ev("cus_000042", "Payment Failed", t0+89*day+23*hour, next())) // after the day's renewal
	return h.state("cus_000042")
}

// The encoded size of a busy customer bounds the store and the changelog.
// It is about 230 bytes (64 of them the 8 remembered event-id hashes of
// the default dedupe horizon, 35 the day counts, about 50 the names of 3
// open alerts): 10 million such customers take about 2.3 GB before
// Pebble's compression (random hashes do not compress). Each id more adds
// 8 bytes.
func TestBusyCustomerEncodedSize(t *testing.T) {
	s := busyCustomer(t)
	if s.Stage != "retention" || len(s.Alerts) < 3 || s.OpenTickets < 3 {
		t.Fatalf("not the busy customer intended: stage %s, %d open alerts, %d open tickets", s.Stage, len(s.Alerts), s.OpenTickets)
	}
	enc := s.AppendEncode(nil)
	t.Logf("busy customer: %d bytes encoded (%d open alerts, %d remembered ids, %d days of counts)", len(enc), len(s.Alerts), len(recentOldestFirst(&s)), len(s.Days))
	const budget = 192 + 8*engine.DefaultDedupeIDs
	if len(enc) > budget {
		t.Errorf("busy customer encodes to %d bytes, over the %d-byte budget", len(enc), budget)
	}
}

// TestRFC3339Millis: output timestamps match time's own formatting,
// across leap years, century rules and the edges of the day.
func TestRFC3339Millis(t *testing.T) {
	const layout = "2006-01-02T15:04:05.000Z07:00"
	cases := []int64{0, -1, 1, 86_399_999, 86_400_000, -86_400_000, 951_782_400_000, 4_107_542_399_999, 253_402_300_799_999, -62_135_596_800_000}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		cases = append(cases, r.Int64N(253_402_300_800_000+62_135_596_800_000)-62_135_596_800_000)
	}
	for _, ms := range cases {
		want := time.UnixMilli(ms).UTC().Format(layout)
		if got := string(engine.AppendRFC3339Millis(nil, ms)); got != want {
			t.Fatalf("%d ms: got %s, want %s", ms, got, want)
		}
	}
}
