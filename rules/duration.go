package rules

import (
	"errors"
	"fmt"
	"strconv"
)

// ParseDuration parses a rule duration: a sequence of integer-unit pairs
// with units w (weeks), d (days), h, m, s; e.g. "14d", "1d12h". It returns
// milliseconds.
func ParseDuration(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty duration (expected e.g. 14d, 36h, 90m)")
	}
	var total int64
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, fmt.Errorf("duration %q: expected a whole number followed by a unit (w, d, h, m, s), e.g. 14d", s)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		var unit int64
		switch rest[i] {
		case 'w':
			unit = 7 * 24 * 3600 * 1000
		case 'd':
			unit = 24 * 3600 * 1000
		case 'h':
			unit = 3600 * 1000
		case 'm':
			unit = 60 * 1000
		case 's':
			unit = 1000
		default:
			return 0, fmt.Errorf("duration %q: unknown unit %q (expected w, d, h, m or s)", s, rest[i])
		}
		total += n * unit
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return total, nil
}
