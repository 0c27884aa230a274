package decode

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// TestSources decodes the published example payloads of each source (see
// testdata/sources/README.md for where each comes from) and checks what the
// rule pack and the customer's state are built from.
func TestSources(t *testing.T) {
	for _, c := range []struct {
		file                string
		typ, name, customer string
		time, id            string
		score               float64
		hasScore            bool
		revenue             float64 // Stripe's amount, in major units
		currency            string
	}{
		// https://docs.stripe.com/api/events/object (a delivered invoice.paid)
		{file: "stripe_invoice_paid.json", typ: "stripe", name: "invoice.paid", customer: "ertrterty",
			time: "2023-01-09T16:47:48Z", id: "stripe/eryertyrt", revenue: 10, currency: "eur"},
		// zulip/zulip zerver/webhooks/stripe/fixtures/invoice_payment_failed.json
		{file: "stripe_invoice_payment_failed.json", typ: "stripe", name: "invoice.payment_failed", customer: "cus_00000000000000",
			time: "2012-01-18T02:24:38Z", id: "stripe/evt_00000000000000", revenue: 20, currency: "aud"},
		// zulip/zulip zerver/webhooks/stripe/fixtures/customer_subscription_deleted.json
		{file: "stripe_subscription_deleted.json", typ: "stripe", name: "customer.subscription.deleted", customer: "cus_00000000000000",
			time: "2012-01-18T02:24:38Z", id: "stripe/evt_00000000000000"},
		// https://docs.stripe.com/api/charges/object, refunded
		{file: "stripe_charge_refunded.json", typ: "stripe", name: "charge.refunded", customer: "cus_NffrFeUfNV2Hib",
			time: "2023-03-17T22:03:21Z", id: "stripe/evt_3MmlLrLkdIwHu7ix0uke3Ezy", revenue: 10.99, currency: "usd"},
		// https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/
		{file: "zendesk_ticket_status_changed.json", typ: "zendesk", name: "ticket.status_changed.solved", customer: "8447388090494",
			time: "2025-01-08T10:12:07.672Z", id: "zendesk/cbe4028c-7239-495d-b020-f22348516046"},
		// https://prismatic.io/docs/example-payloads/zendesk/triggers/webhook.json
		{file: "zendesk_ticket_created.json", typ: "zendesk", name: "ticket.created", customer: "20978392",
			time: "2024-04-17T17:18:10Z", id: "zendesk/01HNXXXX-CTEXAMPLE"},
		// zulip/zulip zerver/webhooks/intercom/fixtures/conversation_user_created.json (API 1.x)
		{file: "intercom_conversation_user_created.json", typ: "intercom", name: "conversation.user.created",
			customer: "75067020-1204-495c-8edc-abb7d88bdd43", time: "2019-03-22T21:29:58Z",
			id: "intercom/notif_3ac27816-d27c-45fd-a65a-bbaf021cf780"},
		// the same in API 2.x's shape (contacts.contacts[0].external_id)
		{file: "intercom_conversation_admin_closed_v2.json", typ: "intercom", name: "conversation.admin.closed",
			customer: "75067020-1204-495c-8edc-abb7d88bdd43", time: "2019-03-22T21:49:50Z",
			id: "intercom/notif_2bc4bf3a-0064-4fb0-9e17-dc44d91bcb9b"},
		// zulip/zulip zerver/webhooks/delighted/fixtures/survey_response_updated_promoter.json
		{file: "delighted_survey_response_updated.json", typ: "delighted", name: "survey_response.updated", customer: "5975",
			time: "2016-12-24T14:33:29Z", id: "delighted/b8d057c59327541d7ec2104c0a9a255ad1997fb00831b9c6bbf09561e6d5cbd0",
			score: 9, hasScore: true},
		// https://www.typeform.com/developers/webhooks/example-payload/
		{file: "typeform_form_response.json", typ: "typeform", name: "form_response", customer: "abc123456",
			time: "2018-01-18T18:17:02Z", id: "typeform/LtWXD3crgy", score: 9, hasScore: true},
		// snowplow/snowplow-golang-analytics-sdk analytics/vars_test.go
		{file: "snowplow_page_view.json", typ: "page", customer: "jon.doe@email.com",
			time: "2013-11-26T00:03:57.885Z", id: "snowplow/c6ef3124-b53a-4b13-a233-0088f79dcbcb"},
		// https://docs.snowplow.io/docs/fundamentals/canonical-event/ (no derived_tstamp, no user_id)
		// the same SDK test event in the enriched TSV form (131 fields)
		{file: "snowplow_page_view.tsv", typ: "page", customer: "jon.doe@email.com",
			time: "2013-11-26T00:03:57.885Z", id: "snowplow/c6ef3124-b53a-4b13-a233-0088f79dcbcb"},
		{file: "snowplow_struct_tsv_time.json", typ: "track", name: "add-to-basket", customer: "bc2e92ec6c204a14",
			time: "2013-11-26T00:03:57.885Z", id: "snowplow/c6ef3124-b53a-4b13-a233-0088f79dcbcb"},
	} {
		t.Run(c.file, func(t *testing.T) {
			value, err := os.ReadFile(filepath.Join("testdata", "sources", c.file))
			if err != nil {
				t.Fatal(err)
			}
			d := New(Options{})
			var ev engine.Event
			// A record time is given and must not be used: each source
			// dates its events itself.
			if err := d.DecodeAt(value, nil, ms(t, "2030-01-01T00:00:00Z"), &ev); err != nil {
				t.Fatalf("DecodeAt: %v", err)
			}
			want := engine.Event{Type: c.typ, Name: c.name, CustomerID: c.customer, Time: ms(t, c.time), ID: c.id,
				Score: c.score, HasScore: c.hasScore, Currency: c.currency}
			if c.revenue != 0 {
				want.SetAmount(rules.MoneyAmount, c.revenue)
			}
			if ev != want {
				t.Errorf("got  %+v\nwant %+v", ev, want)
			}
			if f := d.TimeFallback(); f != "" {
				t.Errorf("TimeFallback = %q, want none", f)
			}
		})
	}
}

// decodeErr decodes value and returns its *Error (failing when it decodes).
func decodeErr(t *testing.T, d *Decoder, value string) *Error {
	t.Helper()
	var ev engine.Event
	err := d.Decode([]byte(value), nil, &ev)
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("Decode(%s) = %v (event %+v), want an *Error", value, err, ev)
	}
	return de
}

// TestSourceErrors: a record of a known source that lacks what Lifeline
// needs is rejected with a message naming the source and the field, never
// as a Segment message.
func TestSourceErrors(t *testing.T) {
	for _, c := range []struct {
		name, value string
		reason      Reason
		msg         string
	}{
		{"stripe no customer", `{"object":"event","id":"evt_1","type":"invoice.paid","created":1673282868,"data":{"object":{"object":"invoice","amount_paid":100}}}`,
			ReasonNoCustomerID, "stripe event invoice.paid without data.object.customer"},
		{"stripe no type", `{"object":"event","id":"evt_1","created":1673282868,"data":{"object":{}}}`,
			ReasonUnknownFormat, "stripe event (\"object\":\"event\") has no type"},
		{"stripe no created", `{"object":"event","type":"invoice.paid","data":{"object":{"customer":"cus_1"}}}`,
			ReasonNoTimestamp, "stripe event invoice.paid has no created"},
		{"stripe created as string", `{"object":"event","type":"invoice.paid","created":"1673282868","data":{"object":{"customer":"cus_1"}}}`,
			ReasonBadTimestamp, "stripe created is a JSON string, not Unix seconds"},
		{"stripe created in year 10000", `{"object":"event","type":"invoice.paid","created":253402300800,"data":{"object":{"customer":"cus_1"}}}`,
			ReasonBadTimestamp, "not Unix seconds between 1970 and 9999"},
		{"zendesk no requester", `{"type":"zen:event-type:ticket.created","id":"1","time":"2024-04-17T17:18:10Z","detail":{"id":"35436"}}`,
			ReasonNoCustomerID, "zendesk event ticket.created without detail.requester_id"},
		{"zendesk bare prefix", `{"type":"zen:event-type:","id":"1"}`,
			ReasonUnknownFormat, "names no event"},
		{"intercom no contact", `{"type":"notification_event","id":"n","topic":"conversation.user.created","created_at":1553290198,"data":{"item":{"type":"conversation"}}}`,
			ReasonNoCustomerID, "intercom notification conversation.user.created without data.item.contacts.contacts.0.external_id or"},
		{"delighted no time", `{"event_type":"survey_response.created","event_data":{"score":3,"person":{"id":"1"}}}`,
			ReasonNoTimestamp, "delighted event survey_response.created has no event_data.created_at"},
		{"typeform no hidden field", `{"event_id":"e","event_type":"form_response","form_response":{"submitted_at":"2018-01-18T18:17:02Z","hidden":{"email":"a@b"}}}`,
			ReasonNoCustomerID, "typeform form_response without form_response.hidden.user_id or form_response.hidden.customer_id"},
		{"snowplow struct without action", `{"event":"struct","event_id":"e","user_id":"u","collector_tstamp":"2013-11-26 00:02:05"}`,
			ReasonUnknownFormat, "snowplow struct event without se_action"},
		{"snowplow bad time", `{"event":"page_view","event_id":"e","user_id":"u","collector_tstamp":"26/11/2013"}`,
			ReasonBadTimestamp, "snowplow collector_tstamp \"26/11/2013\" is neither RFC 3339 nor"},
		{"snowplow no user", `{"event":"page_view","event_id":"e","collector_tstamp":"2013-11-26 00:02:05"}`,
			ReasonNoCustomerID, "snowplow page_view event without user_id or domain_userid or network_userid"},
		{"stripe customer id not UTF-8", "{\"object\":\"event\",\"type\":\"invoice.paid\",\"created\":1,\"data\":{\"object\":{\"customer\":\"c\xff\"}}}",
			ReasonInvalidUTF8, "stripe data.object.customer \"c\\xff\" is not valid UTF-8"},
		{"tab-separated but not Snowplow", "a\tb\tc",
			ReasonUnknownFormat, "tab-separated record has 3 fields, not a Snowplow enriched event's 131"},
		{"cloudevent without subject or field", `{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2026-01-02T03:04:05Z","data":{"user":"u"}}`,
			ReasonNoCustomerID, "cloudevent has neither subject nor data field \"customer_id\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			de := decodeErr(t, New(Options{}), c.value)
			if de.Reason != c.reason || !strings.Contains(de.Msg, c.msg) {
				t.Errorf("got %v\nwant %s: ...%s...", de, c.reason, c.msg)
			}
			if strings.Contains(de.Msg, "segment") || strings.Contains(de.Msg, "fastjson") {
				t.Errorf("message %q speaks of Segment or the parser", de.Msg)
			}
		})
	}
}

// TestStripeAmounts: Stripe amounts are in minor units; zero-decimal
// currencies are not divided, three-decimal ones by 1000.
func TestStripeAmounts(t *testing.T) {
	for _, c := range []struct {
		typ, object string
		want        float64
	}{
		{"invoice.paid", `{"object":"invoice","customer":"c","amount_paid":1999,"amount_due":5000,"currency":"usd"}`, 19.99},
		{"invoice.paid", `{"object":"invoice","customer":"c","amount_paid":1999,"currency":"JPY"}`, 1999},
		{"invoice.paid", `{"object":"invoice","customer":"c","amount_paid":1999,"currency":"krw"}`, 1999},
		{"invoice.paid", `{"object":"invoice","customer":"c","amount_paid":1999,"currency":"kwd"}`, 1.999},
		{"invoice.paid", `{"object":"invoice","customer":"c","amount_paid":1999}`, 19.99},
		{"invoice.payment_failed", `{"object":"invoice","customer":"c","amount_paid":0,"amount_due":5000,"currency":"eur"}`, 50},
		{"charge.refunded", `{"object":"charge","customer":"c","amount":1000,"amount_refunded":400,"currency":"eur"}`, 4},
		{"charge.succeeded", `{"object":"charge","customer":"c","amount":1000,"amount_refunded":0,"currency":"eur"}`, 10},
		{"payment_intent.succeeded", `{"object":"payment_intent","customer":"c","amount":1000,"amount_received":1000,"currency":"bhd"}`, 1},
		{"customer.subscription.created", `{"object":"subscription","customer":"c","plan":{"amount":2000}}`, 0},
	} {
		t.Run(c.typ+" "+c.object, func(t *testing.T) {
			value := `{"object":"event","id":"evt_1","type":"` + c.typ + `","created":1673282868,"data":{"object":` + c.object + `}}`
			var ev engine.Event
			if err := New(Options{}).Decode([]byte(value), nil, &ev); err != nil {
				t.Fatal(err)
			}
			if got, ok := (&rules.Money{Value: []rules.MoneyProp{rules.MoneyAmount}}).Pick(&ev.Amounts, ev.AmountsSet); got != c.want || ok != (c.want != 0) {
				t.Errorf("amount = %v (present %v), want %v", got, ok, c.want)
			}
		})
	}
}

// A Stripe amount beyond 1e12 major units (after the minor-unit division)
// is a dead letter, as Segment's are: summed, it would overflow lifetime
// value.
func TestStripeAmountOutOfRange(t *testing.T) {
	for _, c := range []struct{ object, msg string }{
		{`{"object":"invoice","customer":"c","amount_paid":1e17,"currency":"usd"}`, "stripe data.object.amount_paid 1e17 is beyond"},
		{`{"object":"invoice","customer":"c","amount_paid":2000000000000,"currency":"jpy"}`, "stripe data.object.amount_paid 2000000000000 is beyond"},
		{`{"object":"charge","customer":"c","amount":1e999,"currency":"usd"}`, "stripe data.object.amount 1e999 is beyond"},
	} {
		value := `{"object":"event","id":"evt_1","type":"invoice.paid","created":1673282868,"data":{"object":` + c.object + `}}`
		var ev engine.Event
		err := New(Options{}).Decode([]byte(value), nil, &ev)
		var de *Error
		if !errors.As(err, &de) || de.Reason != ReasonAmountOutOfRange || !strings.Contains(de.Msg, c.msg) {
			t.Errorf("%s: err = %v, want amount_out_of_range: %s", c.object, err, c.msg)
		}
	}
	// 1e12 dollars is the bound itself: accepted.
	var ev engine.Event
	if err := New(Options{}).Decode([]byte(`{"object":"event","id":"evt_1","type":"invoice.paid","created":1673282868,"data":{"object":{"object":"invoice","customer":"c","amount_paid":1e14,"currency":"usd"}}}`), nil, &ev); err != nil {
		t.Errorf("1e12 dollars: %v", err)
	}
}

// TestStripeCustomer: where the customer of a Stripe event is, by default
// and as configured.
func TestStripeCustomer(t *testing.T) {
	event := func(object string) string {
		return `{"object":"event","id":"evt_1","type":"t","created":1673282868,"data":{"object":` + object + `}}`
	}
	for _, c := range []struct {
		name, object string
		opts         Options
		want         string
	}{
		{"string", `{"object":"invoice","customer":"cus_1"}`, Options{}, "cus_1"},
		{"expanded", `{"object":"invoice","customer":{"id":"cus_2","object":"customer"}}`, Options{}, "cus_2"},
		{"customer object", `{"object":"customer","id":"cus_3","email":"a@b"}`, Options{}, "cus_3"},
		{"metadata first", `{"object":"subscription","customer":"cus_4","metadata":{"user_id":"u-4"}}`,
			Options{CustomerPaths: map[string][]string{"stripe": {"data.object.metadata.user_id", "data.object.customer"}}}, "u-4"},
		{"metadata missing", `{"object":"subscription","customer":"cus_5","metadata":{}}`,
			Options{CustomerPaths: map[string][]string{"stripe": {"data.object.metadata.user_id", "data.object.customer"}}}, "cus_5"},
		{"numeric metadata", `{"object":"subscription","customer":"cus_6","metadata":{"user_id":42}}`,
			Options{CustomerPaths: map[string][]string{"stripe": {"data.object.metadata.user_id"}}}, "42"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ev engine.Event
			if err := New(c.opts).Decode([]byte(event(c.object)), nil, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.CustomerID != c.want {
				t.Errorf("CustomerID = %q, want %q", ev.CustomerID, c.want)
			}
		})
	}
	de := decodeErr(t, New(Options{CustomerPaths: map[string][]string{"stripe": {"data.object.metadata.user_id"}}}),
		event(`{"object":"subscription","customer":"cus_7"}`))
	if de.Reason != ReasonNoCustomerID || !strings.Contains(de.Msg, "without data.object.metadata.user_id") {
		t.Errorf("got %v, want the configured path named", de)
	}
}

// TestConfiguredPaths: every source's customer paths can be replaced.
func TestConfiguredPaths(t *testing.T) {
	opts := Options{CustomerPaths: map[string][]string{
		"zendesk":   {"detail.external_id"},
		"intercom":  {"data.item.user.email"},
		"delighted": {"event_data.person.email"},
		"typeform":  {"form_response.hidden.account"},
		"snowplow":  {"domain_userid"},
	}}
	for _, c := range []struct{ value, want string }{
		{`{"type":"zen:event-type:ticket.created","time":"2024-04-17T17:18:10Z","detail":{"requester_id":"1","external_id":"ext-1"}}`, "ext-1"},
		{`{"type":"notification_event","topic":"t","created_at":1553290198,"data":{"item":{"user":{"id":"i","email":"e@x"}}}}`, "e@x"},
		{`{"event_type":"survey_response.created","event_data":{"created_at":1482589409,"person":{"id":"1","email":"p@x"}}}`, "p@x"},
		{`{"event_type":"form_response","form_response":{"submitted_at":"2018-01-18T18:17:02Z","hidden":{"user_id":"u","account":"acc"}}}`, "acc"},
		{`{"event":"page_view","user_id":"u","domain_userid":"dom","collector_tstamp":"2013-11-26 00:02:05"}`, "dom"},
	} {
		var ev engine.Event
		if err := New(opts).Decode([]byte(c.value), nil, &ev); err != nil {
			t.Fatalf("%s: %v", c.value, err)
		}
		if ev.CustomerID != c.want {
			t.Errorf("%s: CustomerID = %q, want %q", c.value, ev.CustomerID, c.want)
		}
	}
}

func TestOptionsValidateCustomerPaths(t *testing.T) {
	for _, c := range []struct {
		paths map[string][]string
		want  string
	}{
		{map[string][]string{"stripe": {"data.object.metadata.user_id"}}, ""},
		{map[string][]string{"strip": {"data.object.customer"}}, `unknown source "strip" (known: stripe, zendesk, intercom, delighted, typeform, snowplow)`},
		{map[string][]string{"typeform": {"form_response..hidden"}}, `CustomerPaths typeform: "form_response..hidden" has an empty key`},
	} {
		err := Options{CustomerPaths: c.paths}.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: Validate = %v, want %q", c.paths, err, c.want)
		}
	}
}

// TestTimeFallback: a Segment message without timestamp is dated by its
// fallbacks, then by the record time, and TimeFallback says which.
func TestTimeFallback(t *testing.T) {
	const rec = "2026-11-02T15:00:00Z"
	for _, c := range []struct {
		name, value string
		want        string // event time
		fallback    string
	}{
		{"timestamp", `{"type":"track","event":"x","userId":"u","timestamp":"2026-11-02T14:00:00Z","sentAt":"2026-11-02T14:00:01Z"}`,
			"2026-11-02T14:00:00Z", ""},
		{"originalTimestamp", `{"type":"track","event":"x","userId":"u","originalTimestamp":"2026-11-02T14:00:02Z","sentAt":"2026-11-02T14:00:03Z"}`,
			"2026-11-02T14:00:02Z", FallbackOriginalTimestamp},
		{"original_timestamp", `{"type":"track","event":"x","userId":"u","original_timestamp":"2026-11-02T14:00:02Z"}`,
			"2026-11-02T14:00:02Z", FallbackOriginalTimestamp},
		{"sentAt", `{"type":"track","event":"x","userId":"u","sentAt":"2026-11-02T14:00:03Z","receivedAt":"2026-11-02T14:00:04Z"}`,
			"2026-11-02T14:00:03Z", FallbackSentAt},
		{"receivedAt", `{"type":"track","event":"x","userId":"u","receivedAt":"2026-11-02T14:00:04Z"}`,
			"2026-11-02T14:00:04Z", FallbackReceivedAt},
		{"record", `{"type":"track","event":"x","userId":"u"}`, rec, FallbackRecord},
		{"cloudevent record", `{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"c"}`, rec, FallbackRecord},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := New(Options{})
			var ev engine.Event
			if err := d.DecodeAt([]byte(c.value), nil, ms(t, rec), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Time != ms(t, c.want) || d.TimeFallback() != c.fallback {
				t.Errorf("Time %d, fallback %q; want %d (%s), %q", ev.Time, d.TimeFallback(), ms(t, c.want), c.want, c.fallback)
			}
		})
	}
	// Without a record time, a message with no time of its own is
	// rejected, and the fallback of an earlier record does not linger.
	d := New(Options{})
	var ev engine.Event
	if err := d.DecodeAt([]byte(`{"type":"track","event":"x","userId":"u"}`), nil, ms(t, rec), &ev); err != nil {
		t.Fatal(err)
	}
	err := d.Decode([]byte(`{"type":"track","event":"x","userId":"u"}`), nil, &ev)
	var de *Error
	if !errors.As(err, &de) || de.Reason != ReasonNoTimestamp || !strings.Contains(de.Msg, "no record time") {
		t.Errorf("Decode without record time = %v, want no_timestamp", err)
	}
	if d.TimeFallback() != "" {
		t.Errorf("TimeFallback after an error = %q", d.TimeFallback())
	}
	// Binary mode CloudEvent without ce_time.
	headers := []Header{{"ce_specversion", []byte("1.0")}, {"ce_id", []byte("1")}, {"ce_source", []byte("/s")},
		{"ce_type", []byte("t")}, {"ce_subject", []byte("c")}}
	if err := d.DecodeAt(nil, headers, ms(t, rec), &ev); err != nil || ev.Time != ms(t, rec) || d.TimeFallback() != FallbackRecord {
		t.Errorf("binary CloudEvent without ce_time: %v, time %d, fallback %q", err, ev.Time, d.TimeFallback())
	}
}

// TestCloudEventCustomerField: a CloudEvent without subject is accepted
// with the customer under the configured data field.
func TestCloudEventCustomerField(t *testing.T) {
	d := New(Options{CustomerField: "account.owner"})
	var ev engine.Event
	err := d.Decode([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2026-01-02T03:04:05Z","data":{"account":{"owner":"c-9"}}}`), nil, &ev)
	if err != nil || ev.CustomerID != "c-9" {
		t.Fatalf("Decode = %v, customer %q; want c-9", err, ev.CustomerID)
	}
	de := decodeErr(t, d, `{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2026-01-02T03:04:05Z","data":{"customer_id":"c"}}`)
	if de.Reason != ReasonNoCustomerID || !strings.Contains(de.Msg, `"account.owner"`) {
		t.Errorf("got %v, want no_customer_id naming \"account.owner\"", de)
	}
}

// TestSourcesDoNotAllocate: the new sources keep Decode's promise of no
// allocation for a record that decodes.
func TestSourcesDoNotAllocate(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "sources"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext != ".json" && ext != ".tsv" {
			continue
		}
		value, err := os.ReadFile(filepath.Join("testdata", "sources", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		d := New(Options{})
		var ev engine.Event
		if err := d.Decode(value, nil, &ev); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(50, func() { _ = d.Decode(value, nil, &ev) }); n != 0 {
			t.Errorf("%s: %v allocations per Decode, want 0", e.Name(), n)
		}
	}
}

// TestSnowplowTSV: the enriched TSV's struct events and customer paths.
func TestSnowplowTSV(t *testing.T) {
	value, err := os.ReadFile(filepath.Join("testdata", "sources", "snowplow_page_view.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(string(value), "\t")
	f[5], f[54], f[12], f[124] = "struct", "add-to-basket", "", "" // no user_id, no derived_tstamp
	var ev engine.Event
	if err := New(Options{}).Decode([]byte(strings.Join(f, "\t")), nil, &ev); err != nil {
		t.Fatal(err)
	}
	want := engine.Event{Type: "track", Name: "add-to-basket", CustomerID: "bc2e92ec6c204a14",
		Time: ms(t, "2013-11-26T00:03:57.885Z"), ID: "snowplow/c6ef3124-b53a-4b13-a233-0088f79dcbcb"}
	if ev != want {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
	d := New(Options{CustomerPaths: map[string][]string{"snowplow": {"network_userid"}}})
	if err := d.Decode(value, nil, &ev); err != nil || ev.CustomerID != "ecdff4d0-9175-40ac-a8bb-325c49733607" {
		t.Errorf("network_userid configured: %v, customer %q", err, ev.CustomerID)
	}
	f[15], f[17] = "", ""
	de := decodeErr(t, New(Options{}), strings.Join(f, "\t"))
	if de.Reason != ReasonNoCustomerID || !strings.Contains(de.Msg, "snowplow struct event without user_id") {
		t.Errorf("got %v, want no_customer_id naming the fields", de)
	}
}
