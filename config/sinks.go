package config

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Sink types (Sink.Type).
const (
	SinkWebhook = "webhook"
	SinkSlack   = "slack"
)

// Severities, lowest first: what Sink filters compare min_severity with.
var Severities = []string{"info", "warning", "critical"}

// Sink delivers alerts to people: it reads topics.alerts in a consumer
// group of its own (<group>-sink-<name>) and POSTs each alert that passes
// its filter to a receiver (README.md, "Delivering alerts"). One entry of
// the sinks: list; no LIFELINE_* variable sets these (a list of
// structures), but secret, url and header values may name one: ${NAME}.
type Sink struct {
	// Name names the sink in its consumer group, its dead-letter topic,
	// its metrics and its logs: lower case letters, digits, - and _.
	Name string `yaml:"name"`
	// Type is webhook (a signed JSON POST of the alert record) or slack
	// (a Slack incoming webhook's message).
	Type string `yaml:"type"`
	// URL is where the POSTs go (Slack: the incoming webhook's URL, which
	// is a secret: write ${NAME} to read it from the environment).
	URL string `yaml:"url"`
	// Secret signs webhook requests (X-Lifeline-Signature); required for
	// type webhook. SecretEnv names an environment variable holding it
	// instead.
	Secret    string `yaml:"secret"`
	SecretEnv string `yaml:"secret_env"`
	// Headers are extra request headers (an Authorization of the
	// receiver's, a routing key); values may use ${NAME}.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one request, from connecting to the answer's end
	// (default 10s).
	Timeout Duration `yaml:"timeout"`
	// Retry is how failed requests are tried again.
	Retry SinkRetry `yaml:"retry"`
	// DeadLetterTopic receives the alerts a receiver refused or that ran
	// out of attempts (default <topics.alerts>.<name>.dlq).
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// ConsoleURL is the link to an alert's customer, with {customer_id},
	// {alert_id} and {rule} replaced (URL-escaped); empty: no link.
	ConsoleURL string `yaml:"console_url"`
	// Filter says which alerts this sink delivers (default: all).
	Filter SinkFilter `yaml:"filter"`
	// Digest, when set (e.g. 1h), sends one message per owner per period
	// instead of one per alert; 0 (the default): one per alert.
	Digest Duration `yaml:"digest"`
	// DigestMaxAlerts bounds the alerts a digest holds in memory: when
	// reached, the digest is sent early (default 500).
	DigestMaxAlerts int `yaml:"digest_max_alerts"`
	// StartAt is where a new sink (a consumer group without committed
	// offsets) begins: end (the default: alerts raised from its first
	// start on) or beginning (every alert the topic still holds).
	StartAt string `yaml:"start_at"`
	// Concurrency bounds the partitions delivered at once (default 4);
	// one partition's alerts are always delivered in order.
	Concurrency int `yaml:"concurrency"`
}

// SinkRetry is exponential backoff with full jitter: before attempt n+1
// the sink waits a random time up to min(Max, Base*2^(n-1)), or what a
// 429 or 503 answer's Retry-After asks.
type SinkRetry struct {
	// Base is the first backoff's bound (default 1s).
	Base Duration `yaml:"base"`
	// Max bounds every backoff (default 1m).
	Max Duration `yaml:"max"`
	// MaxAttempts is the number of requests before an alert goes to the
	// dead-letter topic (default 8; 1: no retry).
	MaxAttempts int `yaml:"max_attempts"`
}

// SinkFilter selects alerts; every non-empty list must match (an alert
// without the field, such as owner or profile today, matches as "").
type SinkFilter struct {
	Rules []string `yaml:"rules"`
	// MinSeverity is info, warning or critical; Severities lists the
	// exact ones instead. Set one of them at most.
	MinSeverity string   `yaml:"min_severity"`
	Severities  []string `yaml:"severities"`
	// Statuses are firing and/or resolved.
	Statuses []string `yaml:"statuses"`
	Profiles []string `yaml:"profiles"`
	Owners   []string `yaml:"owners"`
}

// SinkDefaults are the defaults of a sinks: entry's keys.
func SinkDefaults() Sink {
	return Sink{
		Timeout:         Duration(10 * time.Second),
		Retry:           SinkRetry{Base: Duration(time.Second), Max: Duration(time.Minute), MaxAttempts: 8},
		DigestMaxAlerts: 500,
		StartAt:         "end",
		Concurrency:     4,
	}
}

// UnmarshalYAML fills a sinks: entry over SinkDefaults.
func (s *Sink) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Sink
	v := plain(SinkDefaults())
	if err := unmarshal(&v); err != nil {
		return err
	}
	*s = Sink(v)
	return nil
}

// SinkGroup is the consumer group of a sink: the engine's group, then
// -sink-, then its name.
func (c *Config) SinkGroup(s *Sink) string { return c.Group + "-sink-" + s.Name }

// SinkDeadLetterTopic is where a sink's undeliverable alerts go.
func (c *Config) SinkDeadLetterTopic(s *Sink) string {
	if s.DeadLetterTopic != "" {
		return s.DeadLetterTopic
	}
	return c.Topics.Alerts + "." + s.Name + ".dlq"
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// resolveSinkSecrets replaces ${NAME} in sinks' url, secret and header
// values, and reads secret_env, from environ. A variable that is not set
// is an error naming it (never its would-be value).
func resolveSinkSecrets(cfg *Config, environ []string) error {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	for i := range cfg.Sinks {
		s := &cfg.Sinks[i]
		var missing []string
		expand := func(key, v string) string {
			return envRef.ReplaceAllStringFunc(v, func(m string) string {
				name := envRef.FindStringSubmatch(m)[1]
				val, ok := vars[name]
				if !ok {
					missing = append(missing, fmt.Sprintf("sinks[%d].%s: environment variable %s is not set (set it, or write the value)", i, key, name))
				}
				return val
			})
		}
		s.URL = expand("url", s.URL)
		s.Secret = expand("secret", s.Secret)
		for k, v := range s.Headers {
			s.Headers[k] = expand("headers."+k, v)
		}
		if s.SecretEnv != "" {
			if s.Secret != "" {
				missing = append(missing, fmt.Sprintf("sinks[%d]: secret and secret_env are both set (keep one)", i))
			} else if v, ok := vars[s.SecretEnv]; ok && v != "" {
				s.Secret = v
			} else {
				missing = append(missing, fmt.Sprintf("sinks[%d].secret_env: environment variable %s is not set or empty (set it to the signing secret)", i, s.SecretEnv))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("config: %s", strings.Join(missing, "; "))
		}
	}
	return nil
}

var sinkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// validateSinks checks the sinks: list.
func (c *Config) validateSinks(bad func(format string, args ...any)) {
	seen := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		at := fmt.Sprintf("sinks[%d]", i)
		if !sinkName.MatchString(s.Name) {
			bad("%s.name: %q (expected lower case letters, digits, - and _, e.g. cs-slack)", at, s.Name)
		} else {
			if seen[s.Name] {
				bad("%s.name: %q is used by another sink (names must differ: each has its own consumer group)", at, s.Name)
			}
			seen[s.Name] = true
			at = fmt.Sprintf("sinks[%d] (%s)", i, s.Name)
		}
		switch s.Type {
		case SinkWebhook:
			if s.Secret == "" {
				bad("%s.secret: a webhook sink signs its requests (set secret, or secret_env: NAME of a variable holding it)", at)
			}
		case SinkSlack:
		case "":
			bad("%s.type: missing (expected webhook or slack)", at)
		default:
			bad("%s.type: unknown sink type %q (expected webhook or slack)", at, s.Type)
		}
		if s.URL == "" {
			bad("%s.url: missing (the receiver's URL, e.g. https://hooks.example.com/lifeline)", at)
		} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// Not the value: a Slack URL carries its token.
			bad("%s.url: not an http or https URL with a host (e.g. https://hooks.slack.com/services/...)", at)
		}
		for k := range s.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") || http.CanonicalHeaderKey(k) == "" {
				bad("%s.headers: %q is not a header name (e.g. Authorization)", at, k)
			}
			switch http.CanonicalHeaderKey(k) {
			case "Content-Type", "Idempotency-Key", "X-Lifeline-Timestamp", "X-Lifeline-Signature", "Content-Length", "Host":
				bad("%s.headers: %s is set by the sink (remove it)", at, k)
			}
		}
		if t := s.Timeout.Std(); t < 100*time.Millisecond || t > 10*time.Minute {
			bad("%s.timeout: %s (expected 100ms to 10m; 10s is the default)", at, s.Timeout)
		}
		if s.Retry.Base <= 0 {
			bad("%s.retry.base: %s (expected a positive duration such as 1s, the default)", at, s.Retry.Base)
		}
		if s.Retry.Max < s.Retry.Base {
			bad("%s.retry.max: %s is below retry.base %s (1m is the default)", at, s.Retry.Max, s.Retry.Base)
		}
		if s.Retry.MaxAttempts < 1 || s.Retry.MaxAttempts > 100 {
			bad("%s.retry.max_attempts: %d (expected 1 to 100; 8 is the default)", at, s.Retry.MaxAttempts)
		}
		if s.ConsoleURL != "" && !strings.HasPrefix(s.ConsoleURL, "http://") && !strings.HasPrefix(s.ConsoleURL, "https://") {
			bad("%s.console_url: %q is not an http(s) URL (e.g. https://lifeline.example.com/#/customers/{customer_id})", at, s.ConsoleURL)
		}
		if s.Digest < 0 || (s.Digest > 0 && s.Digest.Std() < time.Second) {
			bad("%s.digest: %s (expected 0 for one message per alert, or a period of at least 1s such as 1h)", at, s.Digest)
		}
		if s.DigestMaxAlerts < 1 || s.DigestMaxAlerts > 100_000 {
			bad("%s.digest_max_alerts: %d (expected 1 to 100000; 500 is the default)", at, s.DigestMaxAlerts)
		}
		if s.Concurrency < 1 || s.Concurrency > 256 {
			bad("%s.concurrency: %d (expected 1 to 256 partitions delivered at once; 4 is the default)", at, s.Concurrency)
		}
		if s.StartAt != "end" && s.StartAt != "beginning" {
			bad("%s.start_at: %q (expected end, the default, or beginning)", at, s.StartAt)
		}
		f := &s.Filter
		if f.MinSeverity != "" && !contains(Severities, f.MinSeverity) {
			bad("%s.filter.min_severity: %q (expected info, warning or critical)", at, f.MinSeverity)
		}
		if f.MinSeverity != "" && len(f.Severities) > 0 {
			bad("%s.filter: min_severity and severities are both set (keep one)", at)
		}
		for _, sev := range f.Severities {
			if !contains(Severities, sev) {
				bad("%s.filter.severities: %q (expected info, warning or critical)", at, sev)
			}
		}
		for _, st := range f.Statuses {
			if st != "firing" && st != "resolved" {
				bad("%s.filter.statuses: %q (expected firing or resolved)", at, st)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
