package rules

import (
	"fmt"
	"strings"
	"testing"
)

// largePack writes a valid pack of about size bytes: the shape of a big
// real one, with many event names, transitions and alerts, each with its
// own condition, so that every step of Parse has work in proportion to
// the size.
func largePack(size int) []byte {
	var b strings.Builder
	b.WriteString(`version: large
touchpoints:
  signup: {events: [Signed Up]}
  purchase: {events: [Order Completed]}
  support_opened: {events: [Ticket Opened]}
  cancel: {events: [Cancelled]}
  engagement:
    events:
`)
	// Each unit is one event name, one transition and one alert; the
	// three sections are written in turn, so write them to three
	// builders and join them.
	var events, trans, alerts strings.Builder
	trans.WriteString(`stages: [lead, customer, vip, churned]
kpis: {converted: customer}
health:
  components:
    - {name: support, weight: 100, score: "max(0, 100 - open_tickets * 25)"}
transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: cancel, from: [customer, vip], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
`)
	alerts.WriteString("alerts:\n")
	for i := 0; b.Len()+events.Len()+trans.Len()+alerts.Len() < size; i++ {
		fmt.Fprintf(&events, "      - Feature %d Used\n", i)
		when := fmt.Sprintf("revenue >= %d && engagement_30d > %d", 1000+i, i%30)
		if i%2 == 1 { // names an event: the check works out what event can be
			when = fmt.Sprintf("event == \"Feature %d Used\" || revenue >= %d", i, 1000+i)
		}
		fmt.Fprintf(&trans, "  - name: upgrade-%d\n    from: [customer]\n    to: vip\n    on: [purchase, engagement]\n    when: %s\n", i, when)
		fmt.Fprintf(&alerts, "  - name: tickets-%d\n    severity: warning\n    stages: [customer, vip]\n    when: open_tickets >= %d && days_since_seen < %d\n    resolve: open_tickets == 0\n    reasons: [\"{open_tickets} tickets open (limit %d)\"]\n", i, 3+i%50, 10+i, 3+i%50)
	}
	b.WriteString(events.String())
	b.WriteString(trans.String())
	b.WriteString(alerts.String())
	return []byte(b.String())
}

// BenchmarkParseLarge measures Parse on valid packs of 1, 2 and 4 MiB:
// the time per pack should double with the size, not quadruple.
func BenchmarkParseLarge(b *testing.B) {
	for _, mib := range []int{1, 2, 4} {
		data := largePack(mib<<20 - 4096)
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := Parse("large.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
