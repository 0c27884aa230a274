package kafka_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// TestIdlePartitionTimers: a partition that receives nothing more has its
// watermark follow the runtime's clock once idle (and caught up), so that
// timers fire without further events: a customer who signed up and went
// quiet gets abandoned-signup 30 days later, once, with exactly the
// records the engine gives for the same event and clock offline.
func TestIdlePartitionTimers(t *testing.T) {
	t.Parallel()
	const nparts = 1
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-idle", "idle-1", nparts, config.ExactlyOnce)
	cfg.Engine.IdleTimeout = config.Duration(300 * time.Millisecond)

	signup := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	var now atomic.Int64
	// Before the event: an idle advance ahead of it changes nothing.
	now.Store(signup.Add(-time.Hour).UnixMilli())
	in := startInstanceClock(t, cfg, func() time.Time { return time.UnixMilli(now.Load()) })
	waitReady(t, nparts, in)

	recs := []inputRecord{{Key: "cus_quiet", Value: []byte(`{"type":"track","event":"Signed Up","userId":"cus_quiet","messageId":"m1","timestamp":"2026-01-01T10:00:00Z"}`)}}
	produce(t, newClient(t, addr), cfg.Topics.Input, nparts, recs)
	waitProcessed(t, endOffsets(nparts, recs), in)

	// 35 days pass on the runtime's clock, and no event comes.
	later := signup.Add(35 * 24 * time.Hour)
	now.Store(later.UnixMilli())
	waitFor(t, waitShort, "the idle partition's watermark to follow the clock", func() (bool, string) {
		m := in.rt.Metas()[0]
		return m.Watermark == later.UnixMilli(), time.UnixMilli(m.Watermark).UTC().String()
	})
	if n := counter(t, in.reg, "lifeline_idle_advances_total", nil); n < 1 {
		t.Errorf("lifeline_idle_advances_total = %v", n)
	}

	// Offline: the same event, then the watermark raised to the same time.
	eng, err := engine.Open(t.TempDir(), rules.Default(), engine.Options{AllowedLateness: engine.Lateness(cfg.Engine.AllowedLateness.Std())})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	part, err := eng.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Release(part)
	d := engine.NewDriver(part)
	if err := d.Process(&inputSource{dec: decode.New(decode.Options{}), recs: recs[:1]}); err != nil {
		t.Fatal(err)
	}
	if err := d.Advance(later.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	out := d.Outputs()
	want := outputs{}
	for _, o := range out.Records {
		k := outKey(o.Kind.String(), o.Key)
		want[k] = append(want[k], string(o.Value))
	}
	got := outputsOf(t, cfg, readAll(t, addr, cfg.Topics.Alerts, cfg.Topics.Stages, cfg.Topics.Health))
	compareOutputs(t, want, got)
	if a := got[outKey("alert", "cus_quiet")]; len(a) != 1 || !strings.Contains(a[0], `"rule":"abandoned-signup"`) || !strings.Contains(a[0], `"at":"2026-01-31T10:00:00.000Z"`) {
		t.Errorf("alerts of cus_quiet: %q; want abandoned-signup firing once, dated 30 days after the sign-up", a)
	}
}
