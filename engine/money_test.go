package engine_test

import (
	"math"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// money builds a track event carrying amounts (property name → amount)
// in currency ("" for none).
func money(customer, name string, at int64, id, currency string, amounts map[rules.MoneyProp]float64) engine.Event {
	e := ev(customer, name, at, id)
	for p, v := range amounts {
		e.SetAmount(p, v)
	}
	e.Currency = currency
	return e
}

// withPack makes the harness's partition apply pack from its next event.
func withPack(t *testing.T, h *harness, yaml string) {
	t.Helper()
	pack, _, err := rules.Parse("money.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	h.eng.SetPack(pack)
	h.commit() // the partition picks the pack up at its next batch
}

// kpis is the partition's KPIs under the engine's pack.
func kpis(h *harness) engine.KPIs {
	return engine.KPIsOf(h.eng.Pack(), engine.Totals(map[int32]engine.Meta{0: h.p.Meta()}))
}

// Segment's own Order Completed example carries total 27.50 and revenue
// 25.00; its Order Refunded carries total only. One value rule (the
// default pack's: total first) reads the same amount for both, so a full
// refund leaves lifetime value at 0, not -2.50.
func TestMoneyOneValueRuleForPurchaseAndRefund(t *testing.T) {
	h := newHarness(t, engine.Options{})
	h.apply(money("ann", "Order Completed", t0, "o1", "USD", map[rules.MoneyProp]float64{
		rules.MoneyTotal: 27.5, rules.MoneyRevenue: 25, rules.MoneyPrice: 19.99}))
	if st := h.state("ann"); st.RevenueCents != 2750 {
		t.Errorf("after the order: lifetime value %d cents, want 2750 (total)", st.RevenueCents)
	}
	h.apply(money("ann", "Order Refunded", t0+day, "r1", "USD", map[rules.MoneyProp]float64{rules.MoneyTotal: 27.5}))
	if st := h.state("ann"); st.RevenueCents != 0 {
		t.Errorf("after the full refund: lifetime value %d cents, want 0", st.RevenueCents)
	}
	// A pack that reads revenue first reads it for both too.
	withPack(t, h, strings.Replace(string(rules.DefaultYAML()), "value: [total, revenue, value, price, amount]", "value: [revenue, total]", 1))
	h.apply(money("bob", "Order Completed", t0, "o2", "", map[rules.MoneyProp]float64{rules.MoneyTotal: 27.5, rules.MoneyRevenue: 25}))
	h.apply(money("bob", "Order Refunded", t0+day, "r2", "", map[rules.MoneyProp]float64{rules.MoneyTotal: 30, rules.MoneyRevenue: 25}))
	if st := h.state("bob"); st.RevenueCents != 0 {
		t.Errorf("revenue first: lifetime value %d cents after order and refund, want 0", st.RevenueCents)
	}
	// An amount the pack does not list is no value: price alone.
	h.apply(money("cy", "Order Completed", t0, "o3", "", map[rules.MoneyProp]float64{rules.MoneyPrice: 5}))
	if st := h.state("cy"); st.RevenueCents != 0 || st.Purchases != 1 {
		t.Errorf("price only, not listed: %d cents, %d purchases; want 0 and 1", st.RevenueCents, st.Purchases)
	}
}

// Amounts in the pack's currency add up; another currency is converted
// by the pack's rates, and one without a rate is not added but counted
// (KPIs money_not_counted).
func TestMoneyCurrencies(t *testing.T) {
	h := newHarness(t, engine.Options{})
	usd := func(id string, v float64, cur string) engine.Event {
		return money("ann", "Order Completed", t0+int64(len(h.recs))*minute, id, cur, map[rules.MoneyProp]float64{rules.MoneyTotal: v})
	}
	h.apply(usd("o1", 100, "USD"))
	h.apply(usd("o2", 100, "JPY"))
	h.apply(usd("o3", 10, "usd")) // Stripe writes codes in lower case
	h.apply(usd("o4", 1, ""))     // no currency: the pack's
	st := h.state("ann")
	if st.RevenueCents != 11100 {
		t.Errorf("100 USD + 100 JPY + 10 usd + 1: lifetime value %d cents, want 11100 (JPY without a rate is left out)", st.RevenueCents)
	}
	if st.Purchases != 4 {
		t.Errorf("purchases = %d, want 4 (an unconverted amount is still a purchase)", st.Purchases)
	}
	k := kpis(h)
	if k.LifetimeValue != 111 || k.Currency != "USD" || k.MoneyNotCounted["unconverted"] != 1 {
		t.Errorf("KPIs: lifetime value %v %s, not counted %v; want 111 USD, 1 unconverted", k.LifetimeValue, k.Currency, k.MoneyNotCounted)
	}

	withPack(t, h, strings.Replace(string(rules.DefaultYAML()), "rates: {}", "rates: {EUR: 1.08, jpy: 0.0065}", 1))
	h.apply(money("bob", "Order Completed", t0, "b1", "EUR", map[rules.MoneyProp]float64{rules.MoneyTotal: 100}))
	h.apply(money("bob", "Order Completed", t0+hour, "b2", "JPY", map[rules.MoneyProp]float64{rules.MoneyTotal: 100}))
	h.apply(money("bob", "Order Refunded", t0+2*hour, "b3", "eur", map[rules.MoneyProp]float64{rules.MoneyTotal: 50}))
	if st := h.state("bob"); st.RevenueCents != 10800+65-5400 {
		t.Errorf("100 EUR + 100 JPY - 50 EUR at 1.08 and 0.0065: %d cents, want %d", st.RevenueCents, 10800+65-5400)
	}
	if k := kpis(h); k.MoneyNotCounted["unconverted"] != 1 {
		t.Errorf("unconverted = %d, want still 1", k.MoneyNotCounted["unconverted"])
	}
}

// Amounts that would break lifetime value are not added, and counted:
// beyond rules.MaxAmount (the decoder rejects those; a rule test or
// another producer of Events may still carry them), NaN, infinite, and a
// negative amount on a purchase. Lifetime value, the KPI and the
// partition's sum stay what the sane events made them.
func TestMoneyOutOfRangeNotCounted(t *testing.T) {
	h := newHarness(t, engine.Options{})
	h.apply(money("ann", "Order Completed", t0, "o1", "", map[rules.MoneyProp]float64{rules.MoneyTotal: 49}))
	for i, v := range []float64{1e17, -1e17, math.Inf(1), math.NaN(), 1e12 + 1} {
		h.apply(money("ann", "Order Completed", t0+int64(i+1)*minute, "big"+string(rune('a'+i)), "", map[rules.MoneyProp]float64{rules.MoneyTotal: v}))
	}
	h.apply(money("ann", "Order Refunded", t0+hour, "r1", "", map[rules.MoneyProp]float64{rules.MoneyTotal: 1e17}))
	h.apply(money("ann", "Order Completed", t0+2*hour, "neg", "", map[rules.MoneyProp]float64{rules.MoneyTotal: -20}))
	// A refund written negative subtracts all the same.
	h.apply(money("ann", "Order Refunded", t0+3*hour, "r2", "", map[rules.MoneyProp]float64{rules.MoneyTotal: -9}))
	st := h.state("ann")
	if st.RevenueCents != 4000 {
		t.Errorf("lifetime value %d cents, want 4000 (49 - 9)", st.RevenueCents)
	}
	k := kpis(h)
	if k.LifetimeValue != 40 || k.LifetimeValueMean != 40 {
		t.Errorf("KPIs lifetime value %v, per converted customer %v; want 40 and 40", k.LifetimeValue, k.LifetimeValueMean)
	}
	if k.MoneyNotCounted["out_of_range"] != 6 || k.MoneyNotCounted["negative_purchase"] != 1 {
		t.Errorf("not counted %v, want out_of_range 6, negative_purchase 1", k.MoneyNotCounted)
	}
	c := engine.Describe(h.eng.Pack(), "ann", &st, t0+4*hour)
	if c.Counters["lifetime_value"] != 40.0 {
		t.Errorf("/v1/customers lifetime_value = %v, want 40", c.Counters["lifetime_value"])
	}
}

// Amounts at the bound add up to more than int64 cents hold: the sums stay
// at the bound instead of wrapping to a large negative value.
func TestMoneySumSaturates(t *testing.T) {
	if testing.Short() {
		t.Skip("applies 93,000 events")
	}
	h := newHarness(t, engine.Options{})
	const n = 93_000 // 93,000 × 1e14 cents > 9.22e18
	evs := make([]engine.Event, 0, 1000)
	for i := 0; i < n; i += len(evs) {
		evs = evs[:0]
		for j := 0; j < 1000; j++ {
			e := ev("whale", "Order Completed", t0+int64(i+j), "")
			e.SetAmount(rules.MoneyTotal, rules.MaxAmount)
			evs = append(evs, e)
		}
		if err := h.d.Process(&engine.Events{List: evs, First: h.pos}); err != nil {
			t.Fatal(err)
		}
		h.pos += int64(len(evs))
		h.drain()
	}
	st := h.state("whale")
	if st.RevenueCents != math.MaxInt64 {
		t.Errorf("lifetime value %d cents, want saturated at %d", st.RevenueCents, int64(math.MaxInt64))
	}
	if k := kpis(h); k.LifetimeValue < 9e16 {
		t.Errorf("KPI lifetime value %v, want about 9.2e16 (saturated, not wrapped)", k.LifetimeValue)
	}
}

// A payment that clears a failed one is that payment's retry: its money
// counts, the purchase count does not.
func TestRecoveredPaymentIsNoPurchase(t *testing.T) {
	h := newHarness(t, engine.Options{})
	h.apply(purchase("ann", t0, "o1", 49))
	h.apply(ev("ann", "Payment Failed", t0+30*day, "f1"))
	h.apply(purchase("ann", t0+31*day, "p1", 49))
	if st := h.state("ann"); st.Purchases != 1 || st.RevenueCents != 9800 || st.Stage != "conversion" {
		t.Errorf("after the retry: %d purchases, %d cents, stage %s; want 1, 9800, conversion", st.Purchases, st.RevenueCents, st.Stage)
	}
	h.apply(purchase("ann", t0+40*day, "o2", 49))
	if st := h.state("ann"); st.Purchases != 2 || st.Stage != "retention" {
		t.Errorf("after the next order: %d purchases, stage %s; want 2, retention", st.Purchases, st.Stage)
	}
}

// A trial deleted before any purchase goes to churned (the default pack's
// cancel-before-purchase), but the KPIs do not count it as churn of a
// converted customer: the churn rate stays churned payers over payers.
func TestKPIsLeaveOutChurnBeforePurchase(t *testing.T) {
	h := newHarness(t, engine.Options{})
	h.apply(ev("ann", "Trial Started", t0, "a1"))
	h.apply(ev("ann", "Account Deleted", t0+day, "a2"))
	h.apply(purchase("bob", t0, "b1", 10))
	h.apply(ev("bob", "Subscription Cancelled", t0+day, "b2"))
	h.apply(purchase("cy", t0, "c1", 10))
	k := kpis(h)
	if k.Churned != 1 || k.ChurnedBeforePurchase != 1 || k.Converted != 2 || k.ChurnRate != 0.5 {
		t.Errorf("churned %d (before purchase %d) of %d converted, rate %v; want 1 (1) of 2, 0.5",
			k.Churned, k.ChurnedBeforePurchase, k.Converted, k.ChurnRate)
	}
	// ann buys after all: converted now, and no longer churned.
	h.apply(purchase("ann", t0+40*day, "a3", 10))
	k = kpis(h)
	if st := h.state("ann"); st.Stage != "conversion" {
		t.Errorf("ann is in %s after buying, want conversion (late-first-purchase)", st.Stage)
	}
	if k.Churned != 1 || k.ChurnedBeforePurchase != 0 || k.Converted != 3 {
		t.Errorf("after ann's purchase: churned %d (before purchase %d) of %d converted; want 1 (0) of 3", k.Churned, k.ChurnedBeforePurchase, k.Converted)
	}
	// The count survives a restart (it is part of the checkpoint).
	h.apply(ev("dee", "Signed Up", t0+41*day, "d1"))
	h.apply(ev("dee", "Subscription Cancelled", t0+41*day+hour, "d2"))
	h.reopen()
	if k := kpis(h); k.ChurnedBeforePurchase != 1 || k.Churned != 1 {
		t.Errorf("after a restart: churned %d, before purchase %d; want 1 and 1", k.Churned, k.ChurnedBeforePurchase)
	}
}
