package journey

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// journey is what TestJourneys remembers of one customer: enough to replay
// the default rule pack's stages and alerts roughly.
type journey struct {
	signup              time.Time
	purchases           []time.Time
	engagement          []time.Time
	cancels             []time.Time
	open                map[string]bool
	maxOpen             int
	nps                 []int
	promoterAfterRepeat bool
	referralAfterRepeat bool
	failing             bool      // a payment failed and none succeeded since
	failedAt            time.Time // when it started failing
	failures            int
	recovered           int // failing episodes ended by a purchase within 14 days
	lingered            int // failing episodes that lasted 14 days or more
	refunds             int
	referrals           int
}

var purchaseEvents = map[string]bool{
	"Order Completed": true, "Subscription Started": true, "Subscription Renewed": true, "Payment Succeeded": true,
}

var engagementEvents = map[string]bool{
	"Signed In": true, "Application Opened": true, "Product Viewed": true, "Feature Used": true, "Invite Sent": true,
}

// replay reads the good records of cfg into journeys.
func replay(t *testing.T, cfg Config) (map[string]*journey, time.Time) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = g.Config()
	js := map[string]*journey{}
	for r, ok := g.Next(); ok; r, ok = g.Next() {
		if r.Bad {
			continue
		}
		var s segment
		if err := json.Unmarshal(r.Value, &s); err != nil {
			t.Fatal(err)
		}
		var p properties
		json.Unmarshal(s.Properties, &p)
		j := js[s.UserID]
		if j == nil {
			j = &journey{open: map[string]bool{}}
			js[s.UserID] = j
		}
		at := r.Time
		name := s.Event
		if s.Type == "page" || s.Type == "screen" {
			name = "engagement call"
			j.engagement = append(j.engagement, at)
		}
		switch {
		case purchaseEvents[name]:
			j.purchases = append(j.purchases, at)
			if j.failing {
				if at.Sub(j.failedAt) < 14*24*time.Hour {
					j.recovered++
				} else {
					j.lingered++
				}
				j.failing = false
			}
		case engagementEvents[name]:
			j.engagement = append(j.engagement, at)
		}
		switch name {
		case "Signed Up", "Account Created", "Trial Started":
			if j.signup.IsZero() {
				j.signup = at
			}
		case "Subscription Cancelled", "Account Deleted":
			j.cancels = append(j.cancels, at)
		case "Ticket Opened":
			j.open[p.TicketID] = true
			j.maxOpen = max(j.maxOpen, len(j.open))
		case "Ticket Solved":
			if !j.open[p.TicketID] {
				t.Fatalf("%s solves ticket %s, which is not open", s.UserID, p.TicketID)
			}
			delete(j.open, p.TicketID)
		case "NPS Responded":
			j.nps = append(j.nps, int(*p.Score))
			if *p.Score >= 9 && len(j.purchases) >= 2 {
				j.promoterAfterRepeat = true
			}
		case "Referral Sent":
			j.referrals++
			if len(j.purchases) >= 2 {
				j.referralAfterRepeat = true
			}
		case "Payment Failed":
			j.failures++
			if !j.failing {
				j.failing, j.failedAt = true, at
			}
		case "Order Refunded":
			j.refunds++
		}
	}
	return js, cfg.Start.AddDate(0, 0, cfg.Days)
}

// gaps returns the gaps between consecutive times in [from, to), counting
// from from and up to to.
func gaps(times []time.Time, from, to time.Time) (longest, longestClosed time.Duration) {
	prev := from
	for _, at := range times {
		if at.Before(from) {
			continue
		}
		if !at.Before(to) {
			break
		}
		longestClosed = max(longestClosed, at.Sub(prev))
		prev = at
	}
	return max(longestClosed, to.Sub(prev)), longestClosed
}

// usageDrop tells whether, on some day after the first purchase, the
// engagement of the last 7 days fell below half the weekly average of the 28
// days before, with that average at least 4.
func usageDrop(j *journey, start, end time.Time) bool {
	first := j.purchases[0]
	days := int(end.Sub(start) / (24 * time.Hour))
	perDay := make([]int, days)
	for _, at := range j.engagement {
		perDay[int(at.Sub(start)/(24*time.Hour))]++
	}
	for d := int(first.Sub(start)/(24*time.Hour)) + 35; d <= days; d++ {
		base, last := 0, 0
		for i := d - 35; i < d-7; i++ {
			base += perDay[i]
		}
		for i := d - 7; i < d; i++ {
			last += perDay[i]
		}
		weekly := float64(base) / 4
		if weekly >= 4 && float64(last) < 0.5*weekly {
			return true
		}
	}
	return false
}

// TestJourneys replays the default workload and counts, per customer, the
// situations the default rule pack reacts to: each must occur several times.
func TestJourneys(t *testing.T) {
	const day = 24 * time.Hour
	js, end := replay(t, Config{})
	start := end.AddDate(0, 0, -90)
	var c struct {
		customers, signedUp, bought, repeat, loyal                      int
		abandonedNeverBought, abandonedThenBought                       int
		silent14, silent14Resolved, usageDrop                           int
		promoters, passives, detractors, detractorThenBetter            int
		pileUp, failedRecovered, failedUnrecovered, refunded, referrers int
		cancelled, silent60, winBackAfterCancel, winBackAfter60         int
	}
	for _, j := range js {
		c.customers++
		if !j.signup.IsZero() {
			c.signedUp++
			switch {
			case len(j.purchases) == 0 && end.Sub(j.signup) >= 30*day:
				c.abandonedNeverBought++
			case len(j.purchases) > 0 && j.purchases[0].Sub(j.signup) >= 30*day:
				c.abandonedThenBought++
			}
		}
		for _, s := range j.nps {
			switch {
			case s >= 9:
				c.promoters++
			case s >= 7:
				c.passives++
			default:
				c.detractors++
			}
		}
		if i := slices.IndexFunc(j.nps, func(s int) bool { return s <= 6 }); i >= 0 && slices.ContainsFunc(j.nps[i:], func(s int) bool { return s >= 7 }) {
			c.detractorThenBetter++
		}
		if j.maxOpen >= 3 {
			c.pileUp++
		}
		if j.recovered > 0 {
			c.failedRecovered++
		}
		if j.lingered > 0 || j.failing && end.Sub(j.failedAt) >= 14*day {
			c.failedUnrecovered++
		}
		if j.refunds > 0 {
			c.refunded++
		}
		if j.referrals > 0 {
			c.referrers++
		}
		if len(j.purchases) == 0 {
			continue
		}
		c.bought++
		first := j.purchases[0]
		if len(j.purchases) >= 2 {
			c.repeat++
		}
		if j.promoterAfterRepeat || j.referralAfterRepeat {
			c.loyal++
		}
		// silent-customer: 14 days without engagement while a customer.
		until := end
		if len(j.cancels) > 0 {
			until = j.cancels[0]
		}
		if open, closed := gaps(j.engagement, first, until); open >= 14*day {
			c.silent14++
			if closed >= 14*day {
				c.silent14Resolved++
			}
		}
		if usageDrop(j, start, end) {
			c.usageDrop++
		}
		// Churn: a cancel, or 60 days with neither engagement nor purchase;
		// win-back: a purchase after either.
		activity := slices.Concat(j.engagement, j.purchases)
		slices.SortFunc(activity, time.Time.Compare)
		if open, closed := gaps(activity, first, end); open >= 60*day {
			c.silent60++
			if closed >= 60*day {
				// The purchase that ends the gap is the win-back, unless
				// engagement came first.
				prev := first
				for _, at := range activity {
					if at.After(first) && at.Sub(prev) >= 60*day {
						if slices.Contains(j.purchases, at) {
							c.winBackAfter60++
						}
						break
					}
					prev = at
				}
			}
		}
		if len(j.cancels) > 0 {
			c.cancelled++
			if slices.ContainsFunc(j.purchases, func(at time.Time) bool { return at.After(j.cancels[0]) }) {
				c.winBackAfterCancel++
			}
		}
	}

	report := fmt.Sprintf("%+v", c)
	t.Log(strings.ReplaceAll(report, " ", "\n  "))
	for _, check := range []struct {
		what string
		n    int
		min  int
	}{
		{"customers signed up", c.signedUp, 500},
		{"customers bought", c.bought, 300},
		{"customers bought twice (retention)", c.repeat, 100},
		{"customers reached loyalty", c.loyal, 10},
		{"abandoned sign-ups, never bought in 30+ days", c.abandonedNeverBought, 10},
		{"abandoned sign-ups that bought after 30+ days", c.abandonedThenBought, 5},
		{"customers silent 14+ days after buying", c.silent14, 10},
		{"customers silent 14+ days who came back", c.silent14Resolved, 5},
		{"usage drops", c.usageDrop, 5},
		{"NPS promoters", c.promoters, 10},
		{"NPS passives", c.passives, 10},
		{"NPS detractors", c.detractors, 10},
		{"detractors who later answered 7+", c.detractorThenBetter, 3},
		{"customers with 3+ open tickets", c.pileUp, 5},
		{"customers whose failed payment was recovered within 14 days", c.failedRecovered, 5},
		{"customers whose failed payment stayed unrecovered 14+ days", c.failedUnrecovered, 5},
		{"refunded customers", c.refunded, 5},
		{"referrers", c.referrers, 5},
		{"customers who cancelled", c.cancelled, 10},
		{"customers silent 60+ days (churn timer)", c.silent60, 5},
		{"win-backs after a cancel", c.winBackAfterCancel, 3},
		{"win-backs after 60+ silent days", c.winBackAfter60, 3},
	} {
		if check.n < check.min {
			t.Errorf("%s: %d, want at least %d", check.what, check.n, check.min)
		}
	}
}
