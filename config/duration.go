package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/lifeline-hq/lifeline/rules"
)

// Duration is a span of time in the configuration, written the way rule
// packs and Prometheus write them: a whole number and a unit, largest
// units first, e.g. 30s, 10m, 1h30m, 2d, 1w (units y, w, d, h, m, s, ms;
// a day is 24h). "0" is zero. The same parser reads rule packs' durations
// and the command line's (--allowed-lateness).
type Duration time.Duration

// ParseDuration parses s as a Duration, with the rule packs' parser
// (rules.ParseSpan), whose errors say what to write instead.
func ParseDuration(s string) (Duration, error) {
	d, err := rules.ParseSpan(s)
	if err != nil {
		return 0, err
	}
	return Duration(d), nil
}

// Std is d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d the way ParseDuration reads it: 1h30m, 2d, 0s.
func (d Duration) String() string { return model.Duration(d).String() }

// UnmarshalText implements encoding.TextUnmarshaler, for YAML, the
// environment and flags. Its error quotes the text (with the spelling to
// use instead) only when the text is written with what durations are
// written with, digits and units: anything else may be a secret set in
// the wrong place, and is not repeated.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		if !durationLike(string(b)) {
			return errors.New("expected a duration such as 30s, 10m or 2d (units y, w, d, h, m, s, ms, largest first)")
		}
		return err
	}
	*d = v
	return nil
}

// durationLike tells whether s is short and made only of the characters
// durations are written with.
func durationLike(s string) bool {
	return len(s) <= 24 && strings.Trim(s, "0123456789.-+ ywdhms") == ""
}

// UnmarshalYAML reads a duration from the config file, naming the line of
// a bad one.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 30s, 10m or 2d", n.Line)
	}
	if err := d.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
