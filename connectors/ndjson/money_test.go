package ndjson_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/ndjson"
	"github.com/lifeline-hq/lifeline/engine"
)

// Money through the whole replay with the default pack (USD, no rates):
// an amount of 1e17 is a bad line (amount_out_of_range) that changes
// nobody's lifetime value, and a JPY order is applied (a purchase) but
// left out of lifetime value, which the summary says.
func TestReplayMoneyNotCounted(t *testing.T) {
	input := []byte(strings.Join([]string{
		`{"type":"track","event":"Order Completed","userId":"ann","messageId":"m1","timestamp":"2026-03-01T10:00:00Z","properties":{"total":27.5,"revenue":25,"currency":"USD"}}`,
		`{"type":"track","event":"Order Completed","userId":"ann","messageId":"m2","timestamp":"2026-03-02T10:00:00Z","properties":{"revenue":1e17,"currency":"USD"}}`,
		`{"type":"track","event":"Order Completed","userId":"ann","messageId":"m3","timestamp":"2026-03-03T10:00:00Z","properties":{"total":1000,"currency":"JPY"}}`,
		`{"type":"track","event":"Order Refunded","userId":"ann","messageId":"m4","timestamp":"2026-03-04T10:00:00Z","properties":{"total":27.5,"currency":"USD"}}`,
	}, "\n") + "\n")
	_, sum := replay(t, input, ndjson.Options{}, engine.Options{})
	if sum.BadCount != 1 || sum.Bad[0].Line != 2 || sum.Bad[0].Reason != decode.ReasonAmountOutOfRange {
		t.Errorf("bad lines %+v, want line 2 as amount_out_of_range", sum.Bad)
	}
	if sum.Events != 3 {
		t.Errorf("%d events applied, want 3", sum.Events)
	}
	if sum.MoneyNotCounted["unconverted"] != 1 || sum.Currency != "USD" {
		t.Errorf("money not counted %v in %q, want 1 unconverted in USD", sum.MoneyNotCounted, sum.Currency)
	}
	var text bytes.Buffer
	sum.Format(&text)
	if want := "purchases and refunds left out of lifetime value (kept in USD): 1 unconverted (in a currency without a rate in the pack's money.rates)"; !strings.Contains(text.String(), want) {
		t.Errorf("summary does not say what money it left out:\n%s", text.String())
	}
	if !strings.Contains(text.String(), "amount_out_of_range") {
		t.Errorf("summary does not list the out-of-range line:\n%s", text.String())
	}
}
