package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/config"
)

// TestReadSinks: a sinks: entry takes the defaults for the keys it does
// not set; ${NAME} and secret_env read the environment.
func TestReadSinks(t *testing.T) {
	path := writeConfig(t, `sinks:
  - name: cs-webhook
    type: webhook
    url: https://hooks.example.com/lifeline
    secret_env: CS_HOOK_SECRET
    headers: {Authorization: "Bearer ${CS_TOKEN}"}
    filter: {min_severity: warning, statuses: [firing]}
  - name: cs-slack
    type: slack
    url: ${SLACK_URL}
    digest: 1h
    retry: {max_attempts: 3}
`)
	cfg, err := config.Read(path, []string{"CS_HOOK_SECRET=k3y", "CS_TOKEN=t0k", "SLACK_URL=https://hooks.slack.com/services/T/B/X"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sinks) != 2 {
		t.Fatalf("%d sinks", len(cfg.Sinks))
	}
	w, s := cfg.Sinks[0], cfg.Sinks[1]
	if w.Secret != "k3y" || w.Headers["Authorization"] != "Bearer t0k" || s.URL != "https://hooks.slack.com/services/T/B/X" {
		t.Errorf("environment not applied: secret %q, Authorization %q, slack url %q", w.Secret, w.Headers["Authorization"], s.URL)
	}
	if w.Timeout.Std() != 10*time.Second || w.Retry.MaxAttempts != 8 || w.Concurrency != 4 || w.StartAt != "end" {
		t.Errorf("defaults not applied: %+v", w)
	}
	if s.Retry.MaxAttempts != 3 || s.Retry.Base.Std() != time.Second || s.Digest.Std() != time.Hour {
		t.Errorf("slack sink: %+v", s)
	}
	if g := cfg.SinkGroup(&w); g != "lifeline-sink-cs-webhook" {
		t.Errorf("group %q", g)
	}
	if d := cfg.SinkDeadLetterTopic(&s); d != "lifeline.alerts.cs-slack.dlq" {
		t.Errorf("dead-letter topic %q", d)
	}

	// An unknown key in an entry is refused like any other.
	path = writeConfig(t, "sinks:\n  - {name: a, type: slack, url: 'https://x', retries: 3}\n")
	if _, err := config.Read(path, nil); err == nil || !strings.Contains(err.Error(), "retries") {
		t.Errorf("unknown key retries: %v", err)
	}
	// A variable that is not set is named, not guessed.
	path = writeConfig(t, "sinks:\n  - {name: a, type: webhook, url: 'https://x', secret_env: NOPE}\n")
	if _, err := config.Read(path, nil); err == nil || !strings.Contains(err.Error(), "NOPE is not set") {
		t.Errorf("missing secret_env variable: %v", err)
	}
}

func TestValidateSinks(t *testing.T) {
	ok := func() config.Sink {
		s := config.SinkDefaults()
		s.Name, s.Type, s.URL, s.Secret = "cs", config.SinkWebhook, "https://hooks.example.com/x", "k"
		return s
	}
	for _, c := range []struct {
		name string
		edit func(*config.Sink)
		want string // "" for valid
	}{
		{"valid webhook", func(*config.Sink) {}, ""},
		{"valid slack without secret", func(s *config.Sink) { s.Type, s.Secret = config.SinkSlack, "" }, ""},
		{"unknown type", func(s *config.Sink) { s.Type = "email" }, `sinks[0] (cs).type: unknown sink type "email" (expected webhook or slack)`},
		{"missing url", func(s *config.Sink) { s.URL = "" }, "sinks[0] (cs).url: missing"},
		{"url without scheme", func(s *config.Sink) { s.URL = "hooks.slack.com/services/T/B/SECRET" }, "sinks[0] (cs).url: not an http or https URL"},
		{"webhook without secret", func(s *config.Sink) { s.Secret = "" }, "set secret, or secret_env"},
		{"bad name", func(s *config.Sink) { s.Name = "CS Team" }, `sinks[0].name: "CS Team"`},
		{"timeout too short", func(s *config.Sink) { s.Timeout = config.Duration(time.Millisecond) }, "timeout: 1ms (expected 100ms to 10m"},
		{"max below base", func(s *config.Sink) { s.Retry.Max = config.Duration(time.Millisecond) }, "retry.max: 1ms is below retry.base 1s"},
		{"no attempts", func(s *config.Sink) { s.Retry.MaxAttempts = 0 }, "retry.max_attempts: 0"},
		{"bad severity", func(s *config.Sink) { s.Filter.MinSeverity = "high" }, `filter.min_severity: "high"`},
		{"both severity keys", func(s *config.Sink) { s.Filter.MinSeverity, s.Filter.Severities = "info", []string{"info"} }, "min_severity and severities are both set"},
		{"bad status", func(s *config.Sink) { s.Filter.Statuses = []string{"open"} }, `filter.statuses: "open"`},
		{"digest too short", func(s *config.Sink) { s.Digest = config.Duration(time.Millisecond) }, "digest: 1ms"},
		{"reserved header", func(s *config.Sink) { s.Headers = map[string]string{"x-lifeline-signature": "x"} }, "is set by the sink"},
		{"bad start_at", func(s *config.Sink) { s.StartAt = "earliest" }, `start_at: "earliest" (expected end`},
		{"console url", func(s *config.Sink) { s.ConsoleURL = "lifeline/#/{customer_id}" }, "console_url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Defaults()
			s := ok()
			c.edit(&s)
			cfg.Sinks = []config.Sink{s}
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("valid sink refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("the error repeats the URL, which holds a secret: %v", err)
			}
		})
	}
	cfg := config.Defaults()
	cfg.Sinks = []config.Sink{ok(), ok()}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "used by another sink") {
		t.Errorf("two sinks of one name: %v", err)
	}
}
