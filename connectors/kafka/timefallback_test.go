package kafka_test

import (
	"context"
	"encoding/json"
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
// (what the pack makes of it is the pack's business).
func TestTimeFallbacks(t *testing.T) {
	t.Parallel()
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-fallback", "fallback-1", 1, config.AtLeastOnce)
	in := startInstance(t, cfg)
	waitReady(t, 1, in)

	recordTime := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	recs := []*kgo.Record{
		{Key: []byte("cus_r"), Timestamp: recordTime,
			Value: []byte(`{"type":"track","event":"Signed Up","userId":"cus_r","messageId":"m-r"}`)},
		{Key: []byte("cus_s"), Timestamp: recordTime,
			Value: []byte(`{"type":"track","event":"Signed Up","userId":"cus_s","messageId":"m-s","sentAt":"2026-01-04T08:00:00Z"}`)},
		{Key: []byte("cus_stripe"), Timestamp: recordTime,
			Value: []byte(`{"object":"event","id":"evt_1","type":"invoice.paid","created":1767261600,"data":{"object":{"object":"invoice","customer":"cus_stripe","amount_paid":4900,"currency":"eur"}}}`)},
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

	if n := len(readAll(t, addr, cfg.Topics.DeadLetters)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
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
		"cus_r": "2026-01-05T10:00:00.000Z", // the record's timestamp
		"cus_s": "2026-01-04T08:00:00.000Z", // sentAt
	} {
		if at[customer] != want {
			t.Errorf("%s: first stage record at %q, want %s", customer, at[customer], want)
		}
	}
	for field, want := range map[string]float64{"record": 1, "sentAt": 1, "receivedAt": 0, "originalTimestamp": 0} {
		if got := counter(t, in.reg, "lifeline_event_time_fallbacks_total", map[string]string{"field": field}); got != want {
			t.Errorf("lifeline_event_time_fallbacks_total{field=%q} = %v, want %v", field, got, want)
		}
	}
}
