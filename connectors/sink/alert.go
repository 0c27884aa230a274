package sink

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Alert is what a sink reads of an alert record (README.md, "Outputs").
// Owner and profile are read when a record carries them; a record without
// them matches filters as "".
type Alert struct {
	Kind         string   `json:"kind"`
	CustomerID   string   `json:"customer_id"`
	At           string   `json:"at"`
	RulesVersion string   `json:"rules_version"`
	AlertID      string   `json:"alert_id"`
	Rule         string   `json:"rule"`
	Severity     string   `json:"severity"`
	Status       string   `json:"status"`
	Reasons      []string `json:"reasons"`
	EventID      string   `json:"event_id"`
	ResolvedBy   string   `json:"resolved_by"`
	Owner        string   `json:"owner"`
	Profile      string   `json:"profile"`
}

// errNotAlert marks a record of another kind: not for a sink, skipped.
var errNotAlert = errors.New("not an alert record")

// parseAlert decodes an alert record. A record of another kind is
// errNotAlert; one that is not JSON, or lacks what a delivery needs
// (alert_id, status), is an error saying what it looked like.
func parseAlert(value []byte) (Alert, error) {
	var a Alert
	if err := json.Unmarshal(value, &a); err != nil {
		return a, fmt.Errorf("undecodable alert record (%d bytes, starting %q): %w", len(value), head(value, 40), err)
	}
	if a.Kind != "alert" {
		return a, fmt.Errorf("%w (kind %q)", errNotAlert, a.Kind)
	}
	switch {
	case a.AlertID == "":
		return a, fmt.Errorf("alert record of rule %q, customer %q has no alert_id", a.Rule, a.CustomerID)
	case a.Status != "firing" && a.Status != "resolved":
		return a, fmt.Errorf("alert record %s has status %q (expected firing or resolved)", a.AlertID, a.Status)
	}
	return a, nil
}

// IdempotencyKey is the key a receiver deduplicates by: the alert id and
// its status. Firing and resolved are two deliveries of one alert; a
// redelivery of either (after a restart) has the same key.
func (a *Alert) IdempotencyKey() string { return a.AlertID + ":" + a.Status }

func head(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
