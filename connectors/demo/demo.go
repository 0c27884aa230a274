// Package demo is what `lifeline demo` runs beside an ordinary Lifeline
// so that it needs nothing set up: an embedded Kafka-protocol broker
// (kfake) on loopback with the topics created, generated customer journeys
// produced as an accelerated clock reaches them, and a live summary. The
// Lifeline itself (engine, Kafka runtime, HTTP) is wired as `lifeline run`
// wires it.
package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
)

// StartBroker starts a one-broker kfake cluster on 127.0.0.1 with every
// topic of t created with the given partitions. port 0 takes 9092 if it is
// free, else any free port; -1 any free port. The caller closes the
// cluster.
func StartBroker(port int, partitions int32, t config.Topics) (*kfake.Cluster, string, error) {
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
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port),
		kfake.SeedTopics(partitions, t.Input, t.Alerts, t.Health, t.Stages, t.DeadLetters, t.Changelog))
	if err != nil {
		return nil, "", fmt.Errorf("start embedded broker: %w", err)
	}
	return cluster, cluster.ListenAddrs()[0], nil
}

// Banner is what the demo prints once it is up: where everything is, and
// the command with which an external client watches the alerts.
func Banner(w io.Writer, broker, httpAddr string, t config.Topics, customers, days int, speed float64, rulesVersion string) {
	fmt.Fprintf(w, `Lifeline demo
  broker     %s (embedded, Kafka protocol)
  topics     %s (input), %s, %s, %s, %s, %s
  customers  %d over %d simulated days, %.1f simulated days per second
  rules      %s
  console    http://%s/
  HTTP       http://%s/v1/funnel  /v1/kpis  /v1/alerts  /v1/customers/cus_000001  /metrics  /readyz

Watch the alerts with an external Kafka client:
  kcat -b %s -C -t %s -f '%%k %%s\n'

`, broker, t.Input, t.Alerts, t.Health, t.Stages, t.DeadLetters, t.Changelog,
		customers, days, speed, rulesVersion, httpAddr, httpAddr, broker, t.Alerts)
}

// Clock runs simulated time from start at speed days per second of wall
// time.
type Clock struct {
	start time.Time
	wall  time.Time
	speed float64
}

// NewClock starts a simulated clock at start, now.
func NewClock(start time.Time, speed float64) *Clock {
	return &Clock{start: start, wall: time.Now(), speed: speed}
}

// Now is the simulated time.
func (c *Clock) Now() time.Time {
	el := time.Since(c.wall)
	return c.start.Add(time.Duration(float64(el) * c.speed * 86400))
}

// Produce writes gen's journeys to cl's default topic, each record once
// clock reaches its event time, counting them in n, until the journeys end
// or ctx does.
func Produce(ctx context.Context, gen *journey.Generator, cl *kgo.Client, clock *Clock, n *atomic.Int64, log zerolog.Logger) {
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
		// Stamped with the simulated time, not the wall clock: the record
		// time dates a message that has no timestamp of its own.
		r := &kgo.Record{Value: append([]byte(nil), rec.Value...), Timestamp: rec.Time}
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

// Summary prints one live summary: processing, the funnel, alerts open and
// fired per rule, KPIs; rate is the events processed per second since the
// last one.
func Summary(w io.Writer, rt *kafka.Runtime, reg prometheus.Gatherer, clock *Clock, produced int64, rate float64) {
	pack := rt.Pack()
	t := engine.Totals(rt.Metas())
	f := engine.FunnelOf(pack, t)
	k := engine.KPIsOf(pack, t)
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
func counterByLabels(reg prometheus.Gatherer, name string, labels ...string) map[string]float64 {
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

func sumCounter(reg prometheus.Gatherer, name string) float64 {
	var s float64
	for _, v := range counterByLabels(reg, name) {
		s += v
	}
	return s
}
