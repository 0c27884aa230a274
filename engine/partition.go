package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"

	"github.com/lifeline-hq/lifeline/rules"
)

// Partition processes one input partition: it applies events to customer
// states, runs the stage machine, the health scorecard, the alert rules
// and the timers, and checkpoints states together with the input position.
//
// A batch is: Apply (and Skip) for each input record, then Flush, which
// hands back the changelog entries, then Commit once the outputs are
// durable (or Abort, which undoes the batch). Nothing reaches Pebble
// before Commit. A checkpoint writes the committed states, the timers and
// the input position in one atomic Pebble batch: a process killed at any
// instant restarts from a consistent checkpoint. By default every Commit
// checkpoints; with Options.CheckpointEvents or CheckpointInterval,
// checkpoints come less often and coalesce the writes in between.
//
// A Partition is not safe for concurrent use.
type Partition struct {
	e        *Engine
	id       int32
	pack     *rules.Pack
	lateness int64

	meta  Meta
	cache map[string]*entry
	dirty []*entry // changed by the batch in progress
	// pending are committed but not yet checkpointed; their encodings
	// live in pendBuf until the checkpoint.
	pending []*entry
	pendBuf []byte
	pendLen int // len(pendBuf) at the last Commit
	// batch holds the timer index changes since the last checkpoint; it
	// is indexed so that timer scans see them. States and the meta join
	// it at the checkpoint. undo records the batch in progress's changes
	// (keys in undoBuf), so that Abort can take them back.
	batch   *pebble.Batch
	undo    []undoOp
	undoBuf []byte
	// metaEnc is the meta as of the last Commit (nil: none since open);
	// ckptEvents and ckptAt are meta.Events and the time at the last
	// checkpoint.
	metaEnc []byte
	// committedNext is meta.Next as of the last Commit (or open): a batch
	// is in progress, maybe only of skipped records, when they differ.
	committedNext int64
	ckptEvents    int64
	ckptAt        time.Time
	// committed maps the pending customers to their committed encodings
	// (in pendBuf), so that Engine.Lookup, from other goroutines, answers
	// with the last commit rather than the last checkpoint. The cache is
	// the partition goroutine's alone.
	cmu       sync.RWMutex
	committed map[string][]byte
	nextDue   int64 // earliest key in the timer index (0: none)
	// timerFloor: every timer due at or before it has fired and its key is
	// deleted. Scans start above it, so they seek past the tombstones fired
	// timers leave (a queue in an LSM) instead of stepping through them.
	// New keys are always due after the watermark, which is at or above
	// the floor.
	timerFloor int64

	vars      rules.Vars
	comps     []float64
	keyBuf    []byte
	encBuf    []byte
	offs      []int  // Flush's scratch
	flushMeta []byte // the meta encoding Flush handed out
	timerKeys [][]byte
	// timerLow is the earliest due time scheduled while fireTimers works
	// through a scan (0: none), so that it fires it before later keys.
	timerLow     int64
	flushed      bool
	hits, misses uint64 // state reads the cache answered, and not
}

type entry struct {
	key     string // the customer id, owned
	st      State
	dirty   bool   // changed by the batch in progress
	pending bool   // committed, not yet checkpointed
	enc     []byte // the committed encoding, written at the checkpoint
	next    []byte // Flush's encoding, committed by Commit
}

// undoOp takes back one timer index change: delete the key (it was set)
// or set it again (it was deleted).
type undoOp struct {
	start, end int // the key in undoBuf
	set        bool
}

func newPartition(e *Engine, id int32) (*Partition, error) {
	p := &Partition{
		e:         e,
		id:        id,
		pack:      e.Pack(),
		lateness:  e.opts.AllowedLateness.Milliseconds(),
		cache:     make(map[string]*entry),
		batch:     e.db.NewIndexedBatch(),
		ckptAt:    time.Now(),
		committed: make(map[string][]byte),
	}
	m, _, err := e.StoredMeta(id)
	if err != nil {
		return nil, err
	}
	p.meta = m
	p.ckptEvents = m.Events
	p.committedNext = m.Next
	p.comps = make([]float64, len(p.pack.Health.Components))
	if err := p.peekTimers(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Partition) release() {
	p.batch.Close()
	p.cache = nil
}

// ID is the partition number.
func (p *Partition) ID() int32 { return p.id }

// Meta returns the partition's checkpoint and aggregates as of the last
// Apply (not yet committed, if a batch is in progress).
func (p *Partition) Meta() Meta { return p.meta.Clone() }

// Next is the input position to read next.
func (p *Partition) Next() int64 { return p.meta.Next }

// Watermark is the partition's event-time watermark (Unix ms).
func (p *Partition) Watermark() int64 { return p.meta.Watermark }

// RulesVersion is the version of the pack the partition applies now.
func (p *Partition) RulesVersion() string { return p.pack.Version }

// Skip records that the input record at position was consumed without an
// event (undecodable: it went to the dead letters).
func (p *Partition) Skip(position int64) {
	if position >= p.meta.Next {
		p.meta.Next = position + 1
	}
}

// Apply applies ev, read at input position, appending what it causes to
// out. It returns false for a duplicate (an event id the customer has
// already had), which changes nothing. Timers that the event's time lets
// fall due fire before it, in due-time order: they are due before the
// event happened (by more than the allowed lateness), so the customer's
// own event must not cancel them, and a customer's lifecycle does not
// depend on whether other customers' events moved the watermark first.
func (p *Partition) Apply(ev *Event, position int64, out *Outputs) (bool, error) {
	p.Skip(position)
	p.meta.Events++
	e, err := p.load(ev.CustomerID)
	if err != nil {
		return false, err
	}
	if ev.ID != "" {
		h := xxhash.Sum64String(ev.ID) | 1 // never 0, the empty slot
		if e.st.seenEvent(h) {
			p.meta.Duplicates++
			return false, nil
		}
		e.st.rememberEvent(h)
	}
	p.markDirty(e)
	if ev.Time > p.meta.MaxEventTime {
		p.meta.MaxEventTime = ev.Time
		if err := p.advance(ev.Time-p.lateness, out); err != nil {
			return true, err
		}
	}
	cat := p.pack.Classify(ev.Type, ev.Name)
	p.update(&e.st, cat, ev)
	p.run(e, ev.Time, cat, false, ev.Name, ev.ID, ev.Revenue, out)
	return true, nil
}

// Advance raises the watermark to wm (Unix ms) if it is behind, firing the
// timers that fall due. The runtime calls it with the wall clock for a
// partition that has been idle, and caught up, for the configured idle
// time.
func (p *Partition) Advance(wm int64, out *Outputs) error {
	return p.advance(wm, out)
}

func (p *Partition) advance(wm int64, out *Outputs) error {
	if wm <= p.meta.Watermark {
		return nil
	}
	p.meta.Watermark = wm
	if p.nextDue == 0 || p.nextDue > wm {
		return nil
	}
	return p.fireTimers(wm, out)
}

// load returns the customer's cache entry, reading it from Pebble or
// creating a new customer.
func (p *Partition) load(customer string) (*entry, error) {
	if e, ok := p.cache[customer]; ok {
		p.hits++
		return e, nil
	}
	p.misses++
	e := &entry{key: strings.Clone(customer)}
	p.keyBuf = append(append(p.keyBuf[:0], partKey(prefixState, p.id)...), customer...)
	v, closer, err := p.e.db.Get(p.keyBuf)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		e.st.reset()
		p.meta.init()
		p.meta.Customers++
		p.meta.Stages[""]++
	case err != nil:
		return nil, fmt.Errorf("read customer %q: %w", customer, err)
	default:
		err = e.st.Decode(v)
		closer.Close()
		if err != nil {
			return nil, fmt.Errorf("customer %q: %w", customer, err)
		}
	}
	p.cache[e.key] = e
	return e, nil
}

func (p *Partition) markDirty(e *entry) {
	if !e.dirty {
		e.dirty = true
		p.dirty = append(p.dirty, e)
	}
}

// update applies an event's direct effects on the counters and times.
func (p *Partition) update(st *State, cat rules.Category, ev *Event) {
	t := ev.Time
	setMax := func(f rules.TimeField) {
		if t > st.Times[f] {
			st.Times[f] = t
		}
	}
	if st.Times[rules.FirstSeen] == 0 || t < st.Times[rules.FirstSeen] {
		st.Times[rules.FirstSeen] = t
	}
	setMax(rules.LastSeen)
	cents := int64(math.Round(ev.Revenue * 100))
	switch cat {
	case rules.CatPurchase:
		st.Purchases++
		st.RevenueCents += cents
		p.meta.RevenueCents += cents
		setMax(rules.LastPurchase)
		if t > st.LastPaymentOK {
			st.LastPaymentOK = t
		}
	case rules.CatEngagement:
		setMax(rules.LastEngagement)
		st.addEngagement(int32(floorDiv(t, DayMillis)))
	case rules.CatSupportOpened:
		st.TicketsOpened++
		st.OpenTickets++
	case rules.CatSupportSolved:
		if st.OpenTickets > 0 {
			st.OpenTickets--
		}
	case rules.CatNPS:
		if ev.HasScore {
			p.countNPS(st.NPS, -1)
			st.NPS = int8(math.Round(math.Min(math.Max(ev.Score, 0), 10)))
			p.countNPS(st.NPS, 1)
		}
	case rules.CatReferral:
		st.Referrals++
	case rules.CatPaymentFailed:
		st.FailedPayments++
		setMax(rules.LastPaymentFailed)
	case rules.CatRefund:
		st.Refunds++
		st.RevenueCents -= cents
		p.meta.RevenueCents -= cents
	}
}

func (p *Partition) countNPS(nps int8, d int64) {
	switch {
	case nps < 0:
	case nps >= 9:
		p.meta.Promoters += d
	case nps >= 7:
		p.meta.Passives += d
	default:
		p.meta.Detractors += d
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// days converts a span in ms to whole days (0 for negative spans).
func days(ms int64) float64 {
	if ms <= 0 {
		return 0
	}
	return float64(ms / DayMillis)
}

// fillVars loads the expression variables from a customer's state at now.
func fillVars(v *rules.Vars, st *State, now int64, touchpoint, name string, value float64) {
	n := &v.Num
	first := st.Times[rules.FirstSeen]
	or := func(t int64) int64 {
		if t == 0 {
			return first
		}
		return t
	}
	n[rules.Purchases] = float64(st.Purchases)
	n[rules.Revenue] = float64(st.RevenueCents) / 100
	n[rules.OpenTickets] = float64(st.OpenTickets)
	n[rules.TicketsOpened] = float64(st.TicketsOpened)
	n[rules.FailedPayments] = float64(st.FailedPayments)
	n[rules.Refunds] = float64(st.Refunds)
	n[rules.Referrals] = float64(st.Referrals)
	n[rules.NPS] = float64(st.NPS)
	day := int32(floorDiv(now, DayMillis))
	n[rules.Engagement7d], n[rules.Engagement28d], n[rules.Engagement30d], n[rules.BaselineWeekly] = st.windows(day)
	n[rules.DaysInStage] = days(now - or(st.Times[rules.StageEntered]))
	n[rules.DaysSinceEngagement] = days(now - or(st.Times[rules.LastEngagement]))
	n[rules.DaysSincePurchase] = days(now - or(st.Times[rules.LastPurchase]))
	n[rules.DaysSinceSeen] = days(now - or(st.Times[rules.LastSeen]))
	n[rules.DaysSinceFirstSeen] = days(now - first)
	n[rules.EventValue] = value
	n[rules.Score] = float64(st.Health)
	v.Bool[rules.HasNPS] = st.NPS >= 0
	v.Bool[rules.PaymentFailing] = st.Times[rules.LastPaymentFailed] > st.LastPaymentOK
	v.Str[rules.Stage] = st.Stage
	v.Str[rules.Touchpoint] = touchpoint
	v.Str[rules.EventName] = name
	v.Str[rules.BandName] = st.Band.String()
}

// run evaluates the stage machine, the scorecard and the alert rules for
// one event of category cat or, when timer is set, for a timer due at now.
func (p *Partition) run(e *entry, now int64, cat rules.Category, timer bool, name, eventID string, value float64, out *Outputs) {
	st := &e.st
	pack := p.pack
	touch := pack.CategoryName(cat)
	if timer {
		touch = rules.TimerCategory
	}
	fillVars(&p.vars, st, now, touch, name, value)
	si := pack.StageIndex(st.Stage)

	// Stage machine: the first matching transition moves the customer.
	var ts []*rules.Transition
	if timer {
		ts = pack.TimerTransitions(si)
	} else {
		ts = pack.EventTransitions(si, cat)
	}
	for _, t := range ts {
		if t.Timer != nil {
			if due := t.Timer.Due(&st.Times); due == 0 || now < due {
				continue
			}
		}
		if t.When != nil && !t.When(&p.vars) {
			continue
		}
		p.move(e, t, now, eventID, out)
		si = t.ToIndex()
		p.vars.Str[rules.Stage] = st.Stage
		p.vars.Num[rules.DaysInStage] = 0
		break
	}

	// Health.
	hc := &pack.Health
	if len(p.comps) != len(hc.Components) {
		p.comps = make([]float64, len(hc.Components))
	}
	score, band := hc.Eval(&p.vars, p.comps)
	if st.Band == rules.NoBand || band != st.Band || math.Abs(score-float64(st.Health)) >= hc.EmitDelta {
		if st.Band != band {
			if st.Band != rules.NoBand {
				p.meta.Bands[st.Band.String()]--
			}
			p.meta.Bands[band.String()]++
		}
		st.Health, st.Band = uint8(score), band
		p.emitHealth(e, now, score, band, out)
	}
	p.vars.Num[rules.Score] = score
	p.vars.Str[rules.BandName] = band.String()

	// Alerts.
	for _, a := range pack.Alerts {
		open := st.openAlert(a.Name)
		if open < 0 {
			if a.Active(&p.vars, si, &st.Times, now) {
				p.fire(e, a, now, eventID, out)
			}
		} else if a.Cleared(&p.vars, si, &st.Times, now) {
			p.resolve(e, open, a, now, eventID, out)
		}
	}
	// Alerts of rules the pack no longer has resolve: nobody would ever
	// close them otherwise.
	for i := 0; i < len(st.Alerts); i++ {
		if pack.Alert(st.Alerts[i].Rule) == nil {
			p.resolve(e, i, nil, now, eventID, out)
			i--
		}
	}

	after := p.meta.Watermark
	if timer {
		after = now
	}
	p.schedule(e, p.nextDueFor(st, si, after))
}

// move changes the customer's stage.
func (p *Partition) move(e *entry, t *rules.Transition, now int64, eventID string, out *Outputs) {
	st := &e.st
	from := st.Stage
	p.meta.Stages[from]--
	if p.meta.Stages[from] == 0 {
		delete(p.meta.Stages, from)
	}
	p.meta.Stages[t.To]++
	p.meta.Entered[t.To]++
	st.Stage = p.internStage(t.To)
	st.Times[rules.StageEntered] = now

	start := out.begin(KindStage, e.key, now, p.pack.Version)
	out.stringField("from", from)
	out.stringField("to", t.To)
	out.stringField("rule", t.Name)
	out.stringField("event_id", eventID)
	out.end(KindStage, e.key, start)
	r := &out.Records[len(out.Records)-1]
	r.Rule, r.From, r.To = t.Name, from, t.To
}

func (p *Partition) internStage(s string) string {
	for _, x := range p.pack.Stages {
		if x == s {
			return x
		}
	}
	return s
}

func (p *Partition) emitHealth(e *entry, now int64, score float64, band rules.Band, out *Outputs) {
	start := out.begin(KindHealth, e.key, now, p.pack.Version)
	out.field("score")
	out.buf = appendInt(out.buf, int64(score))
	out.stringField("band", band.String())
	out.field("components")
	out.buf = append(out.buf, '{')
	for i, c := range p.pack.Health.Components {
		if i > 0 {
			out.buf = append(out.buf, ',')
		}
		out.buf = appendJSONString(out.buf, c.Name)
		out.buf = append(out.buf, ':')
		out.buf = appendInt(out.buf, int64(p.comps[i]))
	}
	out.buf = append(out.buf, '}')
	out.end(KindHealth, e.key, start)
}

// AlertID is the deterministic id of an alert firing: the same customer,
// rule, firing time and firing number (OpenAlert.Seq) always give the same
// id, so a replay or a redelivery produces the same ids.
func AlertID(customer, rule string, firedAt int64, seq uint32) string {
	return string(appendAlertID(nil, customer, rule, firedAt, seq))
}

func appendAlertID(dst []byte, customer, rule string, firedAt int64, seq uint32) []byte {
	d := xxhash.New()
	d.WriteString(customer)
	d.WriteString("\x00")
	d.WriteString(rule)
	d.WriteString("\x00")
	var b [32]byte
	n := appendInt(b[:0], firedAt)
	if seq > 0 {
		n = appendInt(append(n, '/'), int64(seq))
	}
	d.Write(n)
	return appendHex64(dst, d.Sum64())
}

func (p *Partition) fire(e *entry, a *rules.Alert, now int64, eventID string, out *Outputs) {
	st := &e.st
	st.AlertsFired++
	oa := OpenAlert{Rule: a.Name, FiredAt: now, Seq: st.AlertsFired}
	st.Alerts = append(st.Alerts, oa)
	p.meta.AlertsOpen[a.Name]++
	p.emitAlert(e, oa, a.Severity, "firing", now, eventID, a.Reasons, "", out)
}

// resolve closes open alert i; a is nil when the pack lost its rule.
func (p *Partition) resolve(e *entry, i int, a *rules.Alert, now int64, eventID string, out *Outputs) {
	st := &e.st
	oa := st.Alerts[i]
	st.Alerts = append(st.Alerts[:i], st.Alerts[i+1:]...)
	if p.meta.AlertsOpen[oa.Rule]--; p.meta.AlertsOpen[oa.Rule] <= 0 {
		delete(p.meta.AlertsOpen, oa.Rule)
	}
	if a == nil {
		p.emitAlert(e, oa, "info", "resolved", now, eventID, nil, "rule "+oa.Rule+" is no longer in rule pack "+p.pack.Version, out)
		return
	}
	reasons, fallback := a.ResolveReasons, ""
	if len(reasons) == 0 {
		reasons, fallback = a.Reasons, "condition cleared: "
	}
	p.emitAlert(e, oa, a.Severity, "resolved", now, eventID, reasons, fallback, out)
}

func (p *Partition) emitAlert(e *entry, oa OpenAlert, severity, status string, now int64, eventID string, reasons []rules.Template, prefix string, out *Outputs) {
	rule := oa.Rule
	start := out.begin(KindAlert, e.key, now, p.pack.Version)
	out.field("alert_id")
	out.buf = append(out.buf, '"')
	out.buf = appendAlertID(out.buf, e.key, rule, oa.FiredAt, oa.Seq)
	out.buf = append(out.buf, '"')
	out.stringField("rule", rule)
	out.stringField("severity", severity)
	out.stringField("status", status)
	out.field("reasons")
	out.buf = append(out.buf, '[')
	if len(reasons) == 0 {
		out.buf = appendJSONString(out.buf, prefix)
	}
	for i, r := range reasons {
		if i > 0 {
			out.buf = append(out.buf, ',')
		}
		p.encBuf = r.Render(append(p.encBuf[:0], prefix...), &p.vars)
		out.buf = appendJSONString(out.buf, string(p.encBuf))
	}
	out.buf = append(out.buf, ']')
	out.stringField("event_id", eventID)
	out.end(KindAlert, e.key, start)
	r := &out.Records[len(out.Records)-1]
	r.Rule, r.Status = rule, status
}

// nextDueFor is the earliest due time after `after` among the customer's
// timed transitions and its not-yet-firing timed alerts (0: none).
func (p *Partition) nextDueFor(st *State, si int, after int64) int64 {
	var next int64
	consider := func(due int64) {
		if due > after && (next == 0 || due < next) {
			next = due
		}
	}
	for _, t := range p.pack.TimerTransitions(si) {
		consider(t.Timer.Due(&st.Times))
	}
	for _, a := range p.pack.Alerts {
		if a.Timer != nil && a.InStages(si) && st.openAlert(a.Name) < 0 {
			consider(a.Timer.Due(&st.Times))
		}
	}
	return next
}

// schedule makes sure the timer index holds the customer at or before
// due. Timers move later lazily: a key that falls due early finds the
// state's real due time and re-indexes it then, so a busy customer costs
// no index write per event.
func (p *Partition) schedule(e *entry, due int64) {
	st := &e.st
	if due == 0 || (st.TimerDue != 0 && st.TimerDue <= due) {
		return
	}
	if st.TimerDue != 0 {
		p.keyBuf = appendTimerKey(p.keyBuf[:0], p.id, st.TimerDue, e.key)
		_ = p.batch.Delete(p.keyBuf, nil)
		p.recordUndo(p.keyBuf, false)
	}
	p.keyBuf = appendTimerKey(p.keyBuf[:0], p.id, due, e.key)
	_ = p.batch.Set(p.keyBuf, nil, nil)
	p.recordUndo(p.keyBuf, true)
	st.TimerDue = due
	if p.nextDue == 0 || due < p.nextDue {
		p.nextDue = due
	}
	if p.timerLow == 0 || due < p.timerLow {
		p.timerLow = due
	}
	p.markDirty(e)
}

// fireTimers fires every timer due at or before wm, in (due, customer)
// order, including timers that firing schedules within wm.
func (p *Partition) fireTimers(wm int64, out *Outputs) error {
	lower := appendTimerKey(nil, p.id, p.timerFloor+1, "")
	upper := appendTimerKey(nil, p.id, wm+1, "")
	for {
		iter, err := p.batch.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return fmt.Errorf("scan timers of partition %d: %w", p.id, err)
		}
		p.timerKeys = p.timerKeys[:0]
		for ok := iter.First(); ok && len(p.timerKeys) < 4096; ok = iter.Next() {
			p.timerKeys = append(p.timerKeys, append([]byte(nil), iter.Key()...))
		}
		if err := iter.Close(); err != nil {
			return fmt.Errorf("scan timers of partition %d: %w", p.id, err)
		}
		if len(p.timerKeys) == 0 {
			break
		}
		// Firing reschedules lazily indexed customers to their real due
		// time, which may come before the rest of this scan: scan again
		// then, so that timers fire in due order across customers.
		p.timerLow = 0
		for _, k := range p.timerKeys {
			if p.timerLow != 0 && p.timerLow <= int64(beUint64(k[5:13])) {
				break
			}
			if err := p.fireKey(k, out); err != nil {
				return err
			}
		}
	}
	p.timerFloor = wm
	return p.peekTimers()
}

func (p *Partition) fireKey(k []byte, out *Outputs) error {
	if err := p.batch.Delete(k, nil); err != nil {
		return fmt.Errorf("partition %d: delete timer: %w", p.id, err)
	}
	p.recordUndo(k, false)
	due := int64(beUint64(k[5:13]))
	e, err := p.load(string(k[13:]))
	if err != nil {
		return err
	}
	st := &e.st
	if st.TimerDue != due {
		return nil // superseded by an earlier reschedule
	}
	st.TimerDue = 0
	p.markDirty(e)
	si := p.pack.StageIndex(st.Stage)
	if actual := p.nextDueFor(st, si, math.MinInt64); actual > due {
		p.schedule(e, actual) // the customer moved on: not due yet
		return nil
	} else if actual == 0 {
		return nil
	}
	p.run(e, due, rules.CatNone, true, "", "", 0, out)
	return nil
}

func (p *Partition) recordUndo(key []byte, set bool) {
	start := len(p.undoBuf)
	p.undoBuf = append(p.undoBuf, key...)
	p.undo = append(p.undo, undoOp{start: start, end: len(p.undoBuf), set: set})
}

func beUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// peekTimers sets nextDue from the first key of the timer index.
func (p *Partition) peekTimers() error {
	iter, err := p.batch.NewIter(&pebble.IterOptions{LowerBound: appendTimerKey(nil, p.id, p.timerFloor+1, ""), UpperBound: partKey(prefixTimer, p.id+1)})
	if err != nil {
		return fmt.Errorf("scan timers of partition %d: %w", p.id, err)
	}
	p.nextDue = 0
	if iter.First() {
		p.nextDue = int64(beUint64(iter.Key()[5:13]))
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("scan timers of partition %d: %w", p.id, err)
	}
	return nil
}

// Flush ends a batch's processing: it encodes every changed customer and
// the partition's meta, and appends them to out.Changelog. Commit must
// follow before the next Apply.
func (p *Partition) Flush(out *Outputs) error {
	// In key order: Pebble's memtable inserts a sorted batch far faster
	// (its skiplist inserter reuses the previous splice), and the
	// changelog gets a deterministic order.
	slices.SortFunc(p.dirty, func(a, b *entry) int { return strings.Compare(a.key, b.key) })
	// Encode into pendBuf, then slice it: appends may move it. The
	// encodings live there until the checkpoint that writes them.
	offs := p.offs[:0]
	for _, e := range p.dirty {
		offs = append(offs, len(p.pendBuf))
		p.pendBuf = e.st.AppendEncode(p.pendBuf)
	}
	offs = append(offs, len(p.pendBuf))
	p.offs = offs
	buf := p.pendBuf
	for i, e := range p.dirty {
		e.next = buf[offs[i]:offs[i+1]:offs[i+1]]
		out.Changelog = append(out.Changelog, ChangelogEntry{Key: e.key, Value: e.next})
	}
	enc, err := json.Marshal(&p.meta)
	if err != nil {
		return fmt.Errorf("partition %d: encode meta: %w", p.id, err)
	}
	p.flushMeta = enc
	out.Changelog = append(out.Changelog, ChangelogEntry{Key: MetaKey, Value: enc})
	p.flushed = true
	return nil
}

// Commit makes the flushed batch the partition's committed state, with
// changelogNext (the changelog offset after this batch's entries; 0
// without a changelog) as the changelog position. Without
// Options.CheckpointEvents and CheckpointInterval it checkpoints it to
// Pebble at once; with them, the caller checkpoints when CheckpointDue
// says so (a runtime may do it while it waits for input). Then the
// partition picks up a new rule pack, if one was set.
func (p *Partition) Commit(changelogNext int64) error {
	if !p.flushed {
		return fmt.Errorf("partition %d: commit without flush", p.id)
	}
	for _, e := range p.dirty {
		e.enc, e.next, e.dirty = e.next, nil, false
		if !e.pending {
			e.pending = true
			p.pending = append(p.pending, e)
		}
	}
	if p.deferring() {
		p.cmu.Lock()
		for _, e := range p.dirty {
			p.committed[e.key] = e.enc
		}
		p.cmu.Unlock()
	}
	clear(p.dirty)
	p.dirty = p.dirty[:0]
	p.metaEnc = p.flushMeta
	if changelogNext > 0 {
		p.meta.ChangelogNext = changelogNext
		enc, err := json.Marshal(&p.meta)
		if err != nil {
			return fmt.Errorf("partition %d: encode meta: %w", p.id, err)
		}
		p.metaEnc = enc
	}
	// The batch's timer changes are committed: no longer undoable.
	p.undo = p.undo[:0]
	p.undoBuf = p.undoBuf[:0]
	p.pendLen = len(p.pendBuf)
	p.committedNext = p.meta.Next
	p.flushed = false
	if !p.deferring() {
		if err := p.Checkpoint(); err != nil {
			return err
		}
	}
	p.evict()
	if np := p.e.Pack(); np != p.pack {
		p.pack = np
		// A new pack may have other timers: find the first due again.
		if err := p.peekTimers(); err != nil {
			return err
		}
	}
	return nil
}

// deferring reports whether checkpoints may come later than commits.
func (p *Partition) deferring() bool {
	return p.e.opts.CheckpointEvents > 0 || p.e.opts.CheckpointInterval > 0
}

// CheckpointDue reports whether committed changes have waited long
// enough (Options.CheckpointEvents, CheckpointInterval) or fill half the
// state cache, which cannot evict them.
func (p *Partition) CheckpointDue() bool {
	o := &p.e.opts
	switch {
	case p.metaEnc == nil:
		return false
	case !p.deferring():
		return true
	case o.CheckpointEvents > 0 && p.meta.Events-p.ckptEvents >= int64(o.CheckpointEvents):
		return true
	case o.CheckpointInterval > 0 && time.Since(p.ckptAt) >= o.CheckpointInterval:
		return true
	}
	// Pending states cannot be evicted: keep them within the cache.
	return len(p.pending) >= max(o.CacheStates/2, 1)
}

// Pending reports whether committed changes wait for a checkpoint.
func (p *Partition) Pending() bool { return p.metaEnc != nil }

// Checkpoint writes the committed states, the timer index changes and
// the meta (input and changelog positions, watermark, aggregates) to
// Pebble in one atomic batch. Commit calls it when checkpoints are not
// deferred; otherwise the runtime calls it when CheckpointDue says so,
// when a partition falls idle and when it is handed back. It must not be
// called during a batch (between Apply and Commit or Abort). A failed
// checkpoint changes nothing: the next one writes the same and more.
func (p *Partition) Checkpoint() error {
	if len(p.dirty) > 0 || p.flushed || len(p.undo) > 0 || p.meta.Next != p.committedNext {
		return fmt.Errorf("partition %d: checkpoint during a batch", p.id)
	}
	if p.metaEnc == nil {
		return nil // nothing committed since the last checkpoint
	}
	// A plain batch: the indexed one (the timer changes, which scans
	// read) would also keep a skiplist of the states, which nothing reads
	// back from it.
	b := p.e.db.NewBatch()
	defer b.Close()
	if err := b.Apply(p.batch, nil); err != nil {
		return fmt.Errorf("partition %d: stage timers: %w", p.id, err)
	}
	// In key order, as Flush does, for Pebble's memtable inserter.
	slices.SortFunc(p.pending, func(a, b *entry) int { return strings.Compare(a.key, b.key) })
	prefix := partKey(prefixState, p.id)
	for _, e := range p.pending {
		p.keyBuf = append(append(p.keyBuf[:0], prefix...), e.key...)
		if err := b.Set(p.keyBuf, e.enc, nil); err != nil {
			return fmt.Errorf("partition %d: stage state: %w", p.id, err)
		}
	}
	if err := b.Set(partKey(prefixMeta, p.id), p.metaEnc, nil); err != nil {
		return fmt.Errorf("partition %d: stage meta: %w", p.id, err)
	}
	if p.e.failCheckpoint.CompareAndSwap(true, false) {
		return fmt.Errorf("partition %d: checkpoint: injected failure", p.id)
	}
	if err := b.Commit(p.writeOpts()); err != nil {
		return fmt.Errorf("partition %d: checkpoint: %w", p.id, err)
	}
	p.batch.Close()
	p.batch = p.e.db.NewIndexedBatch()
	// The store has them now; pendBuf may be reused.
	for _, e := range p.pending {
		e.pending, e.enc = false, nil
	}
	clear(p.pending)
	p.pending = p.pending[:0]
	p.cmu.Lock()
	clear(p.committed)
	p.cmu.Unlock()
	p.metaEnc = nil
	p.pendBuf = p.pendBuf[:0]
	p.pendLen = 0
	p.ckptEvents, p.ckptAt = p.meta.Events, time.Now()
	return nil
}

// Abort discards everything applied since the last Commit (the Kafka
// transaction carrying its outputs did not commit): the changed customers
// go back to their committed states, the batch's timer index changes are
// taken back, and so is the meta, so that the same input can be applied
// again.
func (p *Partition) Abort() error {
	for i := len(p.undo) - 1; i >= 0; i-- {
		u := p.undo[i]
		k := p.undoBuf[u.start:u.end]
		var err error
		if u.set {
			err = p.batch.Delete(k, nil)
		} else {
			err = p.batch.Set(k, nil, nil)
		}
		if err != nil {
			return fmt.Errorf("partition %d: undo timer change: %w", p.id, err)
		}
	}
	p.undo = p.undo[:0]
	p.undoBuf = p.undoBuf[:0]
	for _, e := range p.dirty {
		e.dirty, e.next = false, nil
		if !e.pending {
			delete(p.cache, e.key) // Pebble has its committed state
			continue
		}
		if err := e.st.Decode(e.enc); err != nil {
			return fmt.Errorf("partition %d: customer %q: %w", p.id, e.key, err)
		}
	}
	clear(p.dirty)
	p.dirty = p.dirty[:0]
	p.flushed = false
	p.pendBuf = p.pendBuf[:p.pendLen] // the aborted batch's encodings
	m, err := p.committedMeta()
	if err != nil {
		return err
	}
	p.meta = m
	// Timers fired in the aborted batch are back in the index.
	p.timerFloor = min(p.timerFloor, m.Watermark)
	return p.peekTimers()
}

// lookupCommitted decodes a customer's committed state if it waits for a
// checkpoint (ok false: read the store). Safe from any goroutine.
func (p *Partition) lookupCommitted(customer string) (st State, ok bool, err error) {
	p.cmu.RLock()
	defer p.cmu.RUnlock()
	enc, ok := p.committed[customer]
	if !ok {
		return st, false, nil
	}
	if err := st.Decode(enc); err != nil {
		return st, true, fmt.Errorf("customer %q: %w", customer, err)
	}
	return st, true, nil
}

func (p *Partition) committedMeta() (Meta, error) {
	if p.metaEnc == nil {
		m, _, err := p.e.StoredMeta(p.id)
		return m, err
	}
	m, err := decodeMeta(p.metaEnc)
	if err != nil {
		return Meta{}, fmt.Errorf("partition %d: %w", p.id, err)
	}
	return m, nil
}

// writeOpts are the store writes' options: fsync'd with Options.Sync.
func (p *Partition) writeOpts() *pebble.WriteOptions {
	if p.e.opts.Sync {
		return pebble.Sync
	}
	return pebble.NoSync
}

func (p *Partition) commitBatch() error {
	if err := p.batch.Commit(p.writeOpts()); err != nil {
		return fmt.Errorf("partition %d: commit: %w", p.id, err)
	}
	p.batch.Close()
	p.batch = p.e.db.NewIndexedBatch()
	return nil
}

// evict keeps the cache within its bound, dropping clean entries that
// the store holds (after a Commit nothing is dirty; pending entries
// stay), in the map's random order. Evicting the least recently used
// first was tried: at a million customers the hit rate stayed at 41%
// (most misses are customers' first events, or events days apart).
func (p *Partition) evict() {
	limit := p.e.opts.CacheStates
	if len(p.cache) <= limit {
		return
	}
	target := limit * 3 / 4
	for k, e := range p.cache {
		if len(p.cache) <= target {
			break
		}
		if !e.pending { // only the store has a checkpointed state
			delete(p.cache, k)
		}
	}
}

// CacheStats returns how many state reads the cache answered and how
// many went to the store, since the partition was opened.
func (p *Partition) CacheStats() (hits, misses uint64) { return p.hits, p.misses }

// Restore applies one changelog entry (a customer's state, a tombstone as
// nil value, or the meta record) to the store, for a partition being
// restored; CommitRestore makes a run of them durable.
func (p *Partition) Restore(key string, value []byte) error {
	if key == MetaKey {
		m, err := decodeMeta(value)
		if err != nil {
			return err
		}
		next, cl := p.meta.Next, p.meta.ChangelogNext
		p.meta = m
		p.meta.Next, p.meta.ChangelogNext = max(next, m.Next), cl
		return nil
	}
	delete(p.cache, key)
	p.keyBuf = append(append(p.keyBuf[:0], partKey(prefixState, p.id)...), key...)
	if value == nil {
		return p.batch.Delete(p.keyBuf, nil)
	}
	var st State
	if err := st.Decode(value); err != nil {
		return fmt.Errorf("restore customer %q: %w", key, err)
	}
	if err := p.batch.Set(p.keyBuf, value, nil); err != nil {
		return fmt.Errorf("restore customer %q: %w", key, err)
	}
	if st.TimerDue != 0 {
		p.keyBuf = appendTimerKey(p.keyBuf[:0], p.id, st.TimerDue, key)
		if err := p.batch.Set(p.keyBuf, nil, nil); err != nil {
			return fmt.Errorf("restore customer %q: %w", key, err)
		}
	}
	return nil
}

// CommitRestore makes restored entries durable, recording changelogNext
// as the changelog position restored up to, and next as the input
// position to resume from.
func (p *Partition) CommitRestore(changelogNext, next int64) error {
	p.meta.ChangelogNext = changelogNext
	if next > 0 {
		p.meta.Next = next
	}
	enc, err := json.Marshal(&p.meta)
	if err != nil {
		return fmt.Errorf("partition %d: encode meta: %w", p.id, err)
	}
	if err := p.batch.Set(partKey(prefixMeta, p.id), enc, nil); err != nil {
		return fmt.Errorf("partition %d: stage meta: %w", p.id, err)
	}
	if err := p.commitBatch(); err != nil {
		return err
	}
	p.ckptEvents, p.ckptAt = p.meta.Events, time.Now()
	p.committedNext = p.meta.Next
	return p.peekTimers()
}
