package ingest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
)

// FuzzSegmentMessage: whatever the bytes, rewriting a Segment message
// never panics; what it accepts is a JSON object with receivedAt, a type
// and a messageId, keyed by the customer the decoder finds in it again.
func FuzzSegmentMessage(f *testing.F) {
	for _, seed := range []string{
		`{"userId":"ann","event":"Signed Up"}`,
		`{"type":"identify","anonymousId":"a1","traits":{"x":1},"messageId":"m"}`,
		`{"userId":"ann","originalTimestamp":"2026-03-01T11:00:00Z","sentAt":"2026-03-01T11:00:01Z"}`,
		`{"userId":"ann","context":[1],"sentAt":null}`,
		`{"action":"track","user_id":7,"message_id":""}`,
		`{"userId":"\ud800"}`,
		`null`, `[]`, `{"type":1}`, `{`,
	} {
		f.Add([]byte(seed), "track", true)
	}
	received := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	top := &batchTop{Context: json.RawMessage(`{"ip":"1.2.3.4"}`), SentAt: json.RawMessage(`"2026-03-01T11:59:59Z"`)}
	s := &Server{}
	f.Fuzz(func(t *testing.T, raw []byte, pathType string, batch bool) {
		d := decode.New(decode.Options{})
		var bt *batchTop
		if batch {
			bt, pathType = top, ""
		}
		rec, e := s.segmentMessage(raw, pathType, bt, received, d)
		if e != nil {
			if e.status != 400 || e.reason == "" || e.msg == "" {
				t.Fatalf("rejection %+v: want a 400 with a reason and a message", e)
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Value, &m); err != nil {
			t.Fatalf("accepted %q became %q, not a JSON object: %v", raw, rec.Value, err)
		}
		if m["receivedAt"] != "2026-03-01T12:00:00.000Z" {
			t.Errorf("receivedAt %v", m["receivedAt"])
		}
		if m["messageId"] == nil && m["message_id"] == nil {
			t.Errorf("no messageId in %s", rec.Value)
		}
		var ev engine.Event
		if err := decode.New(decode.Options{}).Decode(rec.Value, nil, &ev); err != nil || ev.CustomerID != string(rec.Key) {
			t.Errorf("the record decodes to %q, %v; keyed %q", ev.CustomerID, err, rec.Key)
		}
	})
}

// FuzzStripeSignature: a Stripe-Signature header, whatever it holds, is
// checked without panicking, and only the right signature passes.
func FuzzStripeSignature(f *testing.F) {
	f.Add("t=1700000000,v1=abc,v0=def", []byte(`{"id":"evt_1"}`))
	f.Add(",,=,t=,v1", []byte{})
	f.Add("t=99999999999999999999,v1=", []byte("x"))
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		if err := verifyStripe(header, body, "whsec_fuzz", 5*time.Minute, now); err == nil {
			t.Fatalf("header %q passed without the secret's signature", header)
		}
	})
}
