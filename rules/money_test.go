package rules

import (
	"strings"
	"testing"
)

// The money section: the value order, the currency and its rates, and the
// defaults of a pack that has none.
func TestMoney(t *testing.T) {
	p, diags, err := Parse("p.yaml", []byte(validPack(t)+"money:\n  value: [revenue, total]\n  currency: eur\n  rates: {usd: 0.92, GBP: 1.17}\n"))
	if err != nil || len(diags) > 0 {
		t.Fatalf("Parse: %v %v", err, diags)
	}
	m := &p.Money
	if m.Currency != "EUR" || len(m.Value) != 2 || m.Value[0] != MoneyRevenue || m.Value[1] != MoneyTotal {
		t.Errorf("money = %+v, want EUR and [revenue total]", m)
	}
	var amounts [NumMoneyProps]float64
	amounts[MoneyTotal], amounts[MoneyRevenue], amounts[MoneyPrice] = 30, 25, 9
	if v, ok := m.Pick(&amounts, 1<<MoneyTotal|1<<MoneyRevenue|1<<MoneyPrice); v != 25 || !ok {
		t.Errorf("Pick = %v %v, want revenue 25", v, ok)
	}
	if v, ok := m.Pick(&amounts, 1<<MoneyPrice); ok {
		t.Errorf("Pick of price alone = %v, want none: price is not listed", v)
	}
	for cur, want := range map[string]float64{"": 1, "EUR": 1, "eur": 1, "USD": 0.92, "Gbp": 1.17} {
		if r, ok := m.Rate(cur); !ok || r != want {
			t.Errorf("Rate(%q) = %v %v, want %v", cur, r, ok, want)
		}
	}
	if r, ok := m.Rate("JPY"); ok {
		t.Errorf("Rate(JPY) = %v, want none: not in the table", r)
	}

	// Left out: total first; no currency, so every amount adds as it comes.
	p, _, err = Parse("p.yaml", []byte(validPack(t)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Money.Currency != "" || len(p.Money.Value) != int(NumMoneyProps) || p.Money.Value[0] != MoneyTotal {
		t.Errorf("default money = %+v, want no currency and total first", p.Money)
	}
	if r, ok := p.Money.Rate("JPY"); !ok || r != 1 {
		t.Errorf("without a currency, Rate(JPY) = %v %v, want 1", r, ok)
	}
}

func TestMoneyErrors(t *testing.T) {
	for _, c := range []struct{ name, money, want string }{
		{"unknown amount", "{value: [totl]}", `money.value: unknown amount "totl" (expected some of revenue, total, value, price, amount, in the order to read them); did you mean "total"?`},
		{"twice", "{value: [total, total]}", "money.value: total is listed twice"},
		{"bad currency", "{currency: dollars}", `money.currency: "dollars" is not an ISO 4217 code`},
		{"rates without currency", "{rates: {EUR: 1.08}}", "money.rates: a conversion table needs the currency it converts to"},
		{"bad rate", "{currency: USD, rates: {EUR: -1}}", `money.rates.EUR: "-1" is not a positive number`},
		{"rate not a number", "{currency: USD, rates: {EUR: lots}}", `money.rates.EUR: "lots" is not a positive number`},
		{"own currency", "{currency: USD, rates: {usd: 1}}", "money.rates: usd is the pack's own currency"},
		{"bad code", "{currency: USD, rates: {euro: 1.08}}", `money.rates: "euro" is not an ISO 4217 code`},
		{"unknown key", "{curency: USD}", `unknown key "curency" in money (expected one of value, currency, rates); did you mean "currency"?`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Parse("p.yaml", []byte(validPack(t)+"money: "+c.money+"\n"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v\nwant it to contain %s", err, c.want)
			}
		})
	}
}
