package kafka_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/journey"
)

// TestDeadLetters produces malformed records among good ones: each lands
// in the dead-letter topic with its key, value and headers untouched and
// Kafka Connect's __connect.errors.* headers naming where it came from and
// why; the good records around them are processed; every drop is counted
// by reason.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	const nparts = 2
	c, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-dlq", "dlq-1", nparts, config.ExactlyOnce)
	in := startInstance(t, cfg)
	waitReady(t, nparts, in)
	// The first two transactions fail to commit their input offsets and
	// abort: their records are processed again, and must be
	// dead-lettered, and counted, once all the same.
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.TxnOffsetCommit}, Count: 2})

	track := func(user, event, ts string) string {
		return `{"type":"track","event":"` + event + `","userId":"` + user + `","messageId":"` + user + event + ts + `","timestamp":"` + ts + `"}`
	}
	type badRecord struct {
		reason string
		rec    inputRecord
	}
	good := func(key, value string) inputRecord { return inputRecord{Key: key, Value: []byte(value)} }
	bad := []badRecord{
		{"malformed_json", inputRecord{Key: "cus_a", Value: []byte(`{"type":"track","event":"Signed In","userId":"cus_a","timestamp":"2026-01-02T10:00:00Z"`)}},
		{"no_customer_id", inputRecord{Key: "cus_a", Value: []byte(`{"type":"track","event":"Signed In","messageId":"m1","timestamp":"2026-01-02T10:00:00Z"}`)}},
		{"bad_timestamp", inputRecord{Key: "cus_a", Value: []byte(`{"type":"track","event":"Signed In","userId":"cus_a","timestamp":"yesterday"}`),
			Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-abc-def-01")}}}},
		{"unknown_format", inputRecord{Key: "cus_b", Value: []byte(`[{"type":"track","event":"Signed In","userId":"cus_b","timestamp":"2026-01-02T10:00:00Z"}]`)}},
		// (A Segment message without a time of its own takes the record's.)
		{"no_timestamp", inputRecord{Key: "cus_b", Value: []byte(`{"object":"event","type":"invoice.paid","data":{"object":{"customer":"cus_b"}}}`)}},
		{"malformed_json", inputRecord{Value: []byte("\x00\xffnot json at all")}}, // no key either
	}
	recs := []inputRecord{
		good("cus_a", track("cus_a", "Signed Up", "2026-01-01T09:00:00Z")),
		bad[0].rec, bad[1].rec, bad[2].rec,
		good("cus_b", track("cus_b", "Account Created", "2026-01-01T09:30:00Z")),
		bad[3].rec, bad[4].rec, bad[5].rec,
		good("cus_a", track("cus_a", "Order Completed", "2026-01-03T09:00:00Z")),
		good("cus_b", track("cus_b", "Subscription Started", "2026-01-03T09:30:00Z")),
	}
	produce(t, newClient(t, addr), cfg.Topics.Input, nparts, recs)
	// recs holds the bad records' partitions and offsets now.
	for i, j := 0, 0; i < len(recs); i++ {
		if j < len(bad) && string(recs[i].Value) == string(bad[j].rec.Value) {
			bad[j].rec = recs[i]
			j++
		}
	}
	waitProcessed(t, endOffsets(nparts, recs), in)
	if fault.Hits() == 0 || counter(t, in.reg, "lifeline_batches_total", map[string]string{"result": "aborted"}) == 0 {
		t.Errorf("no batch aborted (%d faults hit): the test does not test what it means to", fault.Hits())
	}

	// Each bad record once in the dead-letter topic, as it came.
	dead := readAll(t, addr, cfg.Topics.DeadLetters)
	if len(dead) != len(bad) {
		t.Errorf("%d dead letters, want %d", len(dead), len(bad))
	}
	for _, b := range bad {
		var found *outputRecord
		for i := range dead {
			if string(dead[i].Value) == string(b.rec.Value) {
				if found != nil {
					t.Errorf("%s record %q dead-lettered twice", b.reason, b.rec.Value)
				}
				found = &dead[i]
			}
		}
		if found == nil {
			t.Errorf("%s record %q is not in the dead-letter topic", b.reason, b.rec.Value)
			continue
		}
		if found.Key != b.rec.Key {
			t.Errorf("%s record: key %q, want %q", b.reason, found.Key, b.rec.Key)
		}
		hs := map[string]string{}
		for _, h := range found.Headers {
			if _, dup := hs[h.Key]; dup {
				t.Errorf("%s record: header %s twice", b.reason, h.Key)
			}
			hs[h.Key] = string(h.Value)
		}
		for _, h := range b.rec.Headers {
			if hs[h.Key] != string(h.Value) {
				t.Errorf("%s record: original header %s = %q, want %q", b.reason, h.Key, hs[h.Key], h.Value)
			}
		}
		want := map[string]string{
			"__connect.errors.topic":                cfg.Topics.Input,
			"__connect.errors.partition":            strconv.Itoa(int(b.rec.Partition)),
			"__connect.errors.offset":               strconv.FormatInt(b.rec.Offset, 10),
			"__connect.errors.exception.class.name": "lifeline.decode." + b.reason,
		}
		for k, v := range want {
			if hs[k] != v {
				t.Errorf("%s record: header %s = %q, want %q", b.reason, k, hs[k], v)
			}
		}
		if msg := hs["__connect.errors.exception.message"]; !strings.HasPrefix(msg, b.reason+": ") || len(msg) <= len(b.reason)+2 {
			t.Errorf("%s record: header __connect.errors.exception.message = %q, want the reason and what was wrong", b.reason, msg)
		}
	}

	// Processing went on: the good records after the bad ones counted.
	got := outputsOf(t, cfg, readAll(t, addr, cfg.Topics.Stages))
	for _, c := range []string{"cus_a", "cus_b"} {
		var path []string
		for _, v := range got[outKey("stage", c)] {
			path = append(path, jsonField(v, "to"))
		}
		if strings.Join(path, ",") != "acquisition,conversion" {
			t.Errorf("%s went through stages %v, want acquisition, conversion", c, path)
		}
	}

	// Every drop counted, by reason.
	wantCounts := map[string]float64{}
	for _, b := range bad {
		wantCounts[b.reason]++
	}
	for reason, n := range wantCounts {
		if got := counter(t, in.reg, "lifeline_dead_letters_total", map[string]string{"reason": reason}); got != n {
			t.Errorf("lifeline_dead_letters_total{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	if got := counter(t, in.reg, "lifeline_dead_letters_total", nil); got != float64(len(bad)) {
		t.Errorf("lifeline_dead_letters_total = %v in all, want %d", got, len(bad))
	}
	if got := counter(t, in.reg, "lifeline_events_processed_total", map[string]string{"outcome": "dead_letter"}); got != float64(len(bad)) {
		t.Errorf("lifeline_events_processed_total{outcome=dead_letter} = %v, want %d", got, len(bad))
	}
}

// TestDeadLetterEventAhead is issue 13's far-future event over Kafka:
// among generated journeys, a record dated 9999-12-31 and one a
// millisecond more than engine.max_event_ahead past the runtime's clock
// land in the dead-letter topic, as they came, with the reason
// event_time_ahead, counted; one exactly at the bound is applied. Every
// output topic and every customer's state then equal the offline replay
// of the input without the two: no timer fired early, none stopped.
func TestDeadLetterEventAhead(t *testing.T) {
	t.Parallel()
	const nparts = 2
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-ahead", "ahead-1", nparts, config.ExactlyOnce)
	cfg.Engine.MaxEventAhead = config.Duration(24 * time.Hour)
	const days = 40
	clock := workloadStart.Add(days * 24 * time.Hour)
	in := startInstanceClock(t, cfg, func() time.Time { return clock })
	waitReady(t, nparts, in)

	recs := journeys(t, journey.Config{Customers: 200, Days: days, Seed: 13})
	track := func(user, id string, at time.Time) inputRecord {
		return inputRecord{Key: user, Value: []byte(`{"type":"track","event":"Signed In","userId":"` + user + `","messageId":"` + id +
			`","timestamp":"` + at.UTC().Format(time.RFC3339Nano) + `"}`)}
	}
	// Customers of the workload, so that the rejected events would have
	// touched real state (and, on both partitions, real timers).
	var users []string
	for _, r := range recs {
		if r.Key != "" && !slices.Contains(users, r.Key) {
			users = append(users, r.Key)
		}
	}
	bound := clock.Add(24 * time.Hour)
	rejected := []inputRecord{
		track(users[0], "future-9999", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)),
		track(users[1], "future-over", bound.Add(time.Millisecond)),
	}
	atBound := track(users[2], "future-at", bound)
	mid := len(recs) / 3
	all := slices.Concat(recs[:mid], rejected[:1], recs[mid:2*mid], rejected[1:], recs[2*mid:], []inputRecord{atBound})
	produce(t, newClient(t, addr), cfg.Topics.Input, nparts, all)
	waitProcessed(t, endOffsets(nparts, all), in)
	waitCommitted(t, addr, cfg.Group, cfg.Topics.Input, endOffsets(nparts, all))

	var kept []inputRecord
	for _, r := range all {
		if !strings.Contains(string(r.Value), `"future-9999"`) && !strings.Contains(string(r.Value), `"future-over"`) {
			kept = append(kept, r)
		} else {
			for i := range rejected {
				if string(rejected[i].Value) == string(r.Value) {
					rejected[i] = r // with its partition and offset
				}
			}
		}
	}
	compareWithReplay(t, addr, cfg, kept, nparts, in.eng)

	var ahead []outputRecord
	for _, d := range readAll(t, addr, cfg.Topics.DeadLetters) {
		for _, h := range d.Headers {
			if h.Key == "__connect.errors.exception.class.name" && string(h.Value) == "lifeline.decode.event_time_ahead" {
				ahead = append(ahead, d)
			}
		}
	}
	if len(ahead) != len(rejected) {
		t.Fatalf("%d event_time_ahead dead letters, want %d", len(ahead), len(rejected))
	}
	for _, want := range rejected {
		var got *outputRecord
		for i := range ahead {
			if string(ahead[i].Value) == string(want.Value) {
				got = &ahead[i]
			}
		}
		if got == nil {
			t.Errorf("record %s is not among the event_time_ahead dead letters", want.Value)
			continue
		}
		hs := map[string]string{}
		for _, h := range got.Headers {
			hs[h.Key] = string(h.Value)
		}
		if got.Key != want.Key || hs["__connect.errors.offset"] != strconv.FormatInt(want.Offset, 10) ||
			hs["__connect.errors.partition"] != strconv.Itoa(int(want.Partition)) {
			t.Errorf("dead letter key %q, headers %v: want key %q from partition %d offset %d", got.Key, hs, want.Key, want.Partition, want.Offset)
		}
		msg := hs["__connect.errors.exception.message"]
		for _, s := range []string{"event_time_ahead: ", "24h0m0s", "clock", clock.UTC().Format("2006-01-02T15:04:05.000Z")} {
			if !strings.Contains(msg, s) {
				t.Errorf("dead letter message %q does not say %q", msg, s)
			}
		}
	}
	if got := counter(t, in.reg, "lifeline_dead_letters_total", map[string]string{"reason": "event_time_ahead"}); got != float64(len(rejected)) {
		t.Errorf("lifeline_dead_letters_total{reason=event_time_ahead} = %v, want %d", got, len(rejected))
	}
	if got, want := counter(t, in.reg, "lifeline_events_processed_total", map[string]string{"outcome": "dead_letter"}),
		counter(t, in.reg, "lifeline_dead_letters_total", nil); got != want {
		t.Errorf("lifeline_events_processed_total{outcome=dead_letter} = %v, lifeline_dead_letters_total %v: want them equal", got, want)
	}
	// The watermarks stayed behind the clock plus the bound.
	for p, m := range in.rt.Metas() {
		if wm := time.UnixMilli(m.Watermark); wm.After(bound) {
			t.Errorf("partition %d watermark %s, past the clock plus the bound (%s)", p, wm.UTC(), bound)
		}
	}
}
