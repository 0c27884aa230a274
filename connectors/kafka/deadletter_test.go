package kafka_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lifeline-hq/lifeline/config"
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
		{"no_timestamp", inputRecord{Key: "cus_b", Value: []byte(`{"type":"track","event":"Signed In","userId":"cus_b"}`)}},
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
