package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/lifeline-hq/lifeline/rules"
)

// DayMillis is one UTC day in milliseconds; daily counts are bucketed by
// UTC day.
const DayMillis = 24 * 3600 * 1000

// windowDays is how many daily engagement counts a customer keeps: the
// 7-day window plus the 28 days before it (usage-drop's baseline); the
// 30-day window fits inside.
const windowDays = 35

// DefaultDedupeIDs is how many recent event ids a customer remembers for
// deduplication unless Options.DedupeIDs says otherwise: a redelivery
// with at most DefaultDedupeIDs-1 of the customer's other events between
// it and the original is dropped. It stays at the 8 of earlier versions:
// each id is 8 bytes of every customer's state, written to the store at
// each checkpoint and to the changelog at each batch, and in the engine's
// benchmark 12 ids cost 5-10% more CPU per event, 16 about 10-20%
// (bench/README.md), over the ~5% a default may cost. A deployment that
// needs a longer horizon sets Options.DedupeIDs knowing the price.
const DefaultDedupeIDs = 8

// MaxDedupeIDs bounds Options.DedupeIDs (and what Decode accepts): 8 KiB
// of hashes per customer.
const MaxDedupeIDs = 1024

// oldDedupeSlots is how many ids encodings before version 3 held.
const oldDedupeSlots = 8

// OpenAlert is an alert that fired and has not resolved.
type OpenAlert struct {
	Rule    string
	FiredAt int64 // event time of the firing, Unix ms
	// Seq numbers the customer's firings (1, 2, ...): with the customer,
	// rule and FiredAt it makes the alert id, unique even when a rule
	// fires, resolves and fires again within one millisecond.
	Seq uint32
}

// AlertHold is what one alert rule remembers of a customer between its
// firings: since when its condition has held without firing (the rule's
// for, or its cooldown, holds it back), and until when the cooldown
// after its last resolve lasts. A rule with neither has no hold.
type AlertHold struct {
	Rule string
	// PendingSince is the event time the condition was first seen to
	// hold, at an evaluation that did not fire it (0: not pending). Any
	// evaluation that sees it false clears it.
	PendingSince int64
	// CooldownUntil: no firing before this event time (0: no cooldown).
	CooldownUntil int64
}

// State is one customer's lifecycle state. Times are Unix milliseconds, 0
// for never.
type State struct {
	Stage string
	// Times, indexed by rules.TimeField: first/last seen, last
	// engagement, last purchase, stage entered, last payment failed.
	Times          rules.Times
	LastPaymentOK  int64
	Purchases      uint32
	RevenueCents   int64
	TicketsOpened  uint32
	OpenTickets    uint32
	FailedPayments uint32
	Refunds        uint32
	Referrals      uint32
	NPS            int8 // -1: never answered
	Health         uint8
	Band           rules.Band // NoBand: never scored
	// Days is a ring of daily engagement counts; Days[DayBase%windowDays]
	// is the count of day DayBase (days since the Unix epoch, UTC).
	DayBase int32
	Days    [windowDays]uint16
	// Recent holds hashes of the customer's last event ids (never 0),
	// at most the partition's dedupe horizon (Options.DedupeIDs) of them:
	// in arrival order while it fills, then a ring whose oldest entry,
	// the next to be overwritten, is Recent[RecentN]. Decode lays them
	// out oldest first.
	Recent  []uint64
	RecentN int
	Alerts  []OpenAlert
	// AlertsFired counts the customer's alert firings (the last Seq).
	AlertsFired uint32
	// Holds are the alert rules waiting out a for or a cooldown, in the
	// order they began to.
	Holds []AlertHold
	// TimerDue is the due time under which this customer is indexed in the
	// partition's timer index (0: not indexed). The real next due time may
	// be later: timers are rescheduled lazily when they fire.
	TimerDue int64
	// Traits are the customer's trait values, TraitNames their names
	// (engine/traits.go): once the engine has used the state under a
	// pack, one per pack trait in its order, and TraitNames is the pack's
	// own slice (never modified in place); decoded, the values it had.
	Traits     []rules.TraitValue
	TraitNames []string
}

// reset makes s a new customer's state, keeping its slices' memory.
func (s *State) reset() {
	alerts, recent, holds, traits := s.Alerts[:0], s.Recent[:0], s.Holds[:0], s.Traits[:0]
	*s = State{NPS: -1, Alerts: alerts, Recent: recent, Holds: holds, Traits: traits}
}

// dedupe reports whether the event id hash h is among the customer's
// last n remembered ids, and remembers it (forgetting the oldest beyond
// n) when it is not. A state kept under a larger horizon (a restart with
// a smaller Options.DedupeIDs) keeps its newest n first. Once the ring
// has grown to n it costs no allocation.
func (s *State) dedupe(h uint64, n int) (seen bool) {
	if len(s.Recent) > n {
		s.keepNewestRecent(n)
	}
	for _, x := range s.Recent {
		if x == h {
			return true
		}
	}
	switch {
	case len(s.Recent) < n:
		if len(s.Recent) == cap(s.Recent) {
			// Straight to the horizon: one allocation per customer
			// loaded, not one per doubling.
			s.Recent = slices.Grow(s.Recent, n-len(s.Recent))
		}
		s.Recent = append(s.Recent, h)
	default:
		s.Recent[s.RecentN] = h
		if s.RecentN++; s.RecentN == len(s.Recent) {
			s.RecentN = 0
		}
	}
	return false
}

// keepNewestRecent keeps the newest n remembered ids, oldest first.
func (s *State) keepNewestRecent(n int) {
	r := s.Recent
	if k := s.RecentN; k != 0 { // rotate the oldest to the front
		slices.Reverse(r[:k])
		slices.Reverse(r[k:])
		slices.Reverse(r)
	}
	s.Recent = r[:copy(r, r[len(r)-n:])]
	s.RecentN = 0
}

// recentOldest returns the k-th oldest remembered id.
func (s *State) recentOldest(k int) uint64 {
	i := s.RecentN + k
	if i >= len(s.Recent) {
		i -= len(s.Recent)
	}
	return s.Recent[i]
}

// addEngagement counts one engagement on day.
func (s *State) addEngagement(day int32) {
	s.advanceDays(day)
	if day <= s.DayBase-windowDays {
		return // too late to count
	}
	i := dayIdx(day)
	if s.Days[i] < math.MaxUint16 {
		s.Days[i]++
	}
}

// advanceDays moves the ring forward to day, zeroing the days it skips.
func (s *State) advanceDays(day int32) {
	if day <= s.DayBase {
		return
	}
	gap := day - s.DayBase
	if s.DayBase == 0 || gap >= windowDays {
		s.Days = [windowDays]uint16{}
	} else {
		for d := s.DayBase + 1; d <= day; d++ {
			s.Days[dayIdx(d)] = 0
		}
	}
	s.DayBase = day
}

// windows sums the engagement counts as of day: the last 7, 28 and 30
// days (day included), and the weekly average of the 28 days before the
// last 7.
func (s *State) windows(day int32) (w7, w28, w30, baseline float64) {
	// k counts days back from day; the ring holds days
	// (DayBase-windowDays, DayBase], so days after DayBase are zero and
	// the walk starts at the first stored one.
	k := int32(0)
	if day > s.DayBase {
		k = day - s.DayBase
	}
	i := dayIdx(day - k)
	var c7, c28, c30, before int
	for ; k < windowDays && day-k > s.DayBase-windowDays; k++ {
		c := int(s.Days[i])
		if k < 7 {
			c7 += c
		} else {
			before += c
		}
		if k < 28 {
			c28 += c
		}
		if k < 30 {
			c30 += c
		}
		if i--; i < 0 {
			i = windowDays - 1
		}
	}
	return float64(c7), float64(c28), float64(c30), float64(before) / 4
}

// hold returns the index of rule's hold, or -1.
func (s *State) hold(rule string) int {
	for i := range s.Holds {
		if s.Holds[i].Rule == rule {
			return i
		}
	}
	return -1
}

func (s *State) openAlert(rule string) int {
	for i := range s.Alerts {
		if s.Alerts[i].Rule == rule {
			return i
		}
	}
	return -1
}

// The state encoding: a version byte, then fields in a fixed order as
// varints. A new field goes at the end under a new version; decoders of a
// newer version read older encodings with the new fields at their zero
// values, and an older binary refuses a newer encoding with ErrNewerState
// rather than misreading it.
//
// Version 2 added AlertsFired and each open alert's Seq, after TimerDue.
// Version 3 writes the number of remembered event ids as a uvarint (up to
// MaxDedupeIDs) where earlier versions wrote a byte of at most 8: an older
// binary must refuse a state with more ids than it has slots.
// Version 4 added the alert holds (AlertHold: pending since, cooldown
// until) after the open alerts' Seqs; earlier versions decode without
// any.
// Version 5 added the trait values after the holds: a count, then each
// value the customer has (absent ones are not written) as its name, its
// rules.TraitKind and the value (a string; a float64's 8 bytes; a bool's
// byte). Earlier versions decode without traits.
const stateVersion = 5

// ErrNewerState is returned for a state written by a newer Lifeline.
var ErrNewerState = errors.New("customer state written by a newer version of lifeline")

// AppendEncode appends s's encoding to dst.
func (s *State) AppendEncode(dst []byte) []byte {
	dst = append(dst, stateVersion)
	dst = appendString(dst, s.Stage)
	base := s.Times[rules.FirstSeen]
	dst = binary.AppendVarint(dst, base)
	for f := rules.FirstSeen + 1; f < rules.TimeField(len(s.Times)); f++ {
		dst = appendTime(dst, s.Times[f], base)
	}
	dst = appendTime(dst, s.LastPaymentOK, base)
	dst = binary.AppendUvarint(dst, uint64(s.Purchases))
	dst = binary.AppendVarint(dst, s.RevenueCents)
	dst = binary.AppendUvarint(dst, uint64(s.TicketsOpened))
	dst = binary.AppendUvarint(dst, uint64(s.OpenTickets))
	dst = binary.AppendUvarint(dst, uint64(s.FailedPayments))
	dst = binary.AppendUvarint(dst, uint64(s.Refunds))
	dst = binary.AppendUvarint(dst, uint64(s.Referrals))
	dst = append(dst, byte(s.NPS), s.Health, byte(s.Band))
	// Daily counts: the base day, then how many days (newest first) are
	// stored, trailing zero days dropped.
	dst = binary.AppendVarint(dst, int64(s.DayBase))
	day0 := dayIdx(s.DayBase)
	at := func(k int) uint16 { // k days before DayBase
		i := day0 - k
		if i < 0 {
			i += windowDays
		}
		return s.Days[i]
	}
	n := 0
	for k := 0; k < windowDays; k++ {
		if at(k) != 0 {
			n = k + 1
		}
	}
	dst = append(dst, byte(n))
	for k := 0; k < n; k++ {
		dst = binary.AppendUvarint(dst, uint64(at(k)))
	}
	// Recent event hashes, oldest first.
	dst = binary.AppendUvarint(dst, uint64(len(s.Recent)))
	for k := range s.Recent {
		dst = binary.LittleEndian.AppendUint64(dst, s.recentOldest(k))
	}
	dst = append(dst, byte(len(s.Alerts)))
	for _, a := range s.Alerts {
		dst = appendString(dst, a.Rule)
		dst = appendTime(dst, a.FiredAt, base)
	}
	dst = appendTime(dst, s.TimerDue, base)
	dst = binary.AppendUvarint(dst, uint64(s.AlertsFired))
	for _, a := range s.Alerts {
		dst = binary.AppendUvarint(dst, uint64(a.Seq))
	}
	dst = append(dst, byte(len(s.Holds)))
	for _, h := range s.Holds {
		dst = appendString(dst, h.Rule)
		dst = appendTime(dst, h.PendingSince, base)
		dst = appendTime(dst, h.CooldownUntil, base)
	}
	dst = s.appendTraits(dst)
	return dst
}

// appendTraits encodes the trait values the customer has (version 5).
func (s *State) appendTraits(dst []byte) []byte {
	n := 0
	for i := range s.Traits {
		if s.Traits[i].Kind != rules.TraitAbsent {
			n++
		}
	}
	dst = append(dst, byte(n))
	for i := range s.Traits {
		t := &s.Traits[i]
		if t.Kind == rules.TraitAbsent {
			continue
		}
		dst = appendString(dst, s.TraitNames[i])
		dst = append(dst, byte(t.Kind))
		switch t.Kind {
		case rules.TraitString:
			dst = appendString(dst, t.Str)
		case rules.TraitNumber:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(t.Num))
		default:
			dst = append(dst, byte(t.Num))
		}
	}
	return dst
}

// decodeTraits reads appendTraits' encoding.
func (s *State) decodeTraits(d *decoder) {
	n := int(d.byte())
	if n > rules.MaxTraits {
		d.fail()
		return
	}
	if n > 0 {
		s.TraitNames = make([]string, 0, n)
	}
	for k := 0; k < n && d.err == nil; k++ {
		name := d.string()
		v := rules.TraitValue{Kind: rules.TraitKind(d.byte())}
		switch v.Kind {
		case rules.TraitString:
			v.Str = d.string()
		case rules.TraitNumber:
			// The engine keeps finite numbers only (validTraitNum).
			if v.Num = math.Float64frombits(d.uint64()); v.Num-v.Num != 0 {
				d.fail()
			}
		case rules.TraitBool:
			if v.Num = float64(d.byte()); v.Num > 1 {
				d.fail()
			}
		default:
			d.fail()
		}
		s.TraitNames = append(s.TraitNames, name)
		s.Traits = append(s.Traits, v)
	}
}

func dayIdx(d int32) int {
	i := int(d) % windowDays
	if i < 0 {
		i += windowDays
	}
	return i
}

// appendTime encodes t relative to base (0 stays 0).
func appendTime(dst []byte, t, base int64) []byte {
	if t == 0 {
		return append(dst, 0)
	}
	return binary.AppendVarint(dst, t-base+1)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Decode replaces s with the state encoded in b.
func (s *State) Decode(b []byte) error {
	d := decoder{b: b}
	v := d.byte()
	if d.err == nil && v > stateVersion {
		return fmt.Errorf("%w (encoding version %d, this binary reads up to %d)", ErrNewerState, v, stateVersion)
	}
	s.reset()
	s.Stage = d.string()
	base := d.varint()
	s.Times[rules.FirstSeen] = base
	for f := rules.FirstSeen + 1; f < rules.TimeField(len(s.Times)); f++ {
		s.Times[f] = d.time(base)
	}
	s.LastPaymentOK = d.time(base)
	s.Purchases = uint32(d.uvarint())
	s.RevenueCents = d.varint()
	s.TicketsOpened = uint32(d.uvarint())
	s.OpenTickets = uint32(d.uvarint())
	s.FailedPayments = uint32(d.uvarint())
	s.Refunds = uint32(d.uvarint())
	s.Referrals = uint32(d.uvarint())
	s.NPS = int8(d.byte())
	s.Health = d.byte()
	s.Band = rules.Band(d.byte())
	s.DayBase = int32(d.varint())
	n := int(d.byte())
	if n > windowDays {
		d.fail()
	}
	for k := 0; k < n && d.err == nil; k++ {
		s.Days[dayIdx(s.DayBase-int32(k))] = uint16(d.uvarint())
	}
	var cnt int
	if v >= 3 {
		cnt = int(min(d.uvarint(), MaxDedupeIDs+1))
		if cnt > MaxDedupeIDs || cnt*8 > len(d.b) {
			d.fail()
			cnt = 0
		}
	} else if cnt = int(d.byte()); cnt > oldDedupeSlots {
		d.fail()
		cnt = 0
	}
	s.Recent = slices.Grow(s.Recent, cnt)[:cnt]
	for k := range s.Recent {
		if s.Recent[k] = d.uint64(); s.Recent[k] == 0 {
			d.fail() // 0 is no hash: only a ring's empty slot, never encoded
		}
	}
	na := int(d.byte())
	for k := 0; k < na && d.err == nil; k++ {
		rule := d.string()
		s.Alerts = append(s.Alerts, OpenAlert{Rule: rule, FiredAt: d.time(base)})
	}
	s.TimerDue = d.time(base)
	if v >= 2 {
		s.AlertsFired = uint32(d.uvarint())
		for k := range s.Alerts {
			s.Alerts[k].Seq = uint32(d.uvarint())
		}
	}
	if v >= 4 {
		nh := int(d.byte())
		for k := 0; k < nh && d.err == nil; k++ {
			rule := d.string()
			pending := d.time(base)
			s.Holds = append(s.Holds, AlertHold{Rule: rule, PendingSince: pending, CooldownUntil: d.time(base)})
		}
	}
	if v >= 5 {
		s.decodeTraits(&d)
	}
	if d.err != nil {
		return fmt.Errorf("decode customer state (%d bytes): %w", len(b), d.err)
	}
	return nil
}

var errCorrupt = errors.New("truncated or corrupt encoding")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) time(base int64) int64 {
	v := d.varint()
	if v == 0 {
		return 0
	}
	return base + v - 1
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
