package decode

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// fuzzHeaders turns "key=value" lines into headers, so that the fuzzer can
// reach binary-mode CloudEvents with a plain string argument.
func fuzzHeaders(s string) []Header {
	var hs []Header
	for line := range strings.SplitSeq(s, "\n") {
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		hs = append(hs, Header{Key: k, Value: []byte(v)})
	}
	return hs
}

// FuzzDecode checks what Decode promises for any input: no panic; either an
// *Error with a known Reason and a zeroed Event, or an Event with a customer
// id, a time and a known type; and the same result every time, whatever the
// Decoder decoded before. The seed corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(benchTrack), "")
	f.Add([]byte(`{"customer_id":"c"}`), "ce_specversion=1.0\nce_id=1\nce_source=s\nce_type=t\nce_time=2026-01-02T03:04:05Z")
	// Ids that are not UTF-8, a lone surrogate escape, and an id with "/"
	// and "%" (the CloudEvents dedupe key escapes them).
	f.Add([]byte("{\"type\":\"page\",\"userId\":\"u\xff\",\"timestamp\":\"2026-01-02T03:04:05Z\"}"), "")
	f.Add([]byte(`{"type":"page","userId":"u\ud800","messageId":"m\udc00x","timestamp":"2026-01-02T03:04:05Z"}`), "")
	f.Add([]byte(`{"specversion":"1.0","id":"orders/1%","source":"/shop","time":"2026-01-02T03:04:05Z","subject":"c"}`), "")
	f.Add([]byte{}, "ce_specversion=1.0\nce_id=\xff\nce_source=s\xc3\nce_time=2026-01-02T03:04:05Z\nce_subject=c")
	// Beyond the limits: too deep, too many values.
	f.Add([]byte(strings.Repeat(`{"a":`, 1000)+"1"+strings.Repeat("}", 1000)), "")
	f.Add([]byte(`{"type":"track","event":"x","userId":"u","timestamp":"2026-11-02T14:03:27Z","properties":{"a":[0`+
		strings.Repeat(",1", DefaultMaxValues)+`]}}`), "")
	// Each other source: its published examples (testdata/sources) and
	// a record of its shape missing what Lifeline needs.
	files, _ := filepath.Glob(filepath.Join("testdata", "sources", "*.json"))
	tsv, _ := filepath.Glob(filepath.Join("testdata", "sources", "*.tsv"))
	files = append(files, tsv...)
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/sources")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	// Amounts at and beyond the bound, as numbers and strings.
	f.Add([]byte(`{"type":"track","event":"Order Completed","userId":"u","timestamp":"2026-01-02T03:04:05Z","properties":{"revenue":1e12,"total":"-1e12","price":1e400,"currency":"EUR"}}`), "")
	f.Add([]byte(`{"object":"event","id":"e","type":"invoice.paid","created":1673282868,"data":{"object":{"object":"invoice","customer":"c","amount_paid":1e14,"currency":"jpy"}}}`), "")
	f.Add([]byte(`{"object":"event","type":"invoice.paid","created":1e300,"data":{"object":{"customer":{"id":7}}}}`), "")
	f.Add([]byte(`{"type":"zen:event-type:ticket.status_changed","time":"2024-04-17T17:18:10Z","detail":{"requester_id":1},"event":{"current":{"status":"ÉTÉ"}}}`), "")
	f.Add([]byte(`{"type":"notification_event","topic":"x","created_at":-1,"data":{"item":{"contacts":{"contacts":[{"id":null}]}}}}`), "")
	f.Add([]byte(`{"event_type":"survey_response.updated","event_data":{"updated_at":"1","created_at":1,"person":{"email":""}}}`), "")
	f.Add([]byte(`{"event_type":"form_response","form_response":{"submitted_at":"2018-01-18T18:17:02Z","hidden":{"customer_id":3},"answers":{"field":1}}}`), "")
	f.Add([]byte(`{"event":"unstruct","unstruct_event":{"data":{"schema":"iglu:a/b"}},"network_userid":"n","collector_tstamp":"2013-11-26 00:02:05.1"}`), "")
	f.Fuzz(func(t *testing.T, value []byte, headerText string) {
		checkDecode(t, value, fuzzHeaders(headerText))
	})
}

// fuzzTypes are the Event types Decode may give.
var fuzzTypes = []string{"identify", "track", "page", "screen", "group", "alias", "cloudevent",
	SourceStripe, SourceZendesk, SourceIntercom, SourceDelighted, SourceTypeform, "page_ping"}

// checkDecode asserts Decode's promises for one input (see FuzzDecode).
func checkDecode(t *testing.T, value []byte, headers []Header) {
	t.Helper()
	reasons := Reasons()
	types := fuzzTypes
	other := []byte(specCloudEvent) // something else for the Decoder to decode in between
	input := slices.Clone(value)
	d := New(Options{})

	var ev engine.Event
	err := d.Decode(value, headers, &ev)
	if !slices.Equal(value, input) {
		t.Fatalf("Decode modified its input")
	}
	if err != nil {
		var de *Error
		if !errors.As(err, &de) {
			t.Fatalf("error %v is a %T, not an *Error", err, err)
		}
		if !slices.Contains(reasons, de.Reason) {
			t.Fatalf("unknown reason %q", de.Reason)
		}
		// The parser's own messages never get out (they quote at most
		// 8 bytes of the input, too few to spell these).
		if de.Reason == ReasonMalformedJSON && (strings.Contains(de.Msg, "cannot parse") || strings.Contains(de.Msg, "unparsed tail")) {
			t.Fatalf("malformed_json message shows the parser's: %q", de.Msg)
		}
		if ev != (engine.Event{}) {
			t.Fatalf("Event %+v not zeroed after error %v", ev, err)
		}
	} else {
		if ev.CustomerID == "" || ev.Time == 0 {
			t.Fatalf("Event without customer or time: %+v", ev)
		}
		if !slices.Contains(types, ev.Type) {
			t.Fatalf("Event of unknown type %q", ev.Type)
		}
		// Every amount is finite and in range: summed, none can
		// overflow lifetime value.
		for i, a := range ev.Amounts {
			if ev.AmountsSet&(1<<i) == 0 && a != 0 {
				t.Fatalf("amount %d is %v but not marked present", i, a)
			}
			if !(math.Abs(a) <= rules.MaxAmount) {
				t.Fatalf("amount %d is %v, beyond ±%g", i, a, rules.MaxAmount)
			}
		}
	}
	first, firstErr := clone(ev), fmtErr(err)

	// With a record time: what had a time of its own is unchanged,
	// and anything that decodes has a customer and a time.
	const recordTime = 1_790_000_000_000
	var at engine.Event
	atErr := d.DecodeAt(value, headers, recordTime, &at)
	switch {
	case err == nil && (atErr != nil || at != first):
		t.Fatalf("DecodeAt with a record time changed a dated event:\n got %+v, %v\nwant %+v", at, atErr, first)
	case atErr == nil && (at.CustomerID == "" || at.Time == 0):
		t.Fatalf("DecodeAt: event without customer or time: %+v", at)
	case atErr == nil && err != nil && d.TimeFallback() != FallbackRecord:
		t.Fatalf("DecodeAt accepted what Decode rejected (%v) without the record fallback (%q)", err, d.TimeFallback())
	case atErr != nil:
		var de *Error
		if !errors.As(atErr, &de) || !slices.Contains(reasons, de.Reason) {
			t.Fatalf("DecodeAt error %v is not an *Error with a known reason", atErr)
		}
	}

	// Again with the same Decoder, after it decoded something else, and
	// with a new one: the same result each time.
	var scratch engine.Event
	_ = d.Decode(other, nil, &scratch)
	for i, dec := range []*Decoder{d, New(Options{})} {
		var again engine.Event
		err := dec.Decode(value, headers, &again)
		if fmtErr(err) != firstErr || again != first {
			t.Fatalf("decode %d differs:\n got %+v, %v\nwant %+v, %v", i+2, again, err, first, firstErr)
		}
	}
}

// fuzzSource seeds f with the published examples of one source
// (testdata/sources/PREFIX*) and extra records of its shape, and fuzzes
// Decode from there with checkDecode's promises. FuzzDecode covers every
// format at once; these keep the fuzzer's mutations near one source's
// shape, where a decoder's own paths are.
func fuzzSource(f *testing.F, prefix string, extra ...string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "sources", prefix+"*"))
	if len(files) == 0 {
		f.Fatalf("no seeds testdata/sources/%s*", prefix)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, e := range extra {
		f.Add([]byte(e))
	}
	f.Fuzz(func(t *testing.T, value []byte) { checkDecode(t, value, nil) })
}

func FuzzStripe(f *testing.F) {
	fuzzSource(f, "stripe",
		`{"object":"event","id":"evt_1","type":"invoice.paid","created":1767261600,"data":{"object":{"customer":{"id":"cus_1"},"amount_paid":100,"currency":"jpy"}}}`,
		`{"object":"event","type":"charge.refunded","created":"1767261600","data":{"object":{"customer":null}}}`)
}

func FuzzZendesk(f *testing.F) {
	fuzzSource(f, "zendesk",
		`{"type":"zen:event-type:ticket.status_changed","id":"z","time":"2024-04-17T17:18:10Z","detail":{"requester_id":"1"},"event":{"current":"CLOSED"}}`)
}

func FuzzIntercom(f *testing.F) {
	fuzzSource(f, "intercom",
		`{"type":"notification_event","id":"n","topic":"conversation.admin.closed","created_at":1700000000,"data":{"item":{"user":{"user_id":"u"}}}}`)
}

func FuzzDelighted(f *testing.F) {
	fuzzSource(f, "delighted",
		`{"event_type":"survey_response.created","event_id":"e","event_data":{"score":9,"created_at":1700000000,"person":{"id":"p"}}}`)
}

func FuzzTypeform(f *testing.F) {
	fuzzSource(f, "typeform",
		`{"event_id":"e","event_type":"form_response","form_response":{"submitted_at":"2018-01-18T18:17:02Z","hidden":{"user_id":"u"},"answers":[{"type":"number","number":7,"field":{"type":"opinion_scale"}}]}}`)
}

func FuzzSnowplow(f *testing.F) {
	fuzzSource(f, "snowplow",
		`{"event":"struct","se_action":"play","event_id":"e","domain_userid":"d","collector_tstamp":"2013-11-26 00:02:05"}`)
}
