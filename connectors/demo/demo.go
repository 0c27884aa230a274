// Package demo runs Lifeline end to end on one machine with nothing set
// up: an embedded Kafka-protocol broker (kfake) on loopback, generated
// customer journeys produced at an accelerated clock, the real Kafka
// runtime consuming them, the HTTP endpoints, and a live summary.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/httpapi"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
)

// Options configure the demo.
type Options struct {
	Customers  int
	Days       int
	Seed       int64
	Speed      float64 // simulated days per wall-clock second
	Partitions int32
	Port       int    // broker port; 0 picks 9092 if free, else any; -1 any
	HTTP       string // HTTP listen address; falls back to a free port if taken
	StateDir   string // empty: a temporary directory, removed at exit
	Pack       *rules.Pack
	Every      time.Duration // summary interval
	Duration   time.Duration // stop after this long (0: until Ctrl-C)
	Out        io.Writer     // the live summary
	Logger     zerolog.Logger
	Version    string
	// OnReady, if set, receives the broker and HTTP addresses once up.
	OnReady func(broker, http string)
	// Reload, if set, runs a hot-reload watcher until ctx ends, handing
	// new packs to set; the demo owns (and waits for) its goroutine.
	Reload func(ctx context.Context, set func(*rules.Pack), m *metrics.Metrics)
}

// Run runs the demo until ctx ends (or Duration passes).
func Run(ctx context.Context, o Options) error {
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	port := o.Port
	switch {
	case port < 0:
		port = 0
	case port == 0:
		port = 9092
		if ln, err := net.Listen("tcp", "127.0.0.1:9092"); err != nil {
			port = 0
		} else {
			ln.Close()
		}
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		return fmt.Errorf("start embedded broker: %w", err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]

	dir := o.StateDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lifeline-demo-")
		if err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	cfg := config.Defaults()
	cfg.Brokers = []string{broker}
	cfg.Group = "lifeline-demo"
	cfg.ClientID = "lifeline-demo-1"
	cfg.StateDir = dir
	cfg.CreateTopics = config.CreateTopics{Enabled: true, Partitions: o.Partitions, Replication: 1}
	cfg.Engine.IdleTimeout = 2 * time.Second
	cfg.Engine.MaxPollRecords = 2000

	gen, err := journey.New(journey.Config{Customers: o.Customers, Days: o.Days, Seed: o.Seed})
	if err != nil {
		return err
	}
	clock := newSimClock(gen.Config().Start, o.Speed)

	eng, err := engine.Open(dir, o.Pack, cfg.Engine.Options())
	if err != nil {
		return err
	}
	defer eng.Close()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, o.Version)
	reg.MustRegister(metrics.NewPebbleCollector(eng.Metrics))
	m.SetPack(o.Pack)
	rt, err := kafka.New(cfg, eng, kafka.Options{Logger: o.Logger, Metrics: m, Clock: clock.Now})
	if err != nil {
		return err
	}
	if err := kafka.EnsureTopics(ctx, rt.Admin(), &cfg); err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if o.Reload != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.Reload(ctx, eng.SetPack, m)
		}()
	}

	// HTTP.
	bound := make(chan string, 1)
	httpErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		h := httpapi.Handler(rt, reg, o.Logger)
		err := httpapi.Serve(ctx, o.HTTP, h, bound)
		if err != nil && !errors.Is(err, context.Canceled) {
			// Taken: any free port will do for a demo.
			err = httpapi.Serve(ctx, "127.0.0.1:0", h, bound)
		}
		httpErr <- err
	}()
	var httpAddr string
	select {
	case httpAddr = <-bound:
	case err := <-httpErr:
		return fmt.Errorf("serve HTTP: %w", err)
	}

	// Producer: the generated journeys, paced by the simulated clock.
	var produced atomic.Int64
	prodDone := make(chan struct{})
	pcl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerLinger(5*time.Millisecond), kgo.DefaultProduceTopic(cfg.Topics.Input))
	if err != nil {
		return fmt.Errorf("demo producer: %w", err)
	}
	defer pcl.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(prodDone)
		produce(ctx, gen, pcl, clock, &produced, o.Logger)
	}()

	// Engine.
	rtErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		rtErr <- rt.Run(ctx)
	}()

	fmt.Fprintf(o.Out, `Lifeline demo
  broker     %s (embedded, Kafka protocol)
  topics     %s (input), %s, %s, %s, %s, %s
  customers  %d over %d simulated days, %.1f simulated days per second
  rules      %s
  HTTP       http://%s/v1/funnel  /v1/kpis  /v1/customers/cus_000001  /metrics  /readyz

Watch the alerts with an external Kafka client:
  kcat -b %s -C -t %s -f '%%k %%s\n'

`, broker, cfg.Topics.Input, cfg.Topics.Alerts, cfg.Topics.Health, cfg.Topics.Stages, cfg.Topics.DeadLetters, cfg.Topics.Changelog,
		o.Customers, o.Days, o.Speed, o.Pack.Version, httpAddr, broker, cfg.Topics.Alerts)
	if o.OnReady != nil {
		o.OnReady(broker, httpAddr)
	}

	every := o.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastEvents int64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			err := <-rtErr
			fmt.Fprintln(o.Out, "demo stopped")
			return err
		case err := <-rtErr:
			cancel()
			return err
		case <-tick.C:
			t := engine.Totals(rt.Metas())
			rate := float64(t.Events-lastEvents) / time.Since(last).Seconds()
			lastEvents, last = t.Events, time.Now()
			printSummary(o.Out, rt, reg, clock, produced.Load(), rate)
		}
	}
}

// simClock runs simulated time from start at speed days per second.
type simClock struct {
	start time.Time
	wall  time.Time
	speed float64
}

func newSimClock(start time.Time, speed float64) *simClock {
	return &simClock{start: start, wall: time.Now(), speed: speed}
}

func (c *simClock) Now() time.Time {
	el := time.Since(c.wall)
	return c.start.Add(time.Duration(float64(el) * c.speed * 86400))
}

func produce(ctx context.Context, gen *journey.Generator, cl *kgo.Client, clock *simClock, n *atomic.Int64, log zerolog.Logger) {
	for {
		rec, ok := gen.Next()
		if !ok {
			_ = cl.Flush(ctx)
			log.Info().Int64("records", n.Load()).Msg("demo journeys all produced; timers go on with the simulated clock")
			return
		}
		for rec.Time.After(clock.Now()) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		r := &kgo.Record{Value: append([]byte(nil), rec.Value...)}
		if rec.Key != "" {
			r.Key = []byte(rec.Key)
		}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil && ctx.Err() == nil {
				log.Warn().Err(err).Msg("demo produce")
			}
		})
		n.Add(1)
	}
}

func printSummary(w io.Writer, rt *kafka.Runtime, reg *prometheus.Registry, clock *simClock, produced int64, rate float64) {
	pack := rt.Pack()
	t := engine.Totals(rt.Metas())
	f := engine.FunnelOf(pack, t)
	k := engine.KPIsOf(t)
	var b strings.Builder
	fmt.Fprintf(&b, "-- %s  produced %d  processed %d (%.0f/s)  customers %d  rules %s  ready: %s\n",
		clock.Now().UTC().Format("2006-01-02"), produced, t.Events, rate, t.Customers, pack.Version, readiness(rt))
	b.WriteString("   funnel ")
	for _, s := range f.Stages {
		fmt.Fprintf(&b, " %s %d", s.Stage, s.Current)
		if s.ConversionFromPrevious != nil {
			fmt.Fprintf(&b, " (%.0f%%)", 100**s.ConversionFromPrevious)
		}
	}
	b.WriteString("\n   alerts  ")
	fired := counterByLabels(reg, "lifeline_alerts_total", "rule", "status")
	var rulesSeen []string
	for _, a := range pack.Alerts {
		rulesSeen = append(rulesSeen, a.Name)
	}
	for _, r := range rulesSeen {
		fmt.Fprintf(&b, " %s %d open/%d fired", r, t.AlertsOpen[r], int64(fired[r+"/firing"]))
	}
	nps := "n/a"
	if k.NPS != nil {
		nps = fmt.Sprintf("%.0f", *k.NPS)
	}
	fmt.Fprintf(&b, "\n   kpis     churn %.1f%%  NPS %s  LTV %.0f  dead letters %d\n",
		100*k.ChurnRate, nps, k.LifetimeValue, int64(sumCounter(reg, "lifeline_dead_letters_total")))
	fmt.Fprint(w, b.String())
}

func readiness(rt *kafka.Runtime) string {
	ok, why := rt.Ready()
	if ok {
		return "yes"
	}
	return why
}

// counterByLabels reads a counter vector from the registry, keyed by its
// label values joined with "/".
func counterByLabels(reg *prometheus.Registry, name string, labels ...string) map[string]float64 {
	out := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			vals := map[string]string{}
			for _, lp := range m.GetLabel() {
				vals[lp.GetName()] = lp.GetValue()
			}
			var key []string
			for _, l := range labels {
				key = append(key, vals[l])
			}
			out[strings.Join(key, "/")] += m.GetCounter().GetValue()
		}
	}
	return out
}

func sumCounter(reg *prometheus.Registry, name string) float64 {
	var s float64
	for _, v := range counterByLabels(reg, name) {
		s += v
	}
	return s
}
