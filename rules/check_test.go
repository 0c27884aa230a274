package rules

import (
	"fmt"
	"strings"
	"testing"
)

// A small valid pack, cut in three so that each case replaces one part and
// keeps the others' line numbers: head is lines 1-12, okTransitions lines
// 13-17, okAlerts lines 18-22.
const head = `version: t1
touchpoints:
  signup: {events: [Signed Up]}
  purchase: {events: [Order Completed]}
  engagement: {calls: [page]}
  support_opened: {events: [Ticket Opened]}
  nps: {events: [NPS Responded]}
  cancel: {events: [Cancelled]}
stages: [lead, customer, churned]
health:
  components:
    - {name: support, weight: 100, score: "max(0, 100 - open_tickets * 25)"}
`

const okTransitions = `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
`

const okAlerts = `alerts:
  - name: tickets
    severity: warning
    when: open_tickets >= 3
    reasons: ["{open_tickets} tickets open"]
`

// want is one expected diagnostic: "line:col: error|warning: text", where
// text must occur in the message; " … " separates parts that must occur
// in that order.
type want string

func TestCheckDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []want
	}{
		{name: "valid pack", yaml: head + okTransitions + okAlerts},
		{name: "unknown key in a transition", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - name: buy
    from: [new, lead]
    to: customer
    on: [purchase]
    whn: purchases >= 1
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("19:5: error: unknown key \"whn\" in a transition (expected one of name, description, from, to, on, when, after, since); did you mean \"when\"?")}},
		{name: "unknown top-level key", yaml: head + okTransitions + `alert:
  - name: tickets
`, want: []want{want("18:1: error: unknown key \"alert\" in the rule pack … did you mean \"alerts\"?")}},
		{name: "a list where one value belongs", yaml: head + `transitions:
  - {name: signup, from: [new], to: [lead], on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("14:37: error: to: expected a single value, found a list")}},
		{name: "a key set twice", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup], on: [reach]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("14:57: error: key \"on\" is set twice in a transition (first at line 14)")}},
		{name: "text where a number belongs", yaml: strings.Replace(head, "health:\n", "health:\n  emit_delta: five\n", 1) + okTransitions, want: []want{want("11:15: error: emit_delta: expected a number, found the value \"five\"")}},
		{name: "YAML syntax error", yaml: head + okTransitions + `alerts:
  - name: tickets
     severity: warning
`, want: []want{want("20:6: error: YAML syntax: mapping values are not allowed in this context")}},
		{name: "YAML anchors and merge keys", yaml: head + okTransitions + `alerts:
  - &base {name: tickets, severity: warning, when: open_tickets >= 3, reasons: ["{open_tickets} tickets open"]}
  - {<<: *base, name: many-tickets, when: open_tickets >= 5}
  - {<<: [*base, 3], name: odd}
`, want: []want{"21:18: error: << (a YAML merge) takes a section of key: value pairs or a list of them, found the value \"3\""}},
		{name: "empty file", yaml: "# nothing yet\n", want: []want{want("1:1: error: the file is empty")}},
		{name: "two YAML documents", yaml: head + okTransitions + okAlerts + "---\nversion: t2\n", want: []want{want("23:1: error: a rule pack is one YAML document")}},
		{name: "unknown stage", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: custmer, on: [purchase]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("15:40: error: unknown stage \"custmer\" (expected one of lead, customer, churned); did you mean \"customer\"?")}},
		{name: "unknown category", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchse]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("15:55: error: unknown touchpoint category \"purchse\" (expected one of reach, signup, purchase, … did you mean \"purchase\"?")}},
		{name: "unknown variable", yaml: head + okTransitions + `alerts:
  - name: tickets
    severity: warning
    when: open_tickets >= 3 && nsp < 7
    reasons: ["{open_tickets} tickets open"]
`, want: []want{want("21:32: error: unknown variable nsp (expected one of purchases, … did you mean \"nps\"?")}},
		{name: "a number where a condition belongs", yaml: head + okTransitions + `alerts:
  - name: tickets
    severity: warning
    when: open_tickets + 3
    reasons: ["{open_tickets} tickets open"]
`, want: []want{want("21:11: error: expected a condition (true or false), but got a number")}},
		{name: "unsupported function", yaml: head + okTransitions + `alerts:
  - name: tickets
    severity: warning
    when: len(stage) > 3
    reasons: ["{open_tickets} tickets open"]
`, want: []want{want("21:11: error: function len is not supported in rule expressions")}},
		{name: "error inside a block scalar", yaml: head + okTransitions + `alerts:
  - name: tickets
    severity: warning
    when: |
      open_tickets >= 3 &&
        bogus > 1
    reasons: ["{open_tickets} tickets open"]
`, want: []want{want("23:9: error: unknown variable bogus")}},
		{name: "severity typo", yaml: head + okTransitions + `alerts:
  - name: tickets
    severity: warn
    when: open_tickets >= 3
    reasons: ["{open_tickets} tickets open"]
`, want: []want{want("20:15: error: alert tickets: severity \"warn\" (expected one of info, warning, critical); did you mean \"warning\"?")}},
		{name: "unknown variable in a reason", yaml: head + okTransitions + `alerts:
  - name: tickets
    severity: warning
    when: open_tickets >= 3
    reasons: ["{open_tikets} tickets open"]
`, want: []want{want("22:16: error: unknown variable {open_tikets} in reason text … did you mean \"open_tickets\"?")}},
		{name: "bad duration and unknown since", yaml: head + okTransitions + `alerts:
  - name: quiet
    severity: info
    after: 14days
    since: [last_engagment]
    reasons: ["{days_since_engagement} days"]
`, want: []want{want("21:12: error: after: duration \"14days\": expected a whole number followed by a unit"), want("22:13: error: since: unknown timestamp \"last_engagment\"")}},
		{name: "transition shadowed by an earlier one", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: cancel-big, from: [customer], to: churned, on: [cancel], when: revenue > 1000}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("17:5: error: transition cancel-big can never fire: transition cancel (line 16) comes first and always matches (from customer on cancel)")}},
		{name: "timed transition shadowed by a shorter one", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: lapse, from: [customer], to: churned, after: 30d, since: [last_seen]}
  - {name: lapse-long, from: [customer], to: churned, after: 60d, since: [last_seen]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("17:5: error: transition lapse-long can never fire: transition lapse (line 16) comes first and always matches (from customer after 60d)")}},
		{name: "on a category no event is mapped to", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: refer, from: [lead], to: customer, on: [referral]}
  - {name: cancel, from: [customer], to: churned, on: [cancel, refund]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("16:52: error: transition refer can never fire: no event is mapped to touchpoint category referral"), want("17:64: warning: no event is mapped to touchpoint category refund, so it never triggers transition cancel")}},
		{name: "when that is always false", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase], when: nps >= 9 && nps <= 6}
  - {name: back-nps, from: [churned], to: customer, on: [nps], when: touchpoint == "purchase"}
` + okAlerts, want: []want{want("17:71: error: transition back can never fire: its when (nps >= 9 && nps <= 6) is false for every customer it applies to (from churned on purchase)"), want("18:70: error: transition back-nps can never fire: its when (touchpoint == \"purchase\") is false for every customer it applies to (from churned on nps)")}},
		{name: "timer from new counting from stage_entered", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
  - {name: stale, from: [new], to: churned, after: 30d, since: [stage_entered]}
` + okAlerts, want: []want{want("18:5: error: transition stale can never fire: its timer counts from stage_entered only")}},
		{name: "comparisons with names that do not exist", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase, nps], when: touchpoint == "purchse" || stage == "new"}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + `alerts:
  - name: tickets
    severity: warning
    when: open_tickets >= 3 && band in ["red", "orange"] && event != "Tiket Opened"
    reasons: ["{open_tickets} tickets open"]
`, want: []want{want("15:91: error: unknown touchpoint category \"purchse\""), want("15:113: error: stage is \"\" for a customer with no stage yet, never \"new\""), want("21:48: error: unknown health band \"orange\" (expected green, yellow or red)"), want("21:70: warning: event \"Tiket Opened\" is not mapped to any touchpoint category")}},
		{name: "unreachable stages", yaml: strings.Replace(head, "churned]", "churned, vip]", 1) + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
  - {name: promote, from: [lead], to: vip, on: [nps], when: nps > 10}
` + okAlerts, want: []want{want("9:16: warning: stage customer has no way out"), want("9:26: error: stage churned is unreachable: no chain of transitions leads to it from a new customer"), want("9:35: error: stage vip is unreachable: the transitions that lead to it can never fire"), want("17:61: error: transition promote can never fire: its when (nps > 10) is false")}},
		{name: "stage with no way out", yaml: strings.Replace(head, "churned]", "churned, vip]", 1) + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase]}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: promote, from: [customer], to: vip, on: [nps], when: nps >= 9}
` + okAlerts, want: []want{want("9:35: warning: stage vip has no way out: no transition leaves it")}},
		{name: "weights that do not add up", yaml: strings.Replace(head, "weight: 100,", "weight: 60%,", 1) + `    - {name: sentiment, weight: heavy, score: "has_nps ? nps * 10 : 75"}
    - {name: money, weight: 20, score: "100 - refunds * 10"}
` + okTransitions + okAlerts, want: []want{want("13:33: error: health component sentiment: weight \"heavy\": expected a positive number of percent, at most 100")}},
		{name: "alerts that never fire or never resolve", yaml: head + okTransitions + `alerts:
  - name: never
    severity: info
    when: score > 100
    reasons: ["{score}"]
  - name: forever
    severity: info
    when: purchases >= 0
    reasons: ["{purchases} purchases"]
  - name: stuck
    severity: info
    when: has_nps && nps <= 6
    resolve: nps > 10
    reasons: ["NPS {nps}"]
  - name: flapping
    severity: info
    when: has_nps && nps <= 6
    resolve: nps >= -1
    reasons: ["NPS {nps}"]
  - name: old
    severity: info
    after: 365d
    since: [first_seen]
    reasons: ["customer for a year"]
`, want: []want{want("21:11: error: alert never can never fire: its when (score > 100) is false for every customer"), want("23:5: warning: alert forever can never resolve: its when is always true"), want("30:14: warning: alert stuck can never resolve: its resolve (nps > 10) is false for every customer"), want("35:14: warning: alert flapping: its resolve is always true"), want("37:5: warning: alert old can never resolve: its timer counts from first_seen, which never moves"), want("41:15: warning: alert old: no reason shows a value")}},
		{name: "health bands no score reaches", yaml: strings.Replace(head, `score: "max(0, 100 - open_tickets * 25)"`, `score: "min(60, 100 - open_tickets * 25)"`, 1) + okTransitions + okAlerts, want: []want{want("10:1: warning: health: the score is at most 60, so no customer is ever green (green starts at 75)")}},
		{name: "score in a transition", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase], when: score > 20}
  - {name: cancel, from: [customer], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("15:72: warning: score in a transition's when is the health of the customer before this event")}},
		{name: "touchpoint categories unused or empty", yaml: strings.Replace(head, "stages:", "  trial: {events: [Trial Started]}\n  refund: {events: []}\nstages:", 1) + okTransitions + okAlerts, want: []want{want("9:3: warning: touchpoint category trial is not used"), want("10:3: warning: touchpoint category refund maps no events")}},
		{name: "on and after together, and a self-loop", yaml: head + `transitions:
  - {name: signup, from: [new], to: lead, on: [signup]}
  - {name: buy, from: [new, lead], to: customer, on: [purchase], after: 3d, since: [first_seen]}
  - {name: cancel, from: [customer, churned], to: churned, on: [cancel]}
  - {name: back, from: [churned], to: customer, on: [purchase]}
` + okAlerts, want: []want{want("15:5: error: transition buy has both on and after"), want("16:37: error: transition cancel goes from churned to itself")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, diags, err := Parse("p.yaml", []byte(tc.yaml))
			var got []string
			errs := 0
			for _, d := range diags {
				got = append(got, d.String())
				if !d.Warning {
					errs++
				}
			}
			if (err != nil) != (errs > 0) {
				t.Errorf("Parse returned err %v with %d error diagnostics", err, errs)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				where, text, ok := strings.Cut(string(w), ": ")
				kind, text2, _ := strings.Cut(text, ": ")
				if !ok {
					t.Fatalf("bad want %q", w)
				}
				prefix := fmt.Sprintf("p.yaml:%s: %s: ", where, kind)
				rest, ok := strings.CutPrefix(got[i], prefix)
				for _, part := range strings.Split(text2, " … ") {
					var found bool
					_, rest, found = strings.Cut(rest, part)
					ok = ok && found
				}
				if !ok {
					t.Errorf("diagnostic %d:\n got %s\nwant %s%s", i, got[i], prefix, text2)
				}
			}
		})
	}
}
