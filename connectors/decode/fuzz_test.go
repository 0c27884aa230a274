package decode

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
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
	f.Add([]byte(`{"object":"event","type":"invoice.paid","created":1e300,"data":{"object":{"customer":{"id":7}}}}`), "")
	f.Add([]byte(`{"type":"zen:event-type:ticket.status_changed","time":"2024-04-17T17:18:10Z","detail":{"requester_id":1},"event":{"current":{"status":"ÉTÉ"}}}`), "")
	f.Add([]byte(`{"type":"notification_event","topic":"x","created_at":-1,"data":{"item":{"contacts":{"contacts":[{"id":null}]}}}}`), "")
	f.Add([]byte(`{"event_type":"survey_response.updated","event_data":{"updated_at":"1","created_at":1,"person":{"email":""}}}`), "")
	f.Add([]byte(`{"event_type":"form_response","form_response":{"submitted_at":"2018-01-18T18:17:02Z","hidden":{"customer_id":3},"answers":{"field":1}}}`), "")
	f.Add([]byte(`{"event":"unstruct","unstruct_event":{"data":{"schema":"iglu:a/b"}},"network_userid":"n","collector_tstamp":"2013-11-26 00:02:05.1"}`), "")
	reasons := Reasons()
	types := []string{"identify", "track", "page", "screen", "group", "alias", "cloudevent",
		SourceStripe, SourceZendesk, SourceIntercom, SourceDelighted, SourceTypeform, "page_ping"}
	other := []byte(specCloudEvent) // something else for the Decoder to decode in between

	f.Fuzz(func(t *testing.T, value []byte, headerText string) {
		headers := fuzzHeaders(headerText)
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
	})
}
