package sink

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzParseAlert: any bytes give an alert ready to deliver, errNotAlert,
// or an error; never a panic, and an accepted alert has what a delivery
// needs and renders as valid Slack JSON.
func FuzzParseAlert(f *testing.F) {
	f.Add([]byte(`{"kind":"alert","customer_id":"c","at":"2026-03-18T09:00:00.000Z","alert_id":"1d6d","rule":"r","severity":"warning","status":"firing","reasons":["x"],"event_id":""}`))
	f.Add([]byte(`{"kind":"health","customer_id":"c"}`))
	f.Add([]byte(`{"kind":"alert","alert_id":"a","status":"resolved","owner":"<b>&","reasons":null}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAlert(b)
		if err != nil {
			if !errors.Is(err, errNotAlert) && err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if a.AlertID == "" || (a.Status != "firing" && a.Status != "resolved") {
			t.Fatalf("accepted %+v", a)
		}
		if !json.Valid(slackAlert(&a, "https://x/#/{customer_id}")) || !json.Valid(slackDigest(a.Owner, []*Alert{&a}, "")) {
			t.Fatalf("Slack message of %q is not JSON", b)
		}
	})
}

// FuzzParseRetryAfter: any header value gives -1 or a wait within
// [0, maxRetryAfter].
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "9999999999999999999999", "1.5"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d := parseRetryAfter(s, now)
		if d != -1 && (d < 0 || d > maxRetryAfter) {
			t.Fatalf("parseRetryAfter(%q) = %v", s, d)
		}
	})
}
