package packdiff

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report as tables for people: one for the alert
// rules, one for the transitions, the customers per final stage, and the
// final stages that change, each row with example customer ids.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%d customers, %d with an outcome that changes\n", r.Customers, r.Changed)
	rules := func(title, times string, list []RuleDiff) {
		fmt.Fprintf(tw, "\n%s\tonly old\tonly new\tboth\t%s old\t%s new\texamples\n", title, times, times)
		if len(list) == 0 {
			fmt.Fprintf(tw, "(none under either pack)\t\t\t\t\t\t\n")
		}
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", d.Name, d.OnlyOld.Count, d.OnlyNew.Count, d.Both.Count, d.OldTimes, d.NewTimes, d.examples())
		}
	}
	rules("alert rule", "fired", r.Alerts)
	rules("transition", "moves", r.Transitions)
	fmt.Fprintf(tw, "\nfinal stage\told\tnew\tchange\n")
	for _, s := range r.Stages {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%+d\n", stageName(s.Stage), s.Old, s.New, s.New-s.Old)
	}
	if len(r.StageChanges) == 0 {
		fmt.Fprintf(tw, "\nno customer ends in another stage\n")
	} else {
		fmt.Fprintf(tw, "\nfinal stage (old → new)\tcustomers\texamples\n")
		for _, c := range r.StageChanges {
			fmt.Fprintf(tw, "%s → %s\t%d\t%s\n", stageName(c.From), stageName(c.To), c.Count, strings.Join(c.Examples, ", "))
		}
	}
	return tw.Flush()
}

// examples lists the example customers of the groups that changed.
func (d RuleDiff) examples() string {
	var parts []string
	if d.OnlyOld.Count > 0 {
		parts = append(parts, "only old: "+strings.Join(d.OnlyOld.Examples, ", "))
	}
	if d.OnlyNew.Count > 0 {
		parts = append(parts, "only new: "+strings.Join(d.OnlyNew.Examples, ", "))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

func stageName(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
