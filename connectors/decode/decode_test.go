package decode

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// ms returns the Unix milliseconds of an RFC 3339 timestamp, for expectations.
func ms(t testing.TB, s string) int64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMilli()
}

// The Segment Spec's own complete examples (segment.com/docs/connections/spec).
const (
	specTrack = `{
  "anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
  "context": {
    "library": {
      "name": "analytics.js",
      "version": "2.11.1"
    },
    "page": {
      "path": "/academy/",
      "referrer": "",
      "search": "",
      "title": "Analytics Academy",
      "url": "https://segment.com/academy/"
    },
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/46.0.2490.86 Safari/537.36",
    "ip": "108.0.78.21"
  },
  "event": "Course Clicked",
  "integrations": {},
  "messageId": "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
  "properties": {
    "title": "Intro to Analytics"
  },
  "receivedAt": "2015-12-12T19:11:01.266Z",
  "sentAt": "2015-12-12T19:11:01.169Z",
  "timestamp": "2015-12-12T19:11:01.249Z",
  "type": "track",
  "userId": "AiUGstSDIg",
  "originalTimestamp": "2015-12-12T19:11:01.152Z"
}`
	specIdentify = `{
  "anonymousId": "507f191e810c19729de860ea",
  "channel": "browser",
  "context": {
    "ip": "8.8.8.8",
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/40.0.2214.115 Safari/537.36"
  },
  "integrations": {
    "All": false,
    "Mixpanel": true,
    "Salesforce": true
  },
  "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
  "receivedAt": "2015-02-23T22:28:55.387Z",
  "sentAt": "2015-02-23T22:28:55.111Z",
  "timestamp": "2015-02-23T22:28:55.111Z",
  "traits": {
    "name": "Peter Gibbons",
    "email": "peter@example.com",
    "plan": "premium",
    "logins": 5,
    "address": {
      "street": "6th St",
      "city": "San Francisco",
      "state": "CA",
      "postalCode": "94103",
      "country": "USA"
    }
  },
  "type": "identify",
  "userId": "97980cfea0067",
  "version": "1.1"
}`
	specPage = `{
  "anonymousId": "507f191e810c19729de860ea",
  "channel": "browser",
  "context": {
    "ip": "8.8.8.8",
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/40.0.2214.115 Safari/537.36"
  },
  "integrations": {
    "All": true,
    "Mixpanel": false,
    "Salesforce": false
  },
  "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
  "name": "Home",
  "properties": {
    "title": "Welcome | Initech",
    "url": "http://www.example.com"
  },
  "receivedAt": "2015-02-23T22:28:55.387Z",
  "sentAt": "2015-02-23T22:28:55.111Z",
  "timestamp": "2015-02-23T22:28:55.111Z",
  "type": "page",
  "userId": "97980cfea0067",
  "version": "1.1"
}`
	// The old Spec's track example: "action" for "type", revenue as a string.
	specActionTrack = `{
  "action": "track",
  "userId": "019mr8mf4r",
  "event": "Purchased an Item",
  "properties": {
    "revenue": "39.95",
    "shippingMethod": "2-day"
  },
  "timestamp" : "2012-12-02T00:30:08.276Z"
}`
	// The CloudEvents 1.0 specification's structured-mode JSON example.
	specCloudEvent = `{
    "specversion" : "1.0",
    "type" : "com.github.pull_request.opened",
    "source" : "https://github.com/cloudevents/spec/pull",
    "subject" : "123",
    "id" : "A234-1234-1234",
    "time" : "2018-04-05T17:31:00Z",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "datacontenttype" : "text/xml",
    "data" : "<much wow=\"xml\"/>"
}`
)

// seg builds a small Segment message around the given members.
func seg(members string) string {
	return `{"type":"track","event":"Signed In","userId":"u1","timestamp":"2026-01-02T03:04:05.678Z"` + members + `}`
}

// segEv is the Event seg("") decodes to, for modification by a case.
func segEv(t testing.TB) engine.Event {
	return engine.Event{CustomerID: "u1", Type: "track", Name: "Signed In", Time: ms(t, "2026-01-02T03:04:05.678Z")}
}

func hdrs(kv ...string) []Header {
	var hs []Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// ceHeaders are the headers of a complete binary-mode CloudEvent.
func ceHeaders(extra ...string) []Header {
	return hdrs(append([]string{
		"ce_specversion", "1.0",
		"ce_id", "evt-1",
		"ce_source", "/billing",
		"ce_type", "com.example.payment.failed",
		"ce_time", "2026-03-04T05:06:07+01:00",
		"ce_subject", "cust-9",
	}, extra...)...)
}

func TestDecode(t *testing.T) {
	ceEv := engine.Event{ID: "/billing/evt-1", CustomerID: "cust-9", Type: "cloudevent",
		Name: "com.example.payment.failed", Time: ms(t, "2026-03-04T05:06:07+01:00")}
	with := func(ev engine.Event, f func(*engine.Event)) engine.Event { f(&ev); return ev }
	seg0 := segEv(t)

	tests := []struct {
		name    string
		opts    Options
		value   string
		headers []Header
		want    engine.Event
		reason  Reason // "" when the record must decode
		msg     string // a substring of the error message
	}{
		// The Segment Spec's examples.
		{name: "spec track", value: specTrack, want: engine.Event{
			ID: "ajs-f8ca1e4de5024d9430b3928bd8ac6b96", CustomerID: "AiUGstSDIg", Type: "track",
			Name: "Course Clicked", Time: ms(t, "2015-12-12T19:11:01.249Z")}},
		{name: "spec identify", value: specIdentify, want: engine.Event{
			ID: "022bb90c-bbac-11e4-8dfc-aa07a5b093db", CustomerID: "97980cfea0067", Type: "identify",
			Time:   ms(t, "2015-02-23T22:28:55.111Z"),
			Traits: `{"name":"Peter Gibbons","email":"peter@example.com","plan":"premium","logins":5,"address":{"street":"6th St","city":"San Francisco","state":"CA","postalCode":"94103","country":"USA"}}`}},
		{name: "spec page has no name", value: specPage, want: engine.Event{
			ID: "022bb90c-bbac-11e4-8dfc-aa07a5b093db", CustomerID: "97980cfea0067", Type: "page",
			Time: ms(t, "2015-02-23T22:28:55.111Z")}},
		{name: "spec action quirk", value: specActionTrack, want: engine.Event{
			CustomerID: "019mr8mf4r", Type: "track", Name: "Purchased an Item",
			Time: ms(t, "2012-12-02T00:30:08.276Z"), Amounts: amt(rules.MoneyRevenue, 39.95), AmountsSet: 1 << rules.MoneyRevenue}},

		// Segment type.
		{name: "type is lowercased", value: `{"type":"TRACK","event":"E","userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "track", Name: "E", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "action Identify", value: `{"action":"Identify","userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "identify", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "type wins over action", value: `{"type":"page","action":"track","event":"E","userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "empty type falls back to action", value: `{"type":"","action":"screen","userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "screen", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "no type but event is track", value: `{"event":"Signed In","userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "track", Name: "Signed In", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "alias", value: `{"type":"alias","previousId":"old","userId":"new","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "new", Type: "alias", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "unknown type", value: `{"type":"purchase","userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			reason: ReasonUnknownFormat, msg: `segment type "purchase" is not identify`},
		{name: "type not a string", value: `{"type":7,"userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			reason: ReasonUnknownFormat, msg: "segment type is a JSON number"},
		{name: "userId alone has no type", value: `{"userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			reason: ReasonUnknownFormat, msg: "neither type nor action"},
		{name: "track name only for track", value: `{"type":"screen","event":"E","userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "screen", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "track without event name", value: `{"type":"track","userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "track", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "version as number", value: seg(`,"version":2`), want: seg0},
		{name: "version as string", value: seg(`,"version":"1.1"`), want: seg0},

		// Customer id.
		{name: "anonymousId when no userId", value: `{"type":"page","anonymousId":"a1","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "a1", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "userId wins over anonymousId", value: `{"type":"page","anonymousId":"a1","userId":"u1","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u1", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "empty userId counts as missing", value: `{"type":"page","userId":"","anonymousId":"a1","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "a1", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "null userId counts as missing", value: `{"type":"page","userId":null,"anonymousId":"a1","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "a1", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "user_id snake case", value: `{"type":"page","user_id":"u2","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u2", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "anonymous_id snake case", value: `{"type":"page","anonymous_id":"a2","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "a2", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "userId beats user_id", value: `{"type":"page","user_id":"snake","userId":"camel","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "camel", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "user_id beats anonymousId", value: `{"type":"page","anonymousId":"a","user_id":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "userId as integer", value: `{"type":"page","userId":12345,"timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "12345", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "userId beyond 2^64 keeps its digits", value: `{"type":"page","userId":123456789012345678901234,"timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "123456789012345678901234", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "userId as float", value: `{"type":"page","userId":12345.0,"timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "12345", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "userId with exponent", value: `{"type":"page","userId":1.2345e4,"timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "12345", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "userId object counts as missing", value: `{"type":"page","userId":{"id":1},"anonymousId":"a","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "a", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "escaped userId is unescaped", value: `{"type":"page","userId":"caf\u00e9 \"x\"","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: `café "x"`, Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "no customer id", value: `{"type":"track","event":"E","timestamp":"2026-01-02T03:04:05Z"}`,
			reason: ReasonNoCustomerID, msg: "no_customer_id: segment track has neither userId nor anonymousId"},
		{name: "userId object and no anonymousId", value: `{"type":"track","event":"E","userId":{"id":1},"timestamp":"2026-01-02T03:04:05Z"}`,
			reason: ReasonNoCustomerID, msg: "no_customer_id: segment track has neither userId nor anonymousId: segment userId is a JSON object, not a string or a number"},
		{name: "empty ids", value: `{"type":"identify","userId":"","anonymousId":"","timestamp":"2026-01-02T03:04:05Z"}`,
			reason: ReasonNoCustomerID, msg: "segment identify has neither"},
		{name: "duplicate key: the first wins", value: `{"type":"page","userId":"first","userId":"second","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "first", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},

		// Event time.
		{name: "timestamp wins over fallbacks", value: `{"type":"page","userId":"u","sentAt":"2026-01-01T00:00:00Z","timestamp":"2026-01-02T03:04:05Z","originalTimestamp":"2026-01-03T00:00:00Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "originalTimestamp", value: `{"type":"page","userId":"u","originalTimestamp":"2026-01-02T03:04:05Z","sentAt":"2026-01-01T00:00:00Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "original_timestamp", value: `{"type":"page","userId":"u","original_timestamp":"2026-01-02T03:04:05Z","sentAt":"2026-01-01T00:00:00Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "sentAt", value: `{"type":"page","userId":"u","sentAt":"2026-01-02T03:04:05Z","receivedAt":"2026-01-01T00:00:00Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "sent_at", value: `{"type":"page","userId":"u","sent_at":"2026-01-02T03:04:05Z","receivedAt":"2026-01-01T00:00:00Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "receivedAt", value: `{"type":"page","userId":"u","receivedAt":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "received_at", value: `{"type":"page","userId":"u","received_at":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "empty timestamp falls back", value: `{"type":"page","userId":"u","timestamp":"","sentAt":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "null timestamp falls back", value: `{"type":"page","userId":"u","timestamp":null,"receivedAt":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "offset timestamp", value: `{"type":"page","userId":"u","timestamp":"2026-01-02T05:04:05+02:00"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "negative offset with nanoseconds", value: `{"type":"page","userId":"u","timestamp":"2026-01-01T22:34:05.123456789-04:30"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05.123Z")}},
		{name: "no timestamp", value: `{"type":"track","event":"E","userId":"u"}`,
			reason: ReasonNoTimestamp, msg: "segment track has no timestamp, originalTimestamp, sentAt or receivedAt"},
		{name: "only empty timestamps", value: `{"type":"track","event":"E","userId":"u","timestamp":"","sentAt":null}`,
			reason: ReasonNoTimestamp},
		{name: "unparsable timestamp", value: `{"type":"track","event":"E","userId":"u","timestamp":"yesterday"}`,
			reason: ReasonBadTimestamp, msg: `timestamp "yesterday" is not an RFC 3339 timestamp`},
		{name: "bad timestamp is not replaced by a fallback", value: `{"type":"track","event":"E","userId":"u","timestamp":"2026-13-01T00:00:00Z","sentAt":"2026-01-02T03:04:05Z"}`,
			reason: ReasonBadTimestamp, msg: "timestamp"},
		{name: "bad fallback timestamp", value: `{"type":"track","event":"E","userId":"u","receivedAt":"2026-01-02"}`,
			reason: ReasonBadTimestamp, msg: "receivedAt"},
		{name: "timestamp without zone", value: `{"type":"track","event":"E","userId":"u","timestamp":"2026-01-02T03:04:05"}`,
			reason: ReasonBadTimestamp},
		{name: "timestamp with space", value: `{"type":"track","event":"E","userId":"u","timestamp":"2026-01-02 03:04:05Z"}`,
			reason: ReasonBadTimestamp},
		{name: "timestamp as epoch number", value: `{"type":"track","event":"E","userId":"u","timestamp":1767323045000}`,
			reason: ReasonBadTimestamp, msg: "timestamp is a JSON number, not an RFC 3339 string"},
		{name: "epoch placeholder", value: `{"type":"track","event":"E","userId":"u","timestamp":"1970-01-01T00:00:00.000Z"}`,
			reason: ReasonBadTimestamp, msg: "Unix epoch"},
		{name: "just before the epoch", value: `{"type":"page","userId":"u","timestamp":"1969-12-31T23:59:59.999Z"}`,
			want: engine.Event{CustomerID: "u", Type: "page", Time: -1}},

		// Ids and account.
		{name: "message_id snake case", value: seg(`,"message_id":"m-2"`), want: with(seg0, func(e *engine.Event) { e.ID = "m-2" })},
		{name: "messageId beats message_id", value: seg(`,"message_id":"snake","messageId":"camel"`), want: with(seg0, func(e *engine.Event) { e.ID = "camel" })},
		{name: "messageId as number", value: seg(`,"messageId":42`), want: with(seg0, func(e *engine.Event) { e.ID = "42" })},
		{name: "context.groupId", value: seg(`,"context":{"ip":"1.2.3.4","groupId":"acme"}`), want: with(seg0, func(e *engine.Event) { e.Account = "acme" })},
		{name: "context.group_id", value: seg(`,"context":{"group_id":"acme"}`), want: with(seg0, func(e *engine.Event) { e.Account = "acme" })},
		{name: "context.groupId as number", value: seg(`,"context":{"groupId":4711}`), want: with(seg0, func(e *engine.Event) { e.Account = "4711" })},
		{name: "top-level groupId ignored outside group calls", value: seg(`,"groupId":"g"`), want: seg0},
		{name: "context not an object", value: seg(`,"context":"x"`), want: seg0},
		{name: "group call groupId", value: `{"type":"group","groupId":"0e8c78ea9d97a7b8185e8632","userId":"u","timestamp":"2026-01-02T03:04:05Z","context":{"groupId":"other"}}`,
			want: engine.Event{CustomerID: "u", Account: "0e8c78ea9d97a7b8185e8632", Type: "group", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "group call group_id", value: `{"type":"group","group_id":"g2","userId":"u","timestamp":"2026-01-02T03:04:05Z"}`,
			want: engine.Event{CustomerID: "u", Account: "g2", Type: "group", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "group call without groupId uses context", value: `{"type":"group","userId":"u","timestamp":"2026-01-02T03:04:05Z","context":{"groupId":"ctx"}}`,
			want: engine.Event{CustomerID: "u", Account: "ctx", Type: "group", Time: ms(t, "2026-01-02T03:04:05Z")}},

		// Score and revenue.
		{name: "score number", value: seg(`,"properties":{"score":9}`), want: with(seg0, func(e *engine.Event) { e.Score, e.HasScore = 9, true })},
		{name: "score zero is a score", value: seg(`,"properties":{"score":0}`), want: with(seg0, func(e *engine.Event) { e.Score, e.HasScore = 0, true })},
		{name: "score numeric string", value: seg(`,"properties":{"score":" 7 "}`), want: with(seg0, func(e *engine.Event) { e.Score, e.HasScore = 7, true })},
		{name: "score not numeric", value: seg(`,"properties":{"score":"nine"}`), want: seg0},
		{name: "score Inf string", value: seg(`,"properties":{"score":"Inf"}`), want: seg0},
		{name: "score hex string", value: seg(`,"properties":{"score":"0x9"}`), want: seg0},
		{name: "score overflows", value: seg(`,"properties":{"score":1e999}`), want: seg0},
		{name: "score null", value: seg(`,"properties":{"score":null}`), want: seg0},
		{name: "every amount", value: seg(`,"properties":{"price":1,"value":2,"total":3,"revenue":19.99,"amount":"5","currency":"EUR"}`),
			want: with(seg0, func(e *engine.Event) {
				e.SetAmount(rules.MoneyPrice, 1)
				e.SetAmount(rules.MoneyValue, 2)
				e.SetAmount(rules.MoneyTotal, 3)
				e.SetAmount(rules.MoneyRevenue, 19.99)
				e.SetAmount(rules.MoneyAmount, 5)
				e.Currency = "EUR"
			})},
		{name: "unusable amount is absent", value: seg(`,"properties":{"revenue":"n/a","total":"-4.5","currency":3}`),
			want: with(seg0, func(e *engine.Event) { e.SetAmount(rules.MoneyTotal, -4.5) })},
		{name: "amount out of range", value: seg(`,"properties":{"revenue":1e17}`),
			reason: ReasonAmountOutOfRange, msg: "revenue 1e17 is beyond the largest amount accepted (1e12)"},
		{name: "negative amount out of range", value: seg(`,"properties":{"price":"-2e12"}`),
			reason: ReasonAmountOutOfRange, msg: `price "-2e12" is beyond`},
		{name: "amount too large for a number", value: seg(`,"properties":{"total":1e400}`),
			reason: ReasonAmountOutOfRange, msg: "total 1e400 is beyond"},
		{name: "amount string too large for a number", value: seg(`,"properties":{"value":"1e999"}`),
			reason: ReasonAmountOutOfRange, msg: `value "1e999" is beyond`},
		{name: "amount at the bound", value: seg(`,"properties":{"revenue":1e12}`),
			want: with(seg0, func(e *engine.Event) { e.SetAmount(rules.MoneyRevenue, 1e12) })},
		{name: "properties not an object", value: seg(`,"properties":[1,2]`), want: seg0},
		{name: "traits do not carry amounts", value: seg(`,"traits":{"revenue":5,"score":3}`),
			want: with(seg0, func(e *engine.Event) { e.Traits = `{"revenue":5,"score":3}` })},

		// Traits: the JSON of the traits object, for the engine to read
		// the pack's declared traits from.
		{name: "group traits are the account's", value: `{"type":"group","groupId":"acme","userId":"u","timestamp":"2026-01-02T03:04:05Z","traits":{"plan": "enterprise", "employees": 420}}`,
			want: engine.Event{CustomerID: "u", Account: "acme", Type: "group", Time: ms(t, "2026-01-02T03:04:05Z"), Traits: `{"plan":"enterprise","employees":420}`}},
		{name: "track context.traits", value: seg(`,"context":{"ip":"8.8.8.8","traits":{"plan":"pro","seats":12}}`),
			want: with(seg0, func(e *engine.Event) { e.Traits = `{"plan":"pro","seats":12}` })},
		{name: "top-level traits before context.traits", value: `{"type":"identify","userId":"u","timestamp":"2026-01-02T03:04:05Z","traits":{"plan":"pro"},"context":{"traits":{"plan":"free"}}}`,
			want: engine.Event{CustomerID: "u", Type: "identify", Time: ms(t, "2026-01-02T03:04:05Z"), Traits: `{"plan":"pro"}`}},
		{name: "empty traits are none", value: `{"type":"identify","userId":"u","timestamp":"2026-01-02T03:04:05Z","traits":{},"context":{"traits":{}}}`,
			want: engine.Event{CustomerID: "u", Type: "identify", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "traits that are no object are none", value: `{"type":"identify","userId":"u","timestamp":"2026-01-02T03:04:05Z","traits":"pro","context":{"traits":[1]}}`,
			want: engine.Event{CustomerID: "u", Type: "identify", Time: ms(t, "2026-01-02T03:04:05Z")}},

		// CloudEvents, structured mode.
		{name: "cloudevents spec example", value: specCloudEvent, want: engine.Event{
			ID: "https://github.com/cloudevents/spec/pull/A234-1234-1234", CustomerID: "123", Type: "cloudevent",
			Name: "com.github.pull_request.opened", Time: ms(t, "2018-04-05T17:31:00Z")}},
		{name: "ce customer from data", value: `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05Z","data":{"customer_id":"c7","score":"10","total":12.5}}`,
			want: engine.Event{ID: "s/1", CustomerID: "c7", Type: "cloudevent", Name: "t", Time: ms(t, "2026-01-02T03:04:05Z"), Score: 10, HasScore: true,
				Amounts: amt(rules.MoneyTotal, 12.5), AmountsSet: 1 << rules.MoneyTotal}},
		{name: "ce subject beats data", value: `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05Z","subject":"sub","data":{"customer_id":"c7"}}`,
			want: engine.Event{ID: "s/1", CustomerID: "sub", Type: "cloudevent", Name: "t", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "ce empty subject uses data", value: `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05Z","subject":"","data":{"customer_id":"c7"}}`,
			want: engine.Event{ID: "s/1", CustomerID: "c7", Type: "cloudevent", Name: "t", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "ce dotted customer field", opts: Options{CustomerField: "user.id"},
			value: `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05Z","data":{"customer_id":"no","user":{"id":88}}}`,
			want:  engine.Event{ID: "s/1", CustomerID: "88", Type: "cloudevent", Name: "t", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "ce configured field missing", opts: Options{CustomerField: "account"},
			value:  `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05Z","data":{"customer_id":"c7"}}`,
			reason: ReasonNoCustomerID, msg: `cloudevent has neither subject nor data field "account"`},
		{name: "ce data not an object", value: `{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05Z","data":"customer_id"}`,
			reason: ReasonNoCustomerID},
		{name: "ce no id no dedupe key", value: `{"specversion":"1.0","source":"s","type":"t","time":"2026-01-02T03:04:05Z","subject":"c"}`,
			want: engine.Event{CustomerID: "c", Type: "cloudevent", Name: "t", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "ce specversion 0.3", value: `{"specversion":"0.3","id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05Z","subject":"c"}`,
			reason: ReasonUnknownFormat, msg: `cloudevents specversion "0.3" is not supported (want "1.0")`},
		{name: "ce specversion number", value: `{"specversion":1.0,"id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05Z","subject":"c"}`,
			reason: ReasonUnknownFormat, msg: "specversion a JSON number"},
		{name: "ce no time", value: `{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"c"}`,
			reason: ReasonNoTimestamp, msg: "cloudevent has no time"},
		{name: "ce bad time", value: `{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"c","time":"Thu, 05 Apr 2018 17:31:00 GMT"}`,
			reason: ReasonBadTimestamp, msg: "time"},
		{name: "ce ignores segment fallbacks", value: `{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"c","timestamp":"2026-01-02T03:04:05Z"}`,
			reason: ReasonNoTimestamp},

		// CloudEvents, Kafka binary mode.
		{name: "ce binary", headers: ceHeaders("content-type", "application/json"), value: `{"score":3,"revenue":"-20","currency":"jpy"}`,
			want: with(ceEv, func(e *engine.Event) {
				e.Score, e.HasScore, e.Currency = 3, true, "jpy"
				e.SetAmount(rules.MoneyRevenue, -20)
			})},
		{name: "ce binary customer from data", headers: ceHeaders()[:5], value: `{"customer_id":"c-data"}`,
			want: with(ceEv, func(e *engine.Event) { e.CustomerID = "c-data" })},
		{name: "ce binary empty subject header", headers: append(hdrs("ce_subject", ""), ceHeaders()[:5]...), value: `{"customer_id":"c-data"}`,
			want: with(ceEv, func(e *engine.Event) { e.CustomerID = "c-data" })},
		{name: "ce binary header names in any case", headers: hdrs("CE_SPECVERSION", "1.0", "Ce_Id", "evt-1", "ce_source", "/billing",
			"ce_type", "com.example.payment.failed", "CE_TIME", "2026-03-04T05:06:07+01:00", "ce_subject", "cust-9"),
			want: ceEv},
		{name: "ce binary first duplicate header wins", headers: ceHeaders("ce_subject", "later"), want: ceEv},
		{name: "ce binary empty value", headers: ceHeaders(), want: ceEv},
		{name: "ce binary non-JSON data", headers: ceHeaders("content-type", "text/plain"), value: `not json`, want: ceEv},
		{name: "ce binary segment-looking value", headers: ceHeaders(), value: specTrack, want: ceEv},
		{name: "ce binary JSON data malformed", headers: ceHeaders("content-type", "application/vnd.acme+json"), value: `{"score":`,
			reason: ReasonMalformedJSON, msg: "cloudevent data"},
		{name: "ce binary untyped data malformed", headers: ceHeaders(), value: `<xml/>`,
			reason: ReasonMalformedJSON},
		{name: "ce binary specversion 0.3", headers: hdrs("ce_specversion", "0.3", "ce_subject", "c", "ce_time", "2026-01-02T03:04:05Z"),
			reason: ReasonUnknownFormat, msg: `"0.3"`},
		{name: "ce binary no subject", headers: ceHeaders()[:5], value: `{"other":1}`,
			reason: ReasonNoCustomerID, msg: "ce_subject"},
		{name: "ce binary no time", headers: hdrs("ce_specversion", "1.0", "ce_subject", "c"),
			reason: ReasonNoTimestamp, msg: "ce_time"},
		{name: "ce binary bad time", headers: hdrs("ce_specversion", "1.0", "ce_subject", "c", "ce_time", "2026-01-02T03:04:05.Z"),
			reason: ReasonBadTimestamp, msg: "ce_time"},
		{name: "other headers do not switch to binary", headers: hdrs("ce_id", "x", "traceparent", "00-abc"), value: seg(""), want: seg0},

		// Not JSON, not an object, not a known format.
		{name: "empty value", value: ``, reason: ReasonMalformedJSON},
		{name: "truncated", value: `{"type":"track","userId":"u"`, reason: ReasonMalformedJSON},
		{name: "not json", value: `type=track`, reason: ReasonMalformedJSON},
		{name: "trailing garbage", value: seg("") + ` x`, reason: ReasonMalformedJSON},
		{name: "two values", value: seg("") + seg(""), reason: ReasonMalformedJSON},
		{name: "NaN", value: seg(`,"properties":{"score":NaN}`), reason: ReasonMalformedJSON, msg: "NaN"},
		{name: "Infinity", value: seg(`,"properties":{"score":-Inf}`), reason: ReasonMalformedJSON},
		{name: "plus sign", value: seg(`,"properties":{"score":+1}`), reason: ReasonMalformedJSON},
		{name: "leading zero", value: seg(`,"properties":{"score":01}`), reason: ReasonMalformedJSON},
		{name: "bare fraction", value: seg(`,"properties":{"score":.5}`), reason: ReasonMalformedJSON},
		{name: "number with two signs", value: seg(`,"properties":{"score":1-2}`), reason: ReasonMalformedJSON},
		{name: "invalid escape", value: seg(`,"properties":{"note":"a\qb"}`), reason: ReasonMalformedJSON, msg: `invalid escape`},
		{name: "short unicode escape", value: seg(`,"properties":{"note":"\u12"}`), reason: ReasonMalformedJSON},
		{name: "raw control character", value: seg(",\"properties\":{\"note\":\"a\x01b\"}"), reason: ReasonMalformedJSON, msg: "control character"},
		{name: "raw newline in a string", value: seg(",\"properties\":{\"note\":\"a\nb\"}"), reason: ReasonMalformedJSON},
		{name: "single quotes", value: `{'type':'track'}`, reason: ReasonMalformedJSON},
		{name: "too deep", value: strings.Repeat("[", 400) + strings.Repeat("]", 400), reason: ReasonTooComplex, msg: "nested deeper than 300 levels at offset 300"},
		{name: "pretty-printed with tabs and CRLF", value: "{\r\n\t\"type\": \"page\",\r\n\t\"userId\": \"u\",\r\n\t\"timestamp\": \"2026-01-02T03:04:05Z\"\r\n}\r\n",
			want: engine.Event{CustomerID: "u", Type: "page", Time: ms(t, "2026-01-02T03:04:05Z")}},
		{name: "array", value: `[{"type":"track"}]`, reason: ReasonUnknownFormat, msg: "JSON array is not an object"},
		{name: "string", value: `"track"`, reason: ReasonUnknownFormat},
		{name: "number", value: `42`, reason: ReasonUnknownFormat},
		{name: "null", value: `null`, reason: ReasonUnknownFormat},
		{name: "other object", value: `{"name":"x","timestamp":"2026-01-02T03:04:05Z"}`, reason: ReasonUnknownFormat, msg: "neither a Segment message"},
		{name: "empty object", value: `{}`, reason: ReasonUnknownFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(tc.opts)
			ev := engine.Event{ID: "stale", CustomerID: "stale", Time: 99, HasScore: true} // must be overwritten
			err := d.Decode([]byte(tc.value), tc.headers, &ev)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if ev != tc.want {
					t.Fatalf("Decode\n got %+v\nwant %+v", ev, tc.want)
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("Decode = %v (%T), want an *Error with reason %s", err, err, tc.reason)
			}
			if de.Reason != tc.reason {
				t.Fatalf("reason %q (%v), want %q", de.Reason, err, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not contain %q", err.Error(), tc.msg)
			}
			if ev != (engine.Event{}) {
				t.Errorf("ev = %+v after an error, want the zero Event", ev)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	err := &Error{Reason: ReasonNoCustomerID, Msg: "segment track has neither userId nor anonymousId"}
	if got, want := err.Error(), "no_customer_id: segment track has neither userId nor anonymousId"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestReasons(t *testing.T) {
	want := map[Reason]bool{ReasonMalformedJSON: true, ReasonNoCustomerID: true, ReasonNoTimestamp: true,
		ReasonBadTimestamp: true, ReasonUnknownFormat: true, ReasonInvalidUTF8: true,
		ReasonTooLarge: true, ReasonTooComplex: true, ReasonAmountOutOfRange: true}
	got := Reasons()
	if len(got) != len(want) {
		t.Fatalf("Reasons() = %v", got)
	}
	for _, r := range got {
		if !want[r] {
			t.Errorf("unexpected reason %q", r)
		}
	}
}

// TestReuse checks that a Decoder's buffers carry nothing from one record to
// the next, and that each result stands on its own until the next call.
func TestReuse(t *testing.T) {
	d := New(Options{})
	records := []struct {
		value   string
		headers []Header
	}{
		{specTrack, nil},
		{`{"type":"page","userId":123456789,"timestamp":"2026-01-02T03:04:05Z","context":{"groupId":98765}}`, nil},
		{`{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-01-02T03:04:05Z","data":{"customer_id":77}}`, nil},
		{`{"revenue":1}`, ceHeaders()},
		{`{"type":"bogus"}`, nil},
		{specIdentify, nil},
	}
	var want []engine.Event
	var wantErr []string
	for _, r := range records {
		var ev engine.Event
		err := New(Options{}).Decode([]byte(r.value), r.headers, &ev)
		want = append(want, clone(ev))
		wantErr = append(wantErr, fmtErr(err))
	}
	for round := 0; round < 3; round++ {
		for i, r := range records {
			var ev engine.Event
			err := d.Decode([]byte(r.value), r.headers, &ev)
			if got := fmtErr(err); got != wantErr[i] {
				t.Fatalf("round %d record %d: error %q, want %q", round, i, got, wantErr[i])
			}
			if ev != want[i] {
				t.Fatalf("round %d record %d:\n got %+v\nwant %+v", round, i, ev, want[i])
			}
		}
	}
}

// TestHeadersNotAliased checks that the Event does not alias header values:
// Decode promises aliasing of the value and its own buffers only.
func TestHeadersNotAliased(t *testing.T) {
	headers := ceHeaders()
	var ev engine.Event
	if err := New(Options{}).Decode(nil, headers, &ev); err != nil {
		t.Fatal(err)
	}
	want := clone(ev)
	for _, h := range headers {
		for i := range h.Value {
			h.Value[i] = 'x'
		}
	}
	if ev != want {
		t.Fatalf("Event changed with the headers: %+v", ev)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		field string
		ok    bool
	}{
		{"", true}, {"customer_id", true}, {"user.id", true}, {"items.0.id", true},
		{".id", false}, {"user.", false}, {"a..b", false},
	} {
		err := Options{CustomerField: tc.field}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.field, err, tc.ok)
		}
		// The config names the key (customer_field); the message quotes the
		// value.
		if err != nil && !strings.Contains(err.Error(), strconv.Quote(tc.field)) {
			t.Errorf("Validate(%q) = %v, does not quote the value", tc.field, err)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs")
	}
	for _, tc := range []struct {
		name    string
		value   string
		headers []Header
	}{
		{"segment track", benchTrack, nil},
		{"segment numeric ids", `{"type":"group","userId":4711,"groupId":1.5e3,"messageId":9,"timestamp":"2026-01-02T03:04:05Z"}`, nil},
		{"cloudevent structured", specCloudEvent, nil},
		{"segment identify with traits", specIdentify, nil},
		{"cloudevent binary", `{"customer_id":"c","score":"9"}`, ceHeaders()[:5]},
	} {
		d := New(Options{})
		value := []byte(tc.value)
		var ev engine.Event
		allocs := testing.AllocsPerRun(100, func() {
			if err := d.Decode(value, tc.headers, &ev); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Decode, want 0", tc.name, allocs)
		}
	}
}

// clone copies ev's strings out of the Decoder's buffers.
func clone(ev engine.Event) engine.Event {
	ev.ID = strings.Clone(ev.ID)
	ev.CustomerID = strings.Clone(ev.CustomerID)
	ev.Account = strings.Clone(ev.Account)
	ev.Type = strings.Clone(ev.Type)
	ev.Name = strings.Clone(ev.Name)
	ev.Traits = strings.Clone(ev.Traits)
	return ev
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestCloudEventIDUnambiguous: a CloudEvent's dedupe key names one (source,
// id) pair, in both modes, and ids without "/" or "%" keep the key earlier
// versions stored, so state written before an upgrade still dedupes them.
func TestCloudEventIDUnambiguous(t *testing.T) {
	structured := func(source, id string) engine.Event {
		v := `{"specversion":"1.0","id":` + strconv.Quote(id) + `,"source":` + strconv.Quote(source) +
			`,"type":"t","time":"2026-01-02T03:04:05Z","subject":"c"}`
		var ev engine.Event
		if err := New(Options{}).Decode([]byte(v), nil, &ev); err != nil {
			t.Fatalf("Decode(%s): %v", v, err)
		}
		return ev
	}
	binary := func(source, id string) engine.Event {
		hs := hdrs("ce_specversion", "1.0", "ce_id", id, "ce_source", source, "ce_subject", "c", "ce_time", "2026-01-02T03:04:05Z")
		var ev engine.Event
		if err := New(Options{}).Decode(nil, hs, &ev); err != nil {
			t.Fatalf("Decode(%v): %v", hs, err)
		}
		return ev
	}
	pairs := [][2][2]string{
		{{"/shop", "orders/1"}, {"/shop/orders", "1"}},
		{{"/shop", "orders%2F1"}, {"/shop", "orders/1"}}, // the escape itself is escaped
		{{"a/", "b"}, {"a", "/b"}},
		{{"", "a/b"}, {"a", "b"}},
	}
	for name, decode := range map[string]func(string, string) engine.Event{"structured": structured, "binary": binary} {
		for _, p := range pairs {
			a, b := decode(p[0][0], p[0][1]), decode(p[1][0], p[1][1])
			if a.ID == b.ID {
				t.Errorf("%s: (%q, %q) and (%q, %q) share the key %q", name, p[0][0], p[0][1], p[1][0], p[1][1], a.ID)
			}
		}
		for _, c := range []struct{ source, id, want string }{
			{"/billing", "A234-1234-1234", "/billing/A234-1234-1234"}, // as before
			{"/shop", "orders/1", "/shop/orders%2F1"},
			{"/shop", "50%", "/shop/50%25"},
		} {
			if got := decode(c.source, c.id).ID; got != c.want {
				t.Errorf("%s: key of (%q, %q) = %q, want %q", name, c.source, c.id, got, c.want)
			}
		}
	}
}

// TestInvalidUTF8 rejects each id field holding bytes that are not UTF-8 (or
// a lone surrogate escape), which would print the same as other ids, naming
// the field and the byte offset.
func TestInvalidUTF8(t *testing.T) {
	const ts = `"timestamp":"2026-01-02T03:04:05Z"`
	const ce = `{"specversion":"1.0","type":"t","time":"2026-01-02T03:04:05Z",`
	tests := []struct {
		name    string
		value   string
		headers []Header
		msg     string
	}{
		{"userId", `{"type":"page","userId":"ab` + "\xff" + `",` + ts + `}`, nil, `segment userId "ab\xff" is not valid UTF-8: byte 2 is 0xff`},
		{"user_id", `{"type":"page","user_id":"` + "\xc3" + `",` + ts + `}`, nil, "segment user_id"},
		{"anonymousId", `{"type":"page","anonymousId":"a` + "\xe2\x82" + `",` + ts + `}`, nil, "segment anonymousId \"a\\xe2\\x82\" is not valid UTF-8: byte 1"},
		{"anonymous_id", `{"type":"page","anonymous_id":"` + "\xed\xa0\x80" + `",` + ts + `}`, nil, "segment anonymous_id"}, // an encoded surrogate
		{"bad userId is not replaced by anonymousId", `{"type":"page","userId":"` + "\x80" + `","anonymousId":"a",` + ts + `}`, nil, "segment userId"},
		{"lone surrogate escape", `{"type":"page","userId":"u\ud800x",` + ts + `}`, nil, `segment userId "u\\ud800x" has a lone UTF-16 surrogate escape at byte 1`},
		{"messageId", `{"type":"page","userId":"u","messageId":"m` + "\xff" + `",` + ts + `}`, nil, "segment messageId"},
		{"message_id", `{"type":"page","userId":"u","message_id":"m` + "\xff" + `",` + ts + `}`, nil, "segment message_id"},
		{"groupId", `{"type":"group","userId":"u","groupId":"g` + "\xff" + `",` + ts + `}`, nil, "segment groupId"},
		{"context.groupId", `{"type":"page","userId":"u","context":{"groupId":"g` + "\xff" + `"},` + ts + `}`, nil, "segment context.groupId"},
		{"ce subject", ce + `"id":"1","source":"s","subject":"c` + "\xff" + `"}`, nil, "cloudevent subject"},
		{"ce id", ce + `"id":"1` + "\xff" + `","source":"s","subject":"c"}`, nil, "cloudevent id"},
		{"ce source", ce + `"id":"1","source":"s` + "\xff" + `","subject":"c"}`, nil, "cloudevent source"},
		{"ce data field", ce + `"id":"1","source":"s","data":{"customer_id":"c` + "\xff" + `"}}`, nil, `cloudevent data field "customer_id" "c\xff"`},
		{"ce_subject", ``, hdrs("ce_specversion", "1.0", "ce_id", "1", "ce_source", "s", "ce_time", "2026-01-02T03:04:05Z", "ce_subject", "c\xff"), `ce_subject "c\xff" is not valid UTF-8: byte 1 is 0xff`},
		{"ce_id", ``, hdrs("ce_specversion", "1.0", "ce_id", "\xff1", "ce_source", "s", "ce_time", "2026-01-02T03:04:05Z", "ce_subject", "c"), "ce_id \"\\xff1\" is not valid UTF-8: byte 0"},
		{"ce_source", ``, hdrs("ce_specversion", "1.0", "ce_id", "1", "ce_source", "s\xff", "ce_time", "2026-01-02T03:04:05Z", "ce_subject", "c"), "ce_source"},
		{"binary data field", `{"customer_id":"c` + "\xff" + `"}`, hdrs("ce_specversion", "1.0", "ce_time", "2026-01-02T03:04:05Z"), `cloudevent data field "customer_id"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev engine.Event
			err := New(Options{}).Decode([]byte(tc.value), tc.headers, &ev)
			var de *Error
			if !errors.As(err, &de) || de.Reason != ReasonInvalidUTF8 {
				t.Fatalf("Decode = %v, want reason %s", err, ReasonInvalidUTF8)
			}
			if !strings.Contains(de.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", de.Msg, tc.msg)
			}
		})
	}
	// Valid UTF-8 and surrogate pairs still decode; a literal backslash is
	// an ordinary character in a header.
	for _, v := range []string{`{"type":"page","userId":"caf\u00e9 \ud83d\ude00 日本",` + ts + `}`} {
		var ev engine.Event
		if err := New(Options{}).Decode([]byte(v), nil, &ev); err != nil || ev.CustomerID != "café 😀 日本" {
			t.Errorf("Decode(%s) = %q, %v", v, ev.CustomerID, err)
		}
	}
	var ev engine.Event
	if err := New(Options{}).Decode(nil, hdrs("ce_specversion", "1.0", "ce_time", "2026-01-02T03:04:05Z", "ce_subject", `c\ud800`), &ev); err != nil {
		t.Errorf("ce_subject with a backslash: %v", err)
	}
}

// TestLimits: a record beyond MaxBytes or MaxValues, or nested too deep, is
// rejected before it is parsed, with a short message; one at the limits
// decodes.
func TestLimits(t *testing.T) {
	// withArray is a Segment track whose properties hold an array of n
	// numbers: n+5 values as scan counts them.
	withArray := func(n int) string {
		return seg(`,"properties":{"a":[0` + strings.Repeat(",1", n-1) + `]}`)
	}
	const base = 6 // the message's own commas and brackets
	deep := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	tests := []struct {
		name   string
		opts   Options
		value  string
		reason Reason // "" when it must decode
		msg    string
	}{
		{name: "at MaxValues", opts: Options{MaxValues: 100}, value: withArray(100 - base)},
		{name: "above MaxValues", opts: Options{MaxValues: 100}, value: withArray(101 - base),
			reason: ReasonTooComplex, msg: "more than 100 JSON values"},
		{name: "default MaxValues", value: withArray(DefaultMaxValues), reason: ReasonTooComplex, msg: "more than 10000 JSON values"},
		{name: "at MaxBytes", opts: Options{MaxBytes: len(seg(""))}, value: seg("")},
		{name: "above MaxBytes", opts: Options{MaxBytes: len(seg("")) - 1}, value: seg(""),
			reason: ReasonTooLarge, msg: "bytes is longer than the limit of"},
		{name: "default MaxBytes", value: seg(`,"p":"` + strings.Repeat("x", DefaultMaxBytes) + `"`), reason: ReasonTooLarge},
		{name: "100k deep", value: deep, reason: ReasonTooComplex, msg: "too_complex: JSON nested deeper than 300 levels at offset 1500"},
		{name: "100k deep arrays", value: strings.Repeat("[", 100_000), reason: ReasonTooComplex},
		{name: "deep error keeps a short message", value: strings.Repeat("[", 299) + "1,,", reason: ReasonMalformedJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev engine.Event
			err := New(tc.opts).Decode([]byte(tc.value), nil, &ev)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Reason != tc.reason {
				t.Fatalf("Decode = %v, want reason %s", err, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not contain %q", err.Error(), tc.msg)
			}
			if len(err.Error()) > 300 {
				t.Errorf("message of %d bytes, too long for a header: %.300s...", len(err.Error()), err)
			}
		})
	}
	// The limit applies to binary-mode CloudEvent data too.
	var ev engine.Event
	err := New(Options{MaxValues: 10}).Decode([]byte(`[1,2,3,4,5,6,7,8,9,10,11]`), ceHeaders(), &ev)
	if de := (*Error)(nil); !errors.As(err, &de) || de.Reason != ReasonTooComplex {
		t.Errorf("binary-mode data beyond MaxValues: %v", err)
	}
	for _, o := range []Options{{MaxBytes: -1}, {MaxValues: -1}} {
		if o.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want an error", o)
		}
	}
}

// TestReleaseAfterLargeRecord: after a record that made the parser grow, the
// Decoder lets go of it (its Event's strings stay valid), and decodes the
// next record as before.
func TestReleaseAfterLargeRecord(t *testing.T) {
	held := func(f func()) uint64 {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		f()
		runtime.GC()
		runtime.ReadMemStats(&b)
		return b.HeapAlloc - min(a.HeapAlloc, b.HeapAlloc)
	}
	big := []byte(seg(`,"properties":{"a":[0` + strings.Repeat(",1", DefaultMaxValues-10) + `],"pad":"` +
		strings.Repeat("x", 200_000) + `"}`))
	d := New(Options{})
	var ev engine.Event
	n := held(func() {
		if err := d.Decode(big, nil, &ev); err != nil {
			t.Fatal(err)
		}
		ev = engine.Event{}
	})
	runtime.KeepAlive(d)
	if n > 64<<10 {
		t.Errorf("the Decoder holds %d bytes after a %d-byte record", n, len(big))
	}
	if err := d.Decode([]byte(benchTrack), nil, &ev); err != nil || ev.CustomerID != "cust-000123456" {
		t.Errorf("next record: %+v, %v", ev, err)
	}
	// Event strings outlive the release until the next Decode.
	d2 := New(Options{})
	if err := d2.Decode(big, nil, &ev); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	if ev.CustomerID != "u1" {
		t.Errorf("CustomerID %q after release, want u1", ev.CustomerID)
	}
}

// amt is an Event's Amounts with one amount set.
func amt(prop rules.MoneyProp, v float64) (a [rules.NumMoneyProps]float64) {
	a[prop] = v
	return a
}
