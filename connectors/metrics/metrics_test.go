package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// TestLint runs promlint, the library behind `promtool check metrics`, on
// every Lifeline metric with each of its known series (cmd/lifeline's demo
// test lints what /metrics serves, the Kafka client's metrics included).
func TestLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	m.SetPack(rules.Default())
	m.AddPartition("0")
	reg.MustRegister(metrics.NewPebbleCollector(func() *pebble.Metrics { return &pebble.Metrics{} }))
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestKnownSeriesStartAtZero: every label value known in advance is
// exported before anything happens, so that increase() sees the first
// increment (an alert on the first rejected rule pack fires) and panels
// show 0 rather than no data.
func TestKnownSeriesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	m.SetPack(rules.Default())
	m.AddPartition("3")
	for _, tc := range []struct {
		name   string
		labels string
	}{
		{"lifeline_rules_reloads_total", `result="rejected"`},
		{"lifeline_batches_total", `result="aborted"`},
		{"lifeline_dead_letters_total", `reason="malformed_json"`},
		{"lifeline_event_time_fallbacks_total", `field="record"`},
		{"lifeline_event_time_fallbacks_total", `field="receivedAt"`},
		{"lifeline_records_off_home_partition_total", `key="other"`},
		{"lifeline_outputs_total", `kind="alert"`},
		{"lifeline_rule_evaluations_total", `cause="timer"`},
		{"lifeline_alerts_total", `rule="detractor",status="firing"`},
		{"lifeline_stage_transitions_total", `from="retention",to="churned"`},
		{"lifeline_events_processed_total", `outcome="dead_letter",partition="3"`},
	} {
		n, err := testutil.GatherAndCount(reg, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("%s has no series before first use", tc.name)
			continue
		}
		mfs, _ := reg.Gather()
		found := false
		for _, mf := range mfs {
			if mf.GetName() != tc.name {
				continue
			}
			for _, s := range mf.GetMetric() {
				var pairs []string
				for _, l := range s.GetLabel() {
					pairs = append(pairs, l.GetName()+`="`+l.GetValue()+`"`)
				}
				if strings.Join(pairs, ",") == tc.labels && s.GetCounter().GetValue() == 0 {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s{%s} is not exported at 0", tc.name, tc.labels)
		}
	}
}

// TestWatermarkLag: the lag is exact in milliseconds whichever side of the
// clock the watermark is, without time.Time.Sub's saturation at ±292
// years (which read -9.2e9 s for a watermark in 9999); and a fresh
// registry exports the event_time_ahead dead-letter series at zero.
func TestWatermarkLag(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		wm   time.Time
		want float64
	}{
		{now.Add(-90 * time.Second), 90},
		{now.Add(1500 * time.Millisecond), -1.5},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), -float64(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli()-now.UnixMilli()) / 1000},
	} {
		if got := metrics.WatermarkLag(now, tc.wm.UnixMilli()); got != tc.want {
			t.Errorf("WatermarkLag(%s) = %v, want %v", tc.wm, got, tc.want)
		}
	}
	reg := prometheus.NewRegistry()
	metrics.New(reg, "test")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == "lifeline_dead_letters_total" && l.GetValue() == engine.ReasonEventAhead {
					found = true
				}
			}
		}
	}
	if !found {
		t.Error("lifeline_dead_letters_total{reason=event_time_ahead} is not exported at zero")
	}
}
