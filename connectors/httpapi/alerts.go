package httpapi

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// The bounds of GET /v1/alerts.
const (
	// DefaultAlertLimit is an alert page's size without ?limit.
	DefaultAlertLimit = 100
	// MaxAlertLimit bounds ?limit.
	MaxAlertLimit = 1000
)

// ListedAlert is one open alert in GET /v1/alerts: the alert, and what a
// customer-success person needs beside it to act (stage, health, owner).
type ListedAlert struct {
	AlertID    string `json:"alert_id"`
	CustomerID string `json:"customer_id"`
	Rule       string `json:"rule"`
	Severity   string `json:"severity"`
	Status     string `json:"status"`
	// Since is when it fired (event time).
	Since string `json:"since"`
	// Reasons are the rule's reason texts with the customer's values as
	// of the answer (engine.CustomerAlert).
	Reasons     []string `json:"reasons"`
	Stage       string   `json:"stage"`
	HealthScore float64  `json:"health_score"`
	HealthBand  string   `json:"health_band"`
	// Owner and Profile are the customer's traits of those names (owner,
	// else csm_owner; profile), when the pack declares them.
	Owner     string `json:"owner,omitempty"`
	Profile   string `json:"profile,omitempty"`
	Partition int32  `json:"partition"`

	since int64 // Since in Unix ms, for sorting
}

// AlertList is the answer of GET /v1/alerts.
type AlertList struct {
	Alerts     []ListedAlert `json:"alerts"`
	Partitions Partitions    `json:"partitions"`
	// Partial: alerts of the partitions in Partitions.Missing are not
	// listed.
	Partial bool `json:"partial"`
	// NextCursor, when set, asks for the next page (?cursor=).
	NextCursor string      `json:"next_cursor,omitempty"`
	PeerErrors []PeerError `json:"peer_errors,omitempty"`
}

// alertFilter is what GET /v1/alerts asks for.
type alertFilter struct {
	rule, severity, owner, stage string
	limit                        int
	after                        *alertKey
}

// alertKey is an alert's place in the list's order: severity (critical
// first), then oldest first, then customer and alert id.
type alertKey struct {
	Rank     int    `json:"r"`
	Since    int64  `json:"s"`
	Customer string `json:"c"`
	AlertID  string `json:"a"`
}

// severityRank orders severities: critical, error, warning, info, then
// any other.
func severityRank(s string) int {
	switch s {
	case "critical":
		return 0
	case "error":
		return 1
	case "warning":
		return 2
	case "info":
		return 3
	}
	return 4
}

func keyOf(a *ListedAlert) alertKey {
	return alertKey{Rank: severityRank(a.Severity), Since: a.since, Customer: a.CustomerID, AlertID: a.AlertID}
}

func compareKeys(x, y alertKey) int {
	return cmp.Or(cmp.Compare(x.Rank, y.Rank), cmp.Compare(x.Since, y.Since),
		cmp.Compare(x.Customer, y.Customer), cmp.Compare(x.AlertID, y.AlertID))
}

func compareAlerts(x, y ListedAlert) int { return compareKeys(keyOf(&x), keyOf(&y)) }

func (k alertKey) cursor() string {
	b, _ := json.Marshal(k)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseCursor(s string) (*alertKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var k alertKey
	if err == nil {
		err = json.Unmarshal(b, &k)
	}
	if err != nil {
		return nil, fmt.Errorf("cursor %q: not a next_cursor of an earlier answer", s)
	}
	return &k, nil
}

// parseAlertFilter reads GET /v1/alerts's query; local answers may be
// one longer than MaxAlertLimit (a peer is asked one more than the page,
// to learn whether there is a next one).
func parseAlertFilter(q url.Values, local bool) (alertFilter, error) {
	f := alertFilter{rule: q.Get("rule"), severity: q.Get("severity"), owner: q.Get("owner"), stage: q.Get("stage"), limit: DefaultAlertLimit}
	switch s := q.Get("status"); s {
	case "", "firing":
	case "resolved":
		return f, errors.New("status resolved: the state keeps open alerts only; resolved alerts are the records with \"status\":\"resolved\" on the alerts topic")
	default:
		return f, fmt.Errorf("status %q: expected firing (the default)", s)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		top := MaxAlertLimit
		if local {
			top++
		}
		if err != nil || n < 1 || n > top {
			return f, fmt.Errorf("limit %q: expected a whole number from 1 to %d", s, MaxAlertLimit)
		}
		f.limit = n
	}
	if s := q.Get("cursor"); s != "" {
		k, err := parseCursor(s)
		if err != nil {
			return f, err
		}
		f.after = k
	}
	return f, nil
}

// alerts answers GET /v1/alerts: the open alerts of the partitions held
// here and, unless ?scope=local, of those the peers hold, in the list's
// order, at most limit of them after the cursor.
func (a *api) alerts(w http.ResponseWriter, r *http.Request) {
	local, ok := scope(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f, err := parseAlertFilter(q, local)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	pack, now := a.src.Pack(), a.src.Now()
	// One more than the page: whether there is a next one.
	keep := f.limit + 1
	if local {
		keep = f.limit
	}
	var list []ListedAlert
	trim := func() {
		slices.SortFunc(list, compareAlerts)
		if len(list) > keep {
			list = list[:keep]
		}
	}
	cov, err := a.src.Scan(r.Context(), func(p int32, customer string, st *engine.State) error {
		if len(st.Alerts) == 0 || (f.stage != "" && st.Stage != f.stage) {
			return nil
		}
		match := false
		for _, oa := range st.Alerts {
			match = match || matches(pack, oa.Rule, f)
		}
		if !match {
			return nil
		}
		c := engine.Describe(pack, customer, st, now)
		owner, profile := traitString(c.Traits, "owner", "csm_owner"), traitString(c.Traits, "profile")
		if f.owner != "" && owner != f.owner {
			return nil
		}
		for i, oa := range st.Alerts {
			if !matches(pack, oa.Rule, f) {
				continue
			}
			ca := c.OpenAlerts[i]
			la := ListedAlert{AlertID: ca.AlertID, CustomerID: customer, Rule: ca.Rule, Severity: ca.Severity, Status: "firing",
				Since: ca.FiredAt, Reasons: ca.Reasons, Stage: c.Stage, HealthScore: c.Health.Score, HealthBand: c.Health.Band,
				Owner: owner, Profile: profile, Partition: p, since: oa.FiredAt}
			if f.after != nil && compareKeys(keyOf(&la), *f.after) <= 0 {
				continue
			}
			list = append(list, la)
		}
		if len(list) >= 2*keep+64 {
			trim()
		}
		return nil
	})
	if err != nil {
		a.log.Warn().Err(err).Msg("list alerts")
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	answered := make(map[int32]bool, cov.Partitions)
	for _, p := range cov.Held {
		answered[p] = true
	}
	total := cov.Partitions
	var peerErrs []PeerError
	if !local && a.peers != nil && len(cov.Held) < int(total) {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("limit", strconv.Itoa(keep))
		bodies, errs := a.peers.gather(r.Context(), "/v1/alerts", pq)
		peerErrs = errs
		for _, b := range bodies {
			var pl AlertList
			if err := json.Unmarshal(b.body, &pl); err != nil {
				peerErrs = append(peerErrs, PeerError{Peer: b.peer, Error: fmt.Sprintf("answered 200 with a body that is not an alert list: %v", err)})
				continue
			}
			total = max(total, pl.Partitions.Total)
			// Each partition from one instance: the first that answered
			// for it (this one, then the peers in order).
			fresh := map[int32]bool{}
			for _, p := range pl.Partitions.Answered {
				if !answered[p] {
					fresh[p], answered[p] = true, true
				}
			}
			for _, la := range pl.Alerts {
				if !fresh[la.Partition] {
					continue
				}
				t, err := time.Parse(time.RFC3339Nano, la.Since)
				if err != nil {
					peerErrs = append(peerErrs, PeerError{Peer: b.peer, Error: fmt.Sprintf("alert %s: since %q is not an RFC 3339 time", la.AlertID, la.Since)})
					continue
				}
				la.since = t.UnixMilli()
				list = append(list, la)
			}
		}
		for _, e := range peerErrs {
			a.log.Debug().Str("peer", e.Peer).Str("error", e.Error).Msg("a peer could not be asked for alerts")
		}
	}
	trim()
	out := AlertList{Alerts: list, Partitions: partitionsOf(total, answered), PeerErrors: peerErrs}
	if len(out.Alerts) > f.limit {
		out.Alerts = out.Alerts[:f.limit]
		out.NextCursor = keyOf(&out.Alerts[f.limit-1]).cursor()
	}
	if out.Alerts == nil {
		out.Alerts = []ListedAlert{}
	}
	out.Partial = len(out.Partitions.Missing) > 0
	writeJSON(w, http.StatusOK, out)
}

// matches reports whether an open alert of rule passes f's rule and
// severity filters.
func matches(pack *rules.Pack, rule string, f alertFilter) bool {
	if f.rule != "" && rule != f.rule {
		return false
	}
	if f.severity != "" {
		r := pack.Alert(rule)
		return r != nil && r.Severity == f.severity
	}
	return true
}

// traitString is the first of names the customer has as a string trait.
func traitString(traits map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := traits[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
