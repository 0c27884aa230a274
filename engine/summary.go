package engine

import (
	"sort"

	"github.com/lifeline-hq/lifeline/rules"
)

// Customer is a customer's state explained at a moment: what the HTTP API
// answers and what a customer-success tool shows.
type Customer struct {
	ID           string          `json:"customer_id"`
	Stage        string          `json:"stage"`
	StageEntered string          `json:"stage_entered,omitempty"`
	DaysInStage  float64         `json:"days_in_stage"`
	FirstSeen    string          `json:"first_seen"`
	LastSeen     string          `json:"last_seen"`
	Health       CustomerHealth  `json:"health"`
	OpenAlerts   []CustomerAlert `json:"open_alerts"`
	// HeldAlerts are the alert rules waiting out a for or a cooldown for
	// this customer (omitted when none).
	HeldAlerts   []HeldAlert       `json:"held_alerts,omitempty"`
	Counters     map[string]any    `json:"counters"`
	AsOf         string            `json:"as_of"`
	RulesVersion string            `json:"rules_version"`
	Times        map[string]string `json:"times"`
	// Traits: each trait the pack declares, with the customer's value
	// (null when it has none); omitted when the pack declares none.
	Traits map[string]any `json:"traits,omitempty"`
	// Profile is the customer's profile now, whose weights and bands the
	// health here is scored with ("" when none of the pack's profiles
	// selects the customer); omitted when the pack has no profiles.
	Profile *string `json:"profile,omitempty"`
}

// CustomerHealth is the scorecard with each component explained.
type CustomerHealth struct {
	Score float64 `json:"score"`
	Band  string  `json:"band"`
	// Components: each component's score 0-100, by name, as in health
	// records.
	Components map[string]float64 `json:"components"`
	// Weights: each component's weight in percent of the score.
	Weights map[string]float64 `json:"weights"`
	// Points: what each component adds to the score (score × weight /
	// 100); they sum to the score.
	Points map[string]float64 `json:"points"`
	// Inputs are the variables the scorecard read; null for one the
	// customer has no value of (nps before any answer), as in counters.
	Inputs map[string]*float64 `json:"inputs"`
}

// CustomerAlert is an open alert.
type CustomerAlert struct {
	AlertID  string `json:"alert_id"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	FiredAt  string `json:"fired_at"`
	// Reasons are the rule's reason texts rendered with the customer's
	// values as of the answer (as_of), not as of the firing: the state
	// keeps no copy of the firing record's reasons, which are on the
	// alerts topic. Empty when the pack no longer has the rule.
	Reasons []string `json:"reasons"`
}

// HeldAlert is an alert rule that is not firing for the customer because
// its for or its cooldown holds it back.
type HeldAlert struct {
	Rule string `json:"rule"`
	// PendingSince: the condition has held since then ("" when it does
	// not hold now, and only a cooldown is left).
	PendingSince string `json:"pending_since,omitempty"`
	// FiresAt: when it fires if the condition still holds then (with
	// PendingSince).
	FiresAt string `json:"fires_at,omitempty"`
	// CooldownUntil: no new firing before then.
	CooldownUntil string `json:"cooldown_until,omitempty"`
}

// rfc3339 formats Unix ms as the output records do ("" for 0: never).
func rfc3339(ms int64) string {
	if ms == 0 {
		return ""
	}
	return string(appendRFC3339Millis(nil, ms))
}

// Describe explains a customer's state at now (Unix ms) under pack. The
// health is computed afresh at now, so it reflects time passed since the
// last event.
func Describe(pack *rules.Pack, id string, st *State, now int64) Customer {
	var v rules.Vars
	fillVars(&v, st, now, "", "", 0)
	v.Traits = alignedTraits(pack, st, nil)
	prof := pack.ProfileFor(&v)
	hc := pack.Scorecard(prof)
	comps := make([]float64, len(hc.Components))
	score, band := hc.Eval(&v, comps)
	c := Customer{
		ID:           id,
		Stage:        st.Stage,
		StageEntered: rfc3339(st.Times[rules.StageEntered]),
		DaysInStage:  v.Num[rules.DaysInStage],
		FirstSeen:    rfc3339(st.Times[rules.FirstSeen]),
		LastSeen:     rfc3339(st.Times[rules.LastSeen]),
		Health: CustomerHealth{Score: score, Band: band.String(), Components: map[string]float64{},
			Weights: map[string]float64{}, Points: map[string]float64{}, Inputs: map[string]*float64{}},
		OpenAlerts:   []CustomerAlert{},
		AsOf:         rfc3339(now),
		RulesVersion: pack.Version,
		Times:        map[string]string{},
	}
	if len(pack.Traits) > 0 {
		c.Traits = traitsJSON(pack, v.Traits)
	}
	if len(pack.Profiles) > 0 {
		c.Profile = &prof.Name
	}
	var sum float64
	for _, cp := range hc.Components {
		sum += cp.Weight
	}
	for i, cp := range hc.Components {
		c.Health.Components[cp.Name] = comps[i]
		c.Health.Weights[cp.Name] = cp.Weight * 100 / sum
		c.Health.Points[cp.Name] = comps[i] * cp.Weight / sum
	}
	for _, name := range []rules.Num{rules.DaysSinceEngagement, rules.Engagement7d, rules.Engagement30d, rules.BaselineWeekly, rules.NPS, rules.OpenTickets, rules.Refunds, rules.FailedPayments} {
		x := v.Num[name]
		if name == rules.NPS && st.NPS < 0 {
			c.Health.Inputs[rules.NumName(name)] = nil // -1 to expressions: no answer
			continue
		}
		c.Health.Inputs[rules.NumName(name)] = &x
	}
	for _, a := range st.Alerts {
		ca := CustomerAlert{AlertID: AlertID(id, a.Rule, a.FiredAt, a.Seq), Rule: a.Rule, FiredAt: rfc3339(a.FiredAt), Reasons: []string{}}
		if r := pack.Alert(a.Rule); r != nil {
			ca.Severity = r.Severity
			for _, t := range r.Reasons {
				ca.Reasons = append(ca.Reasons, t.String(&v))
			}
		}
		c.OpenAlerts = append(c.OpenAlerts, ca)
	}
	for i := range st.Holds {
		h := &st.Holds[i]
		ha := HeldAlert{Rule: h.Rule, PendingSince: rfc3339(h.PendingSince)}
		if h.CooldownUntil > now {
			ha.CooldownUntil = rfc3339(h.CooldownUntil)
		}
		if r := pack.Alert(h.Rule); r != nil {
			ha.FiresAt = rfc3339(holdDue(r, h))
		}
		if ha.PendingSince == "" && ha.CooldownUntil == "" {
			continue // a cooldown over, not yet cleared from the state
		}
		c.HeldAlerts = append(c.HeldAlerts, ha)
	}
	c.Counters = map[string]any{
		"purchases":        st.Purchases,
		"lifetime_value":   float64(st.RevenueCents) / 100,
		"open_tickets":     st.OpenTickets,
		"tickets_opened":   st.TicketsOpened,
		"failed_payments":  st.FailedPayments,
		"refunds":          st.Refunds,
		"referrals":        st.Referrals,
		"engagement_7d":    v.Num[rules.Engagement7d],
		"engagement_30d":   v.Num[rules.Engagement30d],
		"payment_failing":  v.Bool[rules.PaymentFailing],
		"nps":              nil,
		"baseline_weekly":  v.Num[rules.BaselineWeekly],
		"days_since_event": v.Num[rules.DaysSinceSeen],
	}
	if st.NPS >= 0 {
		c.Counters["nps"] = st.NPS
	}
	for _, f := range []rules.TimeField{rules.LastEngagement, rules.LastPurchase, rules.LastPaymentFailed} {
		if t := st.Times[f]; t != 0 {
			c.Times[rules.TimeFieldName(f)] = rfc3339(t)
		}
	}
	return c
}

// Funnel is customers per stage and the conversion between stages.
type Funnel struct {
	Customers int64 `json:"customers"`
	// Stages in the pack's order: customers in each now, and customers that
	// ever entered it.
	Stages []FunnelStage `json:"stages"`
	// Unstaged counts customers seen but in no stage yet.
	Unstaged int64 `json:"unstaged"`
}

// FunnelStage is one step of the funnel.
type FunnelStage struct {
	Stage   string `json:"stage"`
	Current int64  `json:"current"`
	Entered int64  `json:"entered"`
	// ConversionFromPrevious is Entered over the previous stage's Entered
	// (absent for the first stage and for churned).
	ConversionFromPrevious *float64 `json:"conversion_from_previous,omitempty"`
}

// KPIs are the lifecycle KPIs of DOMAIN.md over a set of partitions.
type KPIs struct {
	Customers int64 `json:"customers"`
	Converted int64 `json:"converted"`
	Churned   int64 `json:"churned"`
	// ChurnedBeforePurchase counts customers in the churned stage who never
	// made a purchase (a trial cancelled): they left, but were never
	// converted, so Churned and the churn rate leave them out.
	ChurnedBeforePurchase int64    `json:"churned_before_purchase"`
	ChurnRate             float64  `json:"churn_rate"`
	RetentionRate         float64  `json:"retention_rate"`
	NPS                   *float64 `json:"nps"`
	NPSResponses          int64    `json:"nps_responses"`
	LifetimeValue         float64  `json:"lifetime_value_total"`
	LifetimeValueMean     float64  `json:"lifetime_value_per_converted_customer"`
	// Currency is the pack's money.currency ("" when it declares none:
	// amounts are then added whatever their currency).
	Currency string `json:"currency,omitempty"`
	// MoneyNotCounted counts purchases and refunds whose amount lifetime
	// value leaves out, by cause: "unconverted" (a currency the pack has
	// no rate for), "out_of_range" (beyond 1e12 units, once converted),
	// "negative_purchase".
	MoneyNotCounted map[string]int64 `json:"money_not_counted"`
	AlertsOpen      map[string]int64 `json:"alerts_open"`
	Events          int64            `json:"events"`
	Duplicates      int64            `json:"duplicates"`
}

// count is m[stage], 0 for no stage ("": the pack has none).
func count(m map[string]int64, stage string) int64 {
	if stage == "" {
		return 0
	}
	return m[stage]
}

// Totals adds partition metas up.
func Totals(metas map[int32]Meta) Meta {
	var t Meta
	t.init()
	ids := make([]int32, 0, len(metas))
	for id := range metas {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		m := metas[id]
		t.Events += m.Events
		t.Duplicates += m.Duplicates
		t.Customers += m.Customers
		t.RevenueCents = addCents(t.RevenueCents, m.RevenueCents)
		t.MoneyUnconverted += m.MoneyUnconverted
		t.MoneyOutOfRange += m.MoneyOutOfRange
		t.MoneyNegative += m.MoneyNegative
		t.ChurnedUnpaid += m.ChurnedUnpaid
		t.Promoters += m.Promoters
		t.Passives += m.Passives
		t.Detractors += m.Detractors
		add := func(dst, src map[string]int64) {
			for k, v := range src {
				dst[k] += v
			}
		}
		add(t.Stages, m.Stages)
		add(t.Bands, m.Bands)
		add(t.AlertsOpen, m.AlertsOpen)
		add(t.Entered, m.Entered)
		t.Watermark = max(t.Watermark, m.Watermark)
	}
	return t
}

// FunnelOf computes the funnel from totals, in the pack's stage order. The
// pack's churned stage (rules.Pack.Churned) is a way out of the funnel,
// not a step of it: it has no conversion rate, and the stage after it
// converts from the one before it.
func FunnelOf(pack *rules.Pack, t Meta) Funnel {
	f := Funnel{Customers: t.Customers, Unstaged: t.Stages[""]}
	var prev int64 = -1
	for _, s := range pack.Stages {
		fs := FunnelStage{Stage: s, Current: t.Stages[s], Entered: t.Entered[s]}
		churned := s == pack.Churned
		if prev > 0 && !churned {
			r := float64(fs.Entered) / float64(prev)
			fs.ConversionFromPrevious = &r
		}
		if !churned {
			prev = fs.Entered
		}
		f.Stages = append(f.Stages, fs)
	}
	return f
}

// KPIsOf computes the KPIs from totals, with the stages the pack counts
// from (rules.Pack.Converted and Churned: "conversion" and "churned" in
// the default pack). Converted customers are those that ever entered the
// converted stage; churned ones those in the churned stage now who have
// made a purchase (ChurnedBeforePurchase counts the others: a trial
// cancelled is no churn of a converted customer). A pack without such a
// stage has no converted (or churned) customers.
func KPIsOf(pack *rules.Pack, t Meta) KPIs {
	k := KPIs{
		Customers:     t.Customers,
		Converted:     count(t.Entered, pack.Converted),
		Churned:       count(t.Stages, pack.Churned),
		LifetimeValue: float64(t.RevenueCents) / 100,
		Currency:      pack.Money.Currency,
		MoneyNotCounted: map[string]int64{"unconverted": t.MoneyUnconverted, "out_of_range": t.MoneyOutOfRange,
			"negative_purchase": t.MoneyNegative},
		AlertsOpen: t.AlertsOpen,
		Events:     t.Events,
		Duplicates: t.Duplicates,
	}
	if k.Churned > 0 {
		k.ChurnedBeforePurchase = min(max(t.ChurnedUnpaid, 0), k.Churned)
		k.Churned -= k.ChurnedBeforePurchase
	}
	if k.Converted > 0 {
		k.ChurnRate = float64(k.Churned) / float64(k.Converted)
		k.RetentionRate = 1 - k.ChurnRate
		k.LifetimeValueMean = k.LifetimeValue / float64(k.Converted)
	}
	k.NPSResponses = t.Promoters + t.Passives + t.Detractors
	if k.NPSResponses > 0 {
		n := 100 * float64(t.Promoters-t.Detractors) / float64(k.NPSResponses)
		k.NPS = &n
	}
	return k
}
