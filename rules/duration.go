package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// durationHint says what a duration looks like, for error messages.
const durationHint = "expected a duration such as 14d, 36h, 90m (units y, w, d, h, m, s, ms, largest first), or 10 days"

// durationUnits are the units of a duration, largest first, in
// milliseconds (a year is 365 days).
var durationUnits = []struct {
	name string
	ms   int64
}{
	{"y", 365 * 24 * 3600 * 1000}, {"w", 7 * 24 * 3600 * 1000}, {"d", 24 * 3600 * 1000},
	{"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1},
}

// ParseDuration parses a rule duration and returns it in milliseconds. A
// duration is Prometheus's (model.ParseDuration, the one parser of
// durations in rule packs and their tests): whole numbers, each followed
// by a unit, the units largest first and each at most once: "14d", "2w",
// "1d12h", "90m", "1s500ms"; units y (365 days), w, d, h, m, s, ms. It
// must be positive. An error says, for a rule author, what to write
// instead.
func ParseDuration(s string) (int64, error) {
	d, err := ParseSpan(s)
	if err != nil {
		return 0, err
	}
	ms := int64(d / time.Millisecond)
	if ms <= 0 {
		return 0, fmt.Errorf("duration %q is zero: %s", s, durationHint)
	}
	return ms, nil
}

// ParseSpan parses a duration the way ParseDuration does, zero ("0",
// "0s") included: the one duration syntax of Lifeline, for rule packs,
// lifeline.yaml and the command line alike. Units may also be written as
// words, the way people say them: "10 days", "2 weeks", "36 hours",
// "90 minutes", "1 day 12 hours" read as 10d, 2w, 36h, 90m, 1d12h (the
// same rules hold: whole numbers, largest units first).
func ParseSpan(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration: " + durationHint)
	}
	compact, err := compactUnits(s)
	if err != nil {
		return 0, err
	}
	d, err := model.ParseDuration(compact)
	if err != nil {
		return 0, durationError(s, compact)
	}
	return time.Duration(d), nil
}

// unitOfWord is the unit a word stands for ("" for none).
func unitOfWord(w string) string {
	switch w {
	case "year", "years", "yr", "yrs":
		return "y"
	case "week", "weeks", "wk", "wks":
		return "w"
	case "day", "days":
		return "d"
	case "hour", "hours", "hr", "hrs":
		return "h"
	case "minute", "minutes", "min", "mins":
		return "m"
	case "second", "seconds", "sec", "secs":
		return "s"
	case "millisecond", "milliseconds":
		return "ms"
	}
	return ""
}

// compactUnits writes a duration given in words ("10 days", "1 day, 12
// hours", "2 weeks and 3 days") the short way ("10d", "1d12h", "2w3d").
// A duration without a space or a unit word comes back as it is. An
// error names a word that is no unit.
func compactUnits(s string) (string, error) {
	if !strings.ContainsAny(s, " \t,") && !hasUnitWord(s) {
		return s, nil
	}
	var b strings.Builder
	fields := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
	for _, f := range fields {
		if f == "and" {
			continue
		}
		// A number and its word may be written apart ("10 days") or
		// together ("10days").
		i := 0
		for i < len(f) && (f[i] >= '0' && f[i] <= '9' || f[i] == '.') {
			i++
		}
		b.WriteString(f[:i])
		if word := f[i:]; word != "" {
			if u := unitOfWord(word); u != "" {
				b.WriteString(u)
			} else if isUnit(word) {
				b.WriteString(word)
			} else {
				return "", fmt.Errorf("duration %q: unknown unit %q; %s", s, word, durationHint)
			}
		}
	}
	return b.String(), nil
}

func hasUnitWord(s string) bool {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		return false
	}
	return unitOfWord(strings.ToLower(s[i:])) != ""
}

func isUnit(s string) bool {
	for _, u := range durationUnits {
		if u.name == s {
			return true
		}
	}
	return false
}

// durationError explains why s (written compact, with units as letters)
// is not a duration: a unit it does not know, units out of order or
// repeated (with the duration written right), or else what a duration
// looks like.
func durationError(orig, s string) error {
	tooLong := fmt.Errorf("duration %q is too long: at most about 292y", orig)
	if strings.ContainsAny(s, ".,") {
		// Go's own syntax (1.5s, 2m0.5s, 1h30.5m): say how to write it.
		if d, err := time.ParseDuration(s); err == nil && d >= time.Millisecond && d%time.Millisecond == 0 {
			return fmt.Errorf("duration %q: use whole numbers: write %s", orig, formatDuration(int64(d/time.Millisecond)))
		}
		return fmt.Errorf("duration %q: use whole numbers (1d12h, not 1.5d); %s", orig, durationHint)
	}
	var total int64
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		j := i
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		if i == 0 || j == i {
			return fmt.Errorf("duration %q: %s", orig, durationHint)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return tooLong
		}
		unit := rest[i:j]
		found := false
		for _, u := range durationUnits {
			if u.name == unit {
				if n > (1<<63-1)/u.ms-total {
					return tooLong
				}
				total += n * u.ms
				found = true
			}
		}
		if !found {
			return fmt.Errorf("duration %q: unknown unit %q; %s", orig, unit, durationHint)
		}
		rest = rest[j:]
	}
	if total >= int64(time.Duration(1<<63-1)/time.Millisecond) {
		return tooLong // Prometheus's limit: a time.Duration
	}
	// Every unit is known: they are out of order or repeated.
	return fmt.Errorf("duration %q: units go largest first, each once: write %s", orig, formatDuration(total))
}

// formatDuration writes a positive number of milliseconds as a duration,
// largest units first (a whole number of years or weeks as such).
func formatDuration(ms int64) string {
	if ms == 0 {
		return "0s"
	}
	return model.Duration(time.Duration(ms) * time.Millisecond).String()
}
