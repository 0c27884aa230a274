package sink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// slackMessage is an incoming webhook's payload: text is the
// notification's (and old clients') fallback, blocks what Slack shows.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks,omitempty"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// severityMark is a severity's emoji and word.
func severityMark(sev string) (string, string) {
	switch sev {
	case "critical":
		return ":red_circle:", "CRITICAL"
	case "warning":
		return ":large_orange_circle:", "WARNING"
	case "info":
		return ":large_blue_circle:", "INFO"
	}
	return ":white_circle:", strings.ToUpper(sev)
}

// consoleLink is the console URL of a's customer ("" without a template).
func consoleLink(tmpl string, a *Alert) string {
	if tmpl == "" {
		return ""
	}
	return strings.NewReplacer("{customer_id}", url.PathEscape(a.CustomerID), "{alert_id}", url.PathEscape(a.AlertID),
		"{rule}", url.PathEscape(a.Rule)).Replace(tmpl)
}

// slackAlert is the Slack message of one alert: a headline (severity,
// rule, status, customer), its reasons as bullets, and a context line
// (owner, profile, time, the console link).
func slackAlert(a *Alert, console string) []byte {
	emoji, word := severityMark(a.Severity)
	rule, cust := slackEscape.Replace(a.Rule), slackEscape.Replace(a.CustomerID)
	var head, fallback string
	if a.Status == "resolved" {
		head = fmt.Sprintf(":white_check_mark: *RESOLVED* · *%s* for customer *%s* (was %s)", rule, cust, strings.ToLower(word))
		fallback = fmt.Sprintf("Resolved: %s for customer %s", rule, cust)
	} else {
		head = fmt.Sprintf("%s *%s* · *%s* is firing for customer *%s*", emoji, word, rule, cust)
		fallback = fmt.Sprintf("%s: %s is firing for customer %s", word, rule, cust)
	}
	var b strings.Builder
	b.WriteString(head)
	for _, r := range a.Reasons {
		b.WriteString("\n• ")
		b.WriteString(slackEscape.Replace(r))
	}
	if a.ResolvedBy != "" {
		fmt.Fprintf(&b, "\n_resolved by: %s_", slackEscape.Replace(a.ResolvedBy))
	}
	ctx := contextLine(a, console)
	msg := slackMessage{Text: fallback, Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: clip(b.String(), 3000)}}}}
	if ctx != "" {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: clip(ctx, 3000)}}})
	}
	return marshalSlack(msg)
}

// contextLine is an alert's owner, profile, time and link, as mrkdwn.
func contextLine(a *Alert, console string) string {
	var parts []string
	if a.Owner != "" {
		parts = append(parts, "Owner: *"+slackEscape.Replace(a.Owner)+"*")
	} else {
		parts = append(parts, "Owner: _none_")
	}
	if a.Profile != "" {
		parts = append(parts, "Profile: "+slackEscape.Replace(a.Profile))
	}
	if t, err := time.Parse(time.RFC3339Nano, a.At); err == nil {
		parts = append(parts, t.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if link := consoleLink(console, a); link != "" {
		parts = append(parts, "<"+slackEscape.Replace(link)+"|Open in Lifeline>")
	}
	return strings.Join(parts, " · ")
}

// slackDigestLines bounds the alerts one digest message lists; the rest
// are counted.
const slackDigestLines = 40

// slackDigest is the Slack message of a digest: a headline (how many
// alerts, for whom) and one line per alert.
func slackDigest(owner string, alerts []*Alert, console string) []byte {
	firing := 0
	for _, a := range alerts {
		if a.Status == "firing" {
			firing++
		}
	}
	who := "no owner"
	if owner != "" {
		who = "*" + slackEscape.Replace(owner) + "*"
	}
	head := fmt.Sprintf(":bell: *Lifeline digest* for %s: %d alert%s (%d firing, %d resolved)", who, len(alerts), plural(len(alerts)), firing, len(alerts)-firing)
	var b strings.Builder
	b.WriteString(head)
	for i, a := range alerts {
		if i == slackDigestLines {
			fmt.Fprintf(&b, "\n_and %d more_", len(alerts)-i)
			break
		}
		emoji, word := severityMark(a.Severity)
		if a.Status == "resolved" {
			emoji = ":white_check_mark:"
		}
		cust := slackEscape.Replace(a.CustomerID)
		if link := consoleLink(console, a); link != "" {
			cust = "<" + slackEscape.Replace(link) + "|" + cust + ">"
		}
		fmt.Fprintf(&b, "\n%s %s · *%s* %s · %s", emoji, strings.ToLower(word), slackEscape.Replace(a.Rule), a.Status, cust)
		if len(a.Reasons) > 0 {
			b.WriteString(": " + slackEscape.Replace(strings.Join(a.Reasons, "; ")))
		}
	}
	fallback := fmt.Sprintf("Lifeline digest: %d alert%s (%d firing)", len(alerts), plural(len(alerts)), firing)
	msg := slackMessage{Text: fallback, Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: clip(b.String(), 3000)}}}}
	return marshalSlack(msg)
}

// marshalSlack encodes a message without escaping <, > and & as \u00XX
// (Slack reads both; the plain form is what people read in logs).
func marshalSlack(m slackMessage) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m) // strings only: cannot fail
	return bytes.TrimRight(b.Bytes(), "\n")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// clip shortens s to at most n bytes (Slack refuses a text block over
// 3000 characters), on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
