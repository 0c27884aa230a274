package kafka_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/journey"
)

// TestEndToEndJourneys runs generated customer journeys through a runtime
// over Kafka's wire protocol (exactly_once) and checks that the alert,
// stage and health topics hold exactly what the engine gives offline for
// the same records: per customer and kind the same records in the same
// order, none missing, none extra, keyed by customer id.
func TestEndToEndJourneys(t *testing.T) {
	t.Parallel()
	const nparts = 4
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-e2e", "e2e-1", nparts, config.ExactlyOnce)

	// The runtime creates the topics itself (create_topics.enabled).
	in := startInstance(t, cfg)
	waitReady(t, nparts, in)

	recs := journeys(t, journey.Config{Customers: 600, Days: 90, Seed: 7})
	start := time.Now()
	produce(t, newClient(t, addr), cfg.Topics.Input, nparts, recs)
	ends := endOffsets(nparts, recs)
	waitProcessed(t, ends, in)
	t.Logf("%d input records processed in %v", len(recs), time.Since(start).Round(time.Millisecond))
	waitCommitted(t, addr, cfg.Group, cfg.Topics.Input, ends)

	want, _ := replayOffline(t, recs, nparts, cfg.Engine.AllowedLateness)
	all := readAll(t, addr, cfg.Topics.Alerts, cfg.Topics.Stages, cfg.Topics.Health)
	got := outputsOf(t, cfg, all)
	compareOutputs(t, want, got)
	checkRecordMeta(t, all)
	for _, kind := range []string{"alert", "stage", "health"} {
		n := 0
		for k, v := range want {
			if len(k) > len(kind) && k[:len(kind)+1] == kind+" " {
				n += len(v)
			}
		}
		if n == 0 {
			t.Errorf("the workload gives no %s records: the comparison proves little", kind)
		}
		t.Logf("%s records: %d", kind, n)
	}

	// Compaction: latest health and state per customer; the others keep
	// history.
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	adm := kadm.NewClient(newClient(t, addr))
	policies := map[string]string{
		cfg.Topics.Health:    "compact",
		cfg.Topics.Changelog: "compact",
		cfg.Topics.Alerts:    "delete",
		cfg.Topics.Stages:    "delete",
	}
	for topic, want := range policies {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
		}
		got := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" {
				got = c.MaybeValue()
			}
		}
		if got != want {
			t.Errorf("topic %s: cleanup.policy %q, want %q", topic, got, want)
		}
	}
	// The changelog has the input's partition count (state partition N
	// lives in changelog partition N).
	md, err := adm.Metadata(ctx, cfg.Topics.Changelog)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(md.Topics[cfg.Topics.Changelog].Partitions); n != nparts {
		t.Errorf("changelog has %d partitions, want %d", n, nparts)
	}
}

// checkRecordMeta checks what a consumer reads before the value: each
// output record's headers name its kind and schema version (README.md,
// "Output records").
func checkRecordMeta(t *testing.T, recs []outputRecord) {
	t.Helper()
	bad := 0
	for _, r := range recs {
		var v struct {
			Kind          string `json:"kind"`
			SchemaVersion int    `json:"schema_version"`
			At            string `json:"at"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("%s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		_, err := time.Parse(time.RFC3339, v.At)
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if err != nil || h["lifeline.kind"] != v.Kind || h["lifeline.schema_version"] != "1" || v.SchemaVersion != 1 {
			if bad++; bad <= 3 {
				t.Errorf("%s/%d@%d: headers %v, at %q, schema_version %d: want headers lifeline.kind %q and lifeline.schema_version 1",
					r.Topic, r.Partition, r.Offset, h, v.At, v.SchemaVersion, v.Kind)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d output records with the wrong headers", bad, len(recs))
	}
}
