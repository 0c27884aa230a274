package sink

import (
	"slices"

	"github.com/lifeline-hq/lifeline/config"
)

// filter is a sink's compiled config.SinkFilter.
type filter struct {
	rules, severities, statuses, profiles, owners []string
	// minRank is the lowest severity rank let through (-1: any).
	minRank int
}

func newFilter(f config.SinkFilter) filter {
	c := filter{rules: f.Rules, severities: f.Severities, statuses: f.Statuses, profiles: f.Profiles, owners: f.Owners, minRank: -1}
	if f.MinSeverity != "" {
		c.minRank = slices.Index(config.Severities, f.MinSeverity)
	}
	return c
}

// match tells whether the sink delivers a. Each non-empty list must hold
// the alert's value; min_severity lets through that severity and those
// above it (a severity the sink does not know is below every one).
func (f *filter) match(a *Alert) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	if f.minRank >= 0 && slices.Index(config.Severities, a.Severity) < f.minRank {
		return false
	}
	return in(f.rules, a.Rule) && in(f.severities, a.Severity) && in(f.statuses, a.Status) &&
		in(f.profiles, a.Profile) && in(f.owners, a.Owner)
}
