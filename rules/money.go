package rules

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// MoneyProp names one of the amounts an event may carry: a property of a
// Segment message's properties (a CloudEvent's data) of that name, or, for
// Stripe, the amount its decoder picked for the object (amount). The
// decoder carries each one it finds; the pack's money.value says which
// one an event's value is.
type MoneyProp uint8

// The amounts an event may carry.
const (
	MoneyRevenue  MoneyProp = iota // properties.revenue
	MoneyTotal                     // properties.total
	MoneyValue                     // properties.value
	MoneyPrice                     // properties.price
	MoneyAmount                    // properties.amount; Stripe's amount of its object
	NumMoneyProps                  // how many there are
)

var moneyPropNames = [NumMoneyProps]string{"revenue", "total", "value", "price", "amount"}

// MoneyPropNames lists the names money.value accepts, in MoneyProp order.
func MoneyPropNames() []string { return append([]string(nil), moneyPropNames[:]...) }

// String returns the property's name.
func (m MoneyProp) String() string {
	if m < NumMoneyProps {
		return moneyPropNames[m]
	}
	return ""
}

// DefaultMoneyValue is the order money.value has when a pack leaves it
// out: total first, as Segment's e-commerce spec names the amount a
// customer paid (revenue excludes shipping and tax, and its Order Refunded
// example carries only total), so that a purchase and its refund read the
// same amount.
var defaultMoneyValue = [...]MoneyProp{MoneyTotal, MoneyRevenue, MoneyValue, MoneyPrice, MoneyAmount}

// MaxAmount bounds an amount in any currency, in major units (1e12: a
// trillion). The decoder rejects an event carrying a larger one (or an
// infinite one), and the engine does not add a larger converted amount,
// so that lifetime value in int64 cents (±9.2e16 units) cannot overflow
// in practice; its sums saturate besides.
const MaxAmount = 1e12

// Money is the pack's money rule: which amount of an event is its value,
// and the currency lifetime value is kept in.
type Money struct {
	// Value is the order in which an event's amounts are read; the first
	// present is the event's value (purchases add it, refunds subtract
	// it).
	Value []MoneyProp
	// Currency is the ISO 4217 code values are kept in, upper case; ""
	// when the pack declares none: every amount is then added as it
	// comes, whatever its currency.
	Currency string
	rates    []rate
}

// rate: one unit of code is worth per units of the pack's currency.
type rate struct {
	code string // upper case
	per  float64
}

// Pick returns the event's value: the first amount in Value order that
// the event carries (set has bit 1<<prop for each), or false for none.
func (m *Money) Pick(amounts *[NumMoneyProps]float64, set uint8) (float64, bool) {
	if set == 0 {
		return 0, false
	}
	for _, p := range m.Value {
		if set&(1<<p) != 0 {
			return amounts[p], true
		}
	}
	return 0, false
}

// Rate returns what one unit of currency is worth in the pack's currency:
// 1 for the pack's own currency, for "" (an event that names none is
// taken to be in it) and for every currency when the pack declares none;
// the pack's rate for a currency in its table; false for any other. Codes
// compare case-insensitively (Stripe writes "usd").
func (m *Money) Rate(currency string) (float64, bool) {
	if m.Currency == "" || currency == "" || strings.EqualFold(currency, m.Currency) {
		return 1, true
	}
	for i := range m.rates {
		if strings.EqualFold(currency, m.rates[i].code) {
			return m.rates[i].per, true
		}
	}
	return 0, false
}

// Rates returns the pack's conversion table (code → units of Currency).
func (m *Money) Rates() map[string]float64 {
	r := make(map[string]float64, len(m.rates))
	for _, x := range m.rates {
		r[x.code] = x.per
	}
	return r
}

// validAmount reports whether f is a finite amount within MaxAmount.
func validAmount(f float64) bool { return !math.IsNaN(f) && math.Abs(f) <= MaxAmount }

// compileMoney resolves the money section: the value order (by default
// defaultMoneyValue), the currency and its conversion table.
func compileMoney(d *diags, p *Pack, m *moneyDoc) {
	names := MoneyPropNames()
	seen := map[MoneyProp]bool{}
	for _, t := range m.Value.Items {
		i := slices.Index(names, t.Value)
		if i < 0 {
			d.errorf(t.Line, t.Col, "money.value: unknown amount %q (expected some of %s, in the order to read them)%s", t.Value, strings.Join(names, ", "), didYouMean(t.Value, names))
			continue
		}
		if seen[MoneyProp(i)] {
			d.errorf(t.Line, t.Col, "money.value: %s is listed twice; list each amount once", t.Value)
			continue
		}
		seen[MoneyProp(i)] = true
		p.Money.Value = append(p.Money.Value, MoneyProp(i))
	}
	if len(m.Value.Items) == 0 {
		p.Money.Value = defaultMoneyValue[:]
	}
	if m.Currency.Value != "" {
		if !isCurrency(m.Currency.Value) {
			d.errorf(m.Currency.Line, m.Currency.Col, "money.currency: %q is not an ISO 4217 code; write three letters such as USD or EUR", m.Currency.Value)
		} else {
			p.Money.Currency = strings.ToUpper(m.Currency.Value)
		}
	}
	if len(m.Rates) > 0 && m.Currency.Value == "" {
		d.errorf(m.Line, m.Col, "money.rates: a conversion table needs the currency it converts to; add money.currency (e.g. currency: USD)")
		return
	}
	for _, code := range sortedKeys(m.Rates) {
		t := m.Rates[code]
		if !isCurrency(code) {
			d.errorf(t.Line, t.Col, "money.rates: %q is not an ISO 4217 code; write three letters such as EUR: 1.08", code)
			continue
		}
		if strings.EqualFold(code, p.Money.Currency) {
			d.errorf(t.Line, t.Col, "money.rates: %s is the pack's own currency (always 1); remove it", code)
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(t.Value), 64)
		if err != nil || !(f > 0) || !validAmount(f) {
			d.errorf(t.Line, t.Col, "money.rates.%s: %q is not a positive number; write what one %s is worth in %s (e.g. %s: 1.08)", code, t.Value, strings.ToUpper(code), p.Money.Currency, strings.ToUpper(code))
			continue
		}
		p.Money.rates = append(p.Money.rates, rate{code: strings.ToUpper(code), per: f})
	}
}

// isCurrency reports whether s looks like an ISO 4217 code: three ASCII
// letters.
func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
