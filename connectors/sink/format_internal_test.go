package sink

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/config"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, indented, or rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, got)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, got)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, buf.Bytes(), want)
	}
}

const console = "https://lifeline.example.com/#/customers/{customer_id}"

// TestSlackMessages: the Slack messages of a firing alert with an owner
// and a profile, a resolved one without, and a digest, against golden
// files; mrkdwn's reserved characters in values are escaped.
func TestSlackMessages(t *testing.T) {
	firing := Alert{Kind: "alert", CustomerID: "cus 42/<acme>", At: "2026-03-18T09:00:00.000Z", AlertID: "6ee11291ce8f230b",
		Rule: "payment-failed", Severity: "critical", Status: "firing", Owner: "alice@example.com", Profile: "b2b",
		Reasons: []string{"a payment failed (card_declined) & none succeeded since", "lifetime value 1200 USD"}}
	resolved := Alert{Kind: "alert", CustomerID: "kim-quiet", At: "2026-05-03T09:00:00.000Z", AlertID: "1d6d6a4ad0e50e8d",
		Rule: "silent-customer", Severity: "warning", Status: "resolved", ResolvedBy: "churned",
		Reasons: []string{"60 days since the last engagement, stage churned"}}
	info := Alert{Kind: "alert", CustomerID: "jane-trial", At: "2026-04-01T08:00:00.000Z", AlertID: "77", Rule: "abandoned-signup",
		Severity: "info", Status: "firing", Reasons: []string{"signed up 30 days ago and has not purchased"}}
	golden(t, "slack_firing.json", slackAlert(&firing, console))
	golden(t, "slack_resolved.json", slackAlert(&resolved, ""))
	golden(t, "slack_digest.json", slackDigest("alice@example.com", []*Alert{&firing, &resolved, &info}, console))
}

func TestFilter(t *testing.T) {
	a := Alert{Rule: "detractor", Severity: "warning", Status: "firing", Owner: "bob", Profile: ""}
	for _, c := range []struct {
		name string
		f    config.SinkFilter
		want bool
	}{
		{"empty lets all through", config.SinkFilter{}, true},
		{"rule listed", config.SinkFilter{Rules: []string{"usage-drop", "detractor"}}, true},
		{"rule not listed", config.SinkFilter{Rules: []string{"usage-drop"}}, false},
		{"min severity below", config.SinkFilter{MinSeverity: "info"}, true},
		{"min severity equal", config.SinkFilter{MinSeverity: "warning"}, true},
		{"min severity above", config.SinkFilter{MinSeverity: "critical"}, false},
		{"severity list", config.SinkFilter{Severities: []string{"critical", "info"}}, false},
		{"status resolved only", config.SinkFilter{Statuses: []string{"resolved"}}, false},
		{"owner listed", config.SinkFilter{Owners: []string{"bob"}}, true},
		{"owner not listed", config.SinkFilter{Owners: []string{"alice"}}, false},
		{"profile absent matches empty", config.SinkFilter{Profiles: []string{""}}, true},
		{"profile absent does not match a name", config.SinkFilter{Profiles: []string{"b2b"}}, false},
		{"all must match", config.SinkFilter{Rules: []string{"detractor"}, Owners: []string{"alice"}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFilter(c.f)
			if got := f.match(&a); got != c.want {
				t.Errorf("match = %v, want %v", got, c.want)
			}
		})
	}
	// An unknown severity is below every minimum.
	f := newFilter(config.SinkFilter{MinSeverity: "info"})
	if f.match(&Alert{Severity: "urgent"}) {
		t.Error("severity urgent passed min_severity info")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", -1},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 30 ", 30 * time.Second},
		{"-3", -1},
		{"soon", -1},
		{"999999", time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour},
	} {
		if got := parseRetryAfter(c.in, now); got != c.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestBackoff: full jitter stays within min(max, base·2^(n-1)) and uses
// the range (not always the bound, not always zero).
func TestBackoff(t *testing.T) {
	r := config.SinkRetry{Base: config.Duration(100 * time.Millisecond), Max: config.Duration(time.Second)}
	for n, ceil := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 80: time.Second} {
		lo, hi := ceil, time.Duration(0)
		for range 2000 {
			d := backoff(r, n)
			if d < 0 || d > ceil {
				t.Fatalf("backoff(n=%d) = %v, outside [0, %v]", n, d, ceil)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > ceil/10 || hi < ceil*9/10 {
			t.Errorf("backoff(n=%d) spans [%v, %v] over 2000 draws, want most of [0, %v]", n, lo, hi, ceil)
		}
	}
}

// TestSignKnownValue: the signature is what the README's shell check
// computes with openssl.
func TestSignKnownValue(t *testing.T) {
	// echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
	got := Sign([]byte("s3cret"), "1700000000", []byte(`{"a":1}`))
	want := "v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
	if got != want {
		t.Errorf("Sign = %s, want openssl's %s", got, want)
	}
}
