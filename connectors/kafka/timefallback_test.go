package kafka_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
)

// TestTimeFallbacks: a Segment message without any timestamp of its own is
// dated by its Kafka record's timestamp, one with only sentAt by sentAt;
// both are applied (not dead-lettered), their stage records carry those
// times, and lifeline_event_time_fallbacks_total counts each by field. A
// Stripe event is read as Stripe, not dead-lettered as a Segment message
// (what the pack makes of it is the pack's business). A record timestamp
// later than the newest event applied (a backfill produced today) dates
// its event at that newest time, so that it cannot move the watermark;
// with no event applied yet there is nothing to bound it by, and the
// record is dead-lettered (no_timestamp).
func TestTimeFallbacks(t *testing.T) {
	t.Parallel()
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-fallback", "fallback-1", 1, config.AtLeastOnce)
	in := startInstance(t, cfg)
	waitReady(t, 1, in)

	day := func(d, h int) time.Time { return time.Date(2026, 1, d, h, 0, 0, 0, time.UTC) }
	recs := []*kgo.Record{
		// The partition's first event, dated by nothing but its record.
		{Key: []byte("cus_first"), Timestamp: day(2, 9),
			Value: []byte(`{"type":"track","event":"Signed Up","userId":"cus_first","messageId":"m-first"}`)},
		{Key: []byte("cus_s"), Timestamp: day(5, 10),
			Value: []byte(`{"type":"track","event":"Signed Up","userId":"cus_s","messageId":"m-s","sentAt":"2026-01-04T08:00:00Z"}`)},
		{Key: []byte("cus_stripe"), Timestamp: day(5, 10),
			Value: []byte(`{"object":"event","id":"evt_1","type":"invoice.paid","created":1767261600,"data":{"object":{"object":"invoice","customer":"cus_stripe","amount_paid":4900,"currency":"eur"}}}`)},
		{Key: []byte("cus_r"), Timestamp: day(3, 10),
			Value: []byte(`{"type":"track","event":"Signed Up","userId":"cus_r","messageId":"m-r"}`)},
		{Key: []byte("cus_today"), Timestamp: time.Now(),
			Value: []byte(`{"type":"track","event":"Signed Up","userId":"cus_today","messageId":"m-today"}`)},
	}
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for _, r := range recs {
		r.Topic = cfg.Topics.Input
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitProcessed(t, map[int32]int64{0: recs[len(recs)-1].Offset + 1}, in)

	dead := readAll(t, addr, cfg.Topics.DeadLetters)
	if len(dead) != 1 || !strings.Contains(string(dead[0].Value), "cus_first") {
		t.Errorf("dead letters %v, want only cus_first's", dead)
	} else {
		var class string
		for _, h := range dead[0].Headers {
			if h.Key == "__connect.errors.exception.class.name" {
				class = string(h.Value)
			}
		}
		if class != "lifeline.decode.no_timestamp" {
			t.Errorf("cus_first dead-lettered as %q, want lifeline.decode.no_timestamp", class)
		}
	}
	at := map[string]string{}
	for _, o := range readAll(t, addr, cfg.Topics.Stages) {
		var rec struct {
			CustomerID string `json:"customer_id"`
			At         string `json:"at"`
			From       string `json:"from"`
		}
		if err := json.Unmarshal(o.Value, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.From == "" {
			at[rec.CustomerID] = rec.At
		}
	}
	for customer, want := range map[string]string{
		"cus_r":     "2026-01-03T10:00:00.000Z", // the record's timestamp
		"cus_s":     "2026-01-04T08:00:00.000Z", // sentAt
		"cus_today": "2026-01-04T08:00:00.000Z", // now, clamped to the newest event applied
	} {
		if at[customer] != want {
			t.Errorf("%s: first stage record at %q, want %s", customer, at[customer], want)
		}
	}
	for field, want := range map[string]float64{"record": 2, "sentAt": 1, "receivedAt": 0, "originalTimestamp": 0} {
		if got := counter(t, in.reg, "lifeline_event_time_fallbacks_total", map[string]string{"field": field}); got != want {
			t.Errorf("lifeline_event_time_fallbacks_total{field=%q} = %v, want %v", field, got, want)
		}
	}
}
