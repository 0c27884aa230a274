package engine

import (
	"math"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fastjson"

	"github.com/lifeline-hq/lifeline/rules"
)

// Evaluation: for one event or one fired timer, a customer's stage
// machine, health scorecard and alert rules, in that order, and the
// output records they cause. Nothing here reads or writes the store.

// evalScratch is the evaluation's reused memory.
type evalScratch struct {
	vars  rules.Vars // the expression environment, refilled per evaluation
	comps []float64  // the scorecard's component scores
	buf   []byte     // a reason being rendered
	// recovered: the event update last applied is a purchase that
	// recovers a failing payment (payment_recovered).
	recovered bool
	// traitParser reads events' traits objects; traits and traitBuf are
	// alignTraits' and readTraits' scratch.
	traitParser fastjson.Parser
	traits      []rules.TraitValue
	traitBuf    []byte
	// timerRuns counts evaluations caused by timers since the partition
	// opened (events: every applied event is one).
	timerRuns uint64
	// profile is the customer's profile in the evaluation under way
	// (rules.Pack.ProfileFor; engine/profiles.go).
	profile *rules.Profile
}

// update applies an event's direct effects on the counters and times. It
// returns the event's value (event_value): its amount as the pack's
// money section picks and converts it, 0 when it has none or the amount
// cannot be converted.
func (p *Partition) update(st *State, cat rules.Category, ev *Event) float64 {
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
	p.eval.recovered = false
	if ev.Traits != "" && len(p.pack.Traits) > 0 {
		p.alignTraits(st)
		p.readTraits(st, ev.Traits)
	}
	value, money := p.value(ev, cat == rules.CatPurchase || cat == rules.CatRefund)
	switch cat {
	case rules.CatPurchase:
		// A payment that clears a failing one of a customer who has
		// purchased before is the failed payment's retry, not another
		// purchase: its money counts, the purchase count does not.
		if st.Purchases > 0 && st.Times[rules.LastPaymentFailed] > st.LastPaymentOK {
			p.eval.recovered = true
		} else {
			if st.Purchases == 0 && st.Stage != "" && st.Stage == p.pack.Churned {
				p.meta.ChurnedUnpaid-- // paid at last, while churned
			}
			st.Purchases++
		}
		if money != moneyNone && value < 0 {
			// A purchase does not lower lifetime value; a refund does.
			p.meta.MoneyNegative++
			money = moneyNone
		}
		if money == moneyCounted {
			cents := int64(math.Round(value * 100))
			st.RevenueCents = addCents(st.RevenueCents, cents)
			p.meta.RevenueCents = addCents(p.meta.RevenueCents, cents)
		}
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
		if money == moneyCounted {
			// Producers write a refund's amount either way round: it
			// always subtracts.
			cents := int64(math.Round(math.Abs(value) * 100))
			st.RevenueCents = addCents(st.RevenueCents, -cents)
			p.meta.RevenueCents = addCents(p.meta.RevenueCents, -cents)
		}
	}
	return value
}

// What value found of an event's money.
const (
	moneyNone    = iota // no amount, or one that is not counted
	moneyCounted        // an amount in the pack's currency (converted)
)

// value picks the event's amount by the pack's money.value order and
// converts it to the pack's currency. For a money event (purchase or
// refund: counts set) an amount that cannot be counted is counted in
// Meta instead: a currency without a rate (MoneyUnconverted), or a
// converted amount beyond rules.MaxAmount, NaN or infinite
// (MoneyOutOfRange: the decoder rejects these, events from elsewhere may
// carry them).
func (p *Partition) value(ev *Event, counts bool) (float64, int) {
	m := &p.pack.Money
	v, ok := m.Pick(&ev.Amounts, ev.AmountsSet)
	if !ok {
		return 0, moneyNone
	}
	r, ok := m.Rate(ev.Currency)
	if !ok {
		if counts {
			p.meta.MoneyUnconverted++
		}
		return 0, moneyNone
	}
	v *= r
	if math.IsNaN(v) || math.Abs(v) > rules.MaxAmount {
		if counts {
			p.meta.MoneyOutOfRange++
		}
		return 0, moneyNone
	}
	return v, moneyCounted
}

// addCents adds b to a, saturating at the int64 range instead of wrapping
// around: a sum of amounts beyond ±9.2e16 units stays at its bound.
func addCents(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
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
	fillVars(&p.eval.vars, st, now, touch, name, value)
	p.alignTraits(st)
	p.eval.vars.Traits = st.Traits
	p.eval.vars.Bool[rules.PaymentRecovered] = !timer && p.eval.recovered
	p.eval.profile = pack.ProfileFor(&p.eval.vars)
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
		if t.When != nil && !t.When(&p.eval.vars) {
			continue
		}
		p.move(e, t, now, eventID, out)
		si = t.ToIndex()
		p.eval.vars.Str[rules.Stage] = st.Stage
		p.eval.vars.Num[rules.DaysInStage] = 0
		p.eval.profile = pack.ProfileFor(&p.eval.vars) // the new stage's
		break
	}

	// Health.
	hc := pack.Scorecard(p.eval.profile)
	if len(p.eval.comps) != len(hc.Components) {
		p.eval.comps = make([]float64, len(hc.Components))
	}
	score, band := hc.Eval(&p.eval.vars, p.eval.comps)
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
	p.eval.vars.Num[rules.Score] = score
	p.eval.vars.Str[rules.BandName] = band.String()

	// Alerts.
	for _, a := range pack.Alerts {
		if open := st.openAlert(a.Name); open >= 0 {
			if !a.InStages(si) {
				cause := CauseStageLeft
				if pack.Churned != "" && st.Stage == pack.Churned {
					cause = CauseChurned
				}
				p.resolve(e, open, a, now, eventID, cause, out)
			} else if a.Cleared(&p.eval.vars, si, &st.Times, now) {
				p.resolve(e, open, a, now, eventID, CauseConditionCleared, out)
			}
			continue
		}
		p.consider(e, a, si, now, eventID, out)
	}
	// Alerts of rules the pack no longer has resolve: nobody would ever
	// close them otherwise. Their holds go with them.
	for i := 0; i < len(st.Alerts); i++ {
		if pack.Alert(st.Alerts[i].Rule) == nil {
			p.resolve(e, i, nil, now, eventID, CausePackChanged, out)
			i--
		}
	}
	for i := 0; i < len(st.Holds); i++ {
		if pack.Alert(st.Holds[i].Rule) == nil {
			st.Holds = append(st.Holds[:i], st.Holds[i+1:]...)
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
	if st.Purchases == 0 && p.pack.Churned != "" {
		// Customers in the churned stage who never paid are no churn of
		// converted customers (KPIs.Churned leaves them out).
		if from == p.pack.Churned {
			p.meta.ChurnedUnpaid--
		}
		if t.To == p.pack.Churned {
			p.meta.ChurnedUnpaid++
		}
	}
	st.Stage = p.internStage(t.To)
	st.Times[rules.StageEntered] = now

	start := out.begin(KindStage, e.key, now, p.pack.Version)
	out.stringField("from", from)
	out.stringField("to", t.To)
	out.stringField("rule", t.Name)
	out.eventIDField(eventID)
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
		out.buf = appendInt(out.buf, int64(p.eval.comps[i]))
	}
	out.buf = append(out.buf, '}')
	p.profileField(out)
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

// The causes of a resolved alert (its record's resolved_by).
const (
	// CauseConditionCleared: the rule's resolve (or, without one, its
	// condition) says the alert is over.
	CauseConditionCleared = "condition_cleared"
	// CauseStageLeft: the customer left the rule's stages.
	CauseStageLeft = "stage_left"
	// CauseChurned: the customer entered the pack's churned stage
	// (kpis.churned).
	CauseChurned = "churned"
	// CausePackChanged: a new rule pack no longer has the rule.
	CausePackChanged = "pack_changed"
)

// consider evaluates alert rule a, not open for the customer: it fires
// when its condition holds, has held for a.For (pending since an earlier
// evaluation that saw it hold, with none in between that saw it fail)
// and the cooldown after its last resolve is over; otherwise a holding
// condition is remembered as pending (nextDueFor schedules the timer that
// looks again when it could fire).
func (p *Partition) consider(e *entry, a *rules.Alert, si int, now int64, eventID string, out *Outputs) {
	st := &e.st
	h := -1
	if len(st.Holds) > 0 {
		h = st.hold(a.Name)
	}
	if !a.Active(&p.eval.vars, si, &st.Times, now) || p.unlessOpen(st, a) || p.eval.profile.AlertDisabled(a) {
		if h >= 0 {
			if hd := &st.Holds[h]; hd.CooldownUntil <= now {
				p.dropHold(e, h)
			} else if hd.PendingSince != 0 {
				hd.PendingSince = 0
				p.markDirty(e)
			}
		}
		return
	}
	if h < 0 && a.For == 0 {
		p.fire(e, a, now, eventID, out)
		return
	}
	pending, until := now, int64(0)
	if h >= 0 {
		// A late event (now before PendingSince) keeps the pending time:
		// the condition is known to hold only from then on.
		if ps := st.Holds[h].PendingSince; ps != 0 {
			pending = ps
		}
		until = st.Holds[h].CooldownUntil
	}
	if now-pending >= a.For && now >= until {
		if h >= 0 {
			p.dropHold(e, h)
		}
		p.fire(e, a, now, eventID, out)
		return
	}
	if h < 0 {
		st.Holds = append(st.Holds, AlertHold{Rule: a.Name})
		h = len(st.Holds) - 1
	}
	st.Holds[h].PendingSince = pending
	p.markDirty(e)
}

// holdDue is when a pending hold could fire (0: it is not pending).
func holdDue(a *rules.Alert, h *AlertHold) int64 {
	if h.PendingSince == 0 {
		return 0
	}
	return max(h.PendingSince+a.For, h.CooldownUntil)
}

func (p *Partition) dropHold(e *entry, i int) {
	st := &e.st
	st.Holds = append(st.Holds[:i], st.Holds[i+1:]...)
	p.markDirty(e)
}

// unlessOpen reports whether one of the alerts a.Unless names is open for
// the customer.
func (p *Partition) unlessOpen(st *State, a *rules.Alert) bool {
	for _, u := range a.Unless {
		if st.openAlert(u) >= 0 {
			return true
		}
	}
	return false
}

func (p *Partition) fire(e *entry, a *rules.Alert, now int64, eventID string, out *Outputs) {
	st := &e.st
	st.AlertsFired++
	oa := OpenAlert{Rule: a.Name, FiredAt: now, Seq: st.AlertsFired}
	st.Alerts = append(st.Alerts, oa)
	p.meta.AlertsOpen[a.Name]++
	p.emitAlert(e, oa, a.Severity, "firing", now, eventID, a.Reasons, "", "", out)
}

// resolve closes open alert i for cause (a Cause constant); a is nil
// when the pack lost its rule. A rule with a cooldown starts it.
func (p *Partition) resolve(e *entry, i int, a *rules.Alert, now int64, eventID, cause string, out *Outputs) {
	st := &e.st
	oa := st.Alerts[i]
	st.Alerts = append(st.Alerts[:i], st.Alerts[i+1:]...)
	if p.meta.AlertsOpen[oa.Rule]--; p.meta.AlertsOpen[oa.Rule] <= 0 {
		delete(p.meta.AlertsOpen, oa.Rule)
	}
	if a == nil {
		p.emitAlert(e, oa, "info", "resolved", now, eventID, nil, "rule "+oa.Rule+" is no longer in rule pack "+p.pack.Version, cause, out)
		return
	}
	if a.Cooldown > 0 {
		h := st.hold(a.Name)
		if h < 0 {
			st.Holds = append(st.Holds, AlertHold{Rule: a.Name})
			h = len(st.Holds) - 1
		}
		st.Holds[h] = AlertHold{Rule: a.Name, CooldownUntil: now + a.Cooldown}
	}
	reasons, fallback := a.ResolveReasons, ""
	if len(reasons) == 0 {
		reasons, fallback = a.Reasons, "condition cleared: "
	}
	p.emitAlert(e, oa, a.Severity, "resolved", now, eventID, reasons, fallback, cause, out)
}

// emitAlert writes an alert record; cause is a resolved record's
// resolved_by ("" for a firing, which has none).
func (p *Partition) emitAlert(e *entry, oa OpenAlert, severity, status string, now int64, eventID string, reasons []rules.Template, prefix, cause string, out *Outputs) {
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
		p.eval.buf = r.Render(append(p.eval.buf[:0], prefix...), &p.eval.vars)
		out.buf = appendJSONString(out.buf, string(p.eval.buf))
	}
	out.buf = append(out.buf, ']')
	out.eventIDField(eventID)
	if cause != "" {
		out.stringField("resolved_by", cause)
	}
	p.profileField(out)
	out.end(KindAlert, e.key, start)
	r := &out.Records[len(out.Records)-1]
	r.Rule, r.Status = rule, status
}
