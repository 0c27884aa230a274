package sink

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a record at a sink (lifeline_sink_deliveries_total's
// outcome label). Retried counts requests tried again, not records.
const (
	OutcomeDelivered    = "delivered"
	OutcomeRetried      = "retried"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeFiltered     = "filtered"
)

// Metrics are the sinks' collectors, labelled by sink name, registered
// beside the rest of Lifeline's.
type Metrics struct {
	Deliveries *prometheus.CounterVec   // sink, outcome
	Seconds    *prometheus.HistogramVec // sink: first attempt to 2xx or dead letter
	Lag        *prometheus.GaugeVec     // sink: records behind the partitions' high watermarks
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_sink_deliveries_total",
			Help: "Alert records handled by a sink, by sink and outcome: delivered (2xx), dead_lettered, filtered; retried counts requests tried again."},
			[]string{"sink", "outcome"}),
		Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lifeline_sink_delivery_seconds",
			Help:    "Time from a delivery's first request to its 2xx answer or its dead letter, retries included, by sink.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}},
			[]string{"sink"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_sink_lag",
			Help: "Alert records a sink has yet to deliver or commit on its partitions (high watermark minus next offset), by sink."},
			[]string{"sink"}),
	}
	reg.MustRegister(m.Deliveries, m.Seconds, m.Lag)
	return m
}

// start makes a sink's series exist at zero.
func (m *Metrics) start(sink string) {
	for _, o := range []string{OutcomeDelivered, OutcomeRetried, OutcomeDeadLettered, OutcomeFiltered} {
		m.Deliveries.WithLabelValues(sink, o)
	}
	m.Lag.WithLabelValues(sink)
}
