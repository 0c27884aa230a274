package decode

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
)

// benchTrack is a typical Segment track message of about 350 bytes (364).
const benchTrack = `{"type":"track","event":"Order Completed","userId":"cust-000123456",` +
	`"messageId":"ajs-f8ca1e4de5024d9430b3928bd8ac6b96",` +
	`"timestamp":"2026-11-02T14:03:27.512Z","sentAt":"2026-11-02T14:03:27.601Z",` +
	`"context":{"groupId":"acct-4711","library":{"name":"analytics.js","version":"2.11.1"}},` +
	`"properties":{"orderId":"o-9912","revenue":129.9,"currency":"EUR"},"version":"1.1"}`

func BenchmarkDecodeSegment(b *testing.B) {
	d := New(Options{})
	value := []byte(benchTrack)
	var ev engine.Event
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(value, nil, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCloudEventStructured(b *testing.B) {
	d := New(Options{})
	value := []byte(`{"specversion":"1.0","id":"A234-1234-1234","source":"/billing/invoices",` +
		`"type":"com.example.payment.succeeded","time":"2026-11-02T14:03:27Z","subject":"cust-000123456",` +
		`"datacontenttype":"application/json","data":{"invoice":"inv-77","total":"49.00","currency":"EUR"}}`)
	var ev engine.Event
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(value, nil, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCloudEventBinary(b *testing.B) {
	d := New(Options{})
	value := []byte(`{"invoice":"inv-77","total":"49.00","currency":"EUR","customer_id":"cust-000123456"}`)
	headers := []Header{
		{"ce_specversion", []byte("1.0")},
		{"ce_id", []byte("A234-1234-1234")},
		{"ce_source", []byte("/billing/invoices")},
		{"ce_type", []byte("com.example.payment.succeeded")},
		{"ce_time", []byte("2026-11-02T14:03:27Z")},
		{"content-type", []byte("application/json")},
	}
	var ev engine.Event
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(value, headers, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTime(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseTime("2026-11-02T14:03:27.512+01:00"); !ok {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkCheckStrict is the share of BenchmarkDecodeSegment spent on
// rejecting what fastjson's lenient parser lets through.
func BenchmarkCheckStrict(b *testing.B) {
	value := []byte(benchTrack)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if at, msg := checkStrict(value); at >= 0 {
			b.Fatal(msg)
		}
	}
}

// hugeArray is a Segment track of just under 1 MiB (the default MaxBytes)
// whose properties hold an array of one-digit numbers (about 520k JSON
// values): the costliest record per byte. Before the limits, it cost 0.3-1.6 s
// and 236 MB allocated, and the Decoder held 218 MB afterwards.
func hugeArray() []byte {
	var b []byte
	b = append(b, `{"type":"track","event":"x","userId":"u","timestamp":"2026-11-02T14:03:27Z","properties":{"a":[0`...)
	for len(b) < DefaultMaxBytes-8 {
		b = append(b, ",1"...)
	}
	return append(b, "]}}"...)
}

// BenchmarkDecodeHugeArray measures what one 1 MiB numeric array costs (now
// rejected as too_complex after 10,000 values), and (held-B) what a Decoder
// keeps of it afterwards.
func BenchmarkDecodeHugeArray(b *testing.B) {
	benchHeld(b, hugeArray(), ReasonTooComplex)
}

// BenchmarkDecodeMaxValues is the costliest record accepted by default:
// DefaultMaxValues values, after which the Decoder lets go of its parser.
func BenchmarkDecodeMaxValues(b *testing.B) {
	value := []byte(`{"type":"track","event":"x","userId":"u","timestamp":"2026-11-02T14:03:27Z","properties":{"a":[0` +
		strings.Repeat(",1", DefaultMaxValues-10) + `]}}`)
	benchHeld(b, value, "")
}

func benchHeld(b *testing.B, value []byte, reason Reason) {
	var ev engine.Event
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	d := New(Options{})
	for b.Loop() {
		err := d.Decode(value, nil, &ev)
		var de *Error
		if reason == "" && err != nil || reason != "" && (!errors.As(err, &de) || de.Reason != reason) {
			b.Fatalf("Decode = %v, want reason %q", err, reason)
		}
	}
	ev = engine.Event{}
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	runtime.KeepAlive(d)
	d = nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(with.HeapAlloc)-float64(without.HeapAlloc), "held-B")
}

// BenchmarkDecodeSources decodes each source's published example
// (testdata/sources): a Stripe invoice is the largest, at about 1.5 KB.
func BenchmarkDecodeSources(b *testing.B) {
	for _, name := range []string{"stripe_invoice_paid", "zendesk_ticket_status_changed", "intercom_conversation_admin_closed_v2",
		"delighted_survey_response_updated", "typeform_form_response", "snowplow_page_view"} {
		b.Run(name, func(b *testing.B) {
			value, err := os.ReadFile(filepath.Join("testdata", "sources", name+".json"))
			if err != nil {
				b.Fatal(err)
			}
			d := New(Options{})
			var ev engine.Event
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(value, nil, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
