package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the listener's own collectors, registered beside the rest of
// Lifeline's (all prefixed lifeline_ingest_).
type Metrics struct {
	Requests        *prometheus.CounterVec // path, code
	Records         *prometheus.CounterVec // path: acknowledged by the broker
	ReceivedBytes   *prometheus.CounterVec // path: request bodies read
	ProduceDuration prometheus.Histogram   // first record handed to the producer to the last acknowledged
	BufferedBytes   prometheus.Gauge       // record bytes waiting for the broker
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_ingest_requests_total", Help: "HTTP ingest requests, by path and status code."}, []string{"path", "code"}),
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_ingest_records_total", Help: "Records produced to the input topic and acknowledged by the broker, by ingest path."}, []string{"path"}),
		ReceivedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_ingest_received_bytes_total", Help: "Request body bytes read by the ingest listener, by path."}, []string{"path"}),
		ProduceDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lifeline_ingest_produce_duration_seconds", Help: "Time from handing a request's records to the producer to the broker's acknowledgement of the last one.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		BufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lifeline_ingest_buffered_bytes", Help: "Record bytes handed to the producer and not yet acknowledged (bounded by ingest.http.max_buffered_bytes)."}),
	}
	reg.MustRegister(m.Requests, m.Records, m.ReceivedBytes, m.ProduceDuration, m.BufferedBytes)
	return m
}
