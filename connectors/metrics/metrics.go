// Package metrics defines Lifeline's own Prometheus metrics (all prefixed
// lifeline_) and the collectors that read the engine's state at scrape
// time. The runtime records into a *Metrics; nothing here is global: the
// binary creates one registry and passes it down.
package metrics

import (
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// Metrics holds the collectors the runtime updates as it goes.
type Metrics struct {
	EventsConsumed   *prometheus.CounterVec // partition
	EventsProcessed  *prometheus.CounterVec // partition, outcome
	DeadLetters      *prometheus.CounterVec // reason: why the record could not be decoded
	TimeFallbacks    *prometheus.CounterVec // field: what dated an event without its own timestamp
	OffHome          *prometheus.CounterVec // key: customer or other
	Latency          prometheus.Histogram   // event read to outputs committed
	Outputs          *prometheus.CounterVec // kind
	Alerts           *prometheus.CounterVec // rule, status
	Transitions      *prometheus.CounterVec // from, to
	Batches          *prometheus.CounterVec // result: committed, aborted
	BatchSize        prometheus.Histogram   // records per batch
	RestoreRecords   *prometheus.CounterVec // partition
	RestoreRemaining *prometheus.GaugeVec   // partition
	RestoreSeconds   prometheus.Histogram   // per partition restore
	PartitionsOwned  prometheus.Gauge       // assigned partitions
	PartitionsReady  prometheus.Gauge       // restored and processing
	RulesReloads     *prometheus.CounterVec // result: applied, rejected
	RulesInfo        *prometheus.GaugeVec   // version
	IdleAdvances     *prometheus.CounterVec // partition
	WatermarkLag     *prometheus.GaugeVec   // partition
	ConsumerLag      *prometheus.GaugeVec   // partition
	Customers        *prometheus.GaugeVec   // stage (set from partition metas)
	CustomersByBand  *prometheus.GaugeVec   // band
	AlertsOpen       *prometheus.GaugeVec   // rule
	LifetimeValue    prometheus.Gauge       // total revenue
	MoneyNotCounted  *prometheus.GaugeVec   // cause: unconverted, out_of_range, negative_purchase
	RuleEvaluations  *prometheus.CounterVec // cause: event, timer
	BuildInfo        *prometheus.GaugeVec   // version
}

// New creates the metrics and registers them (and Go/process collectors)
// on reg.
func New(reg *prometheus.Registry, version string) *Metrics {
	m := &Metrics{
		EventsConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_events_consumed_total", Help: "Input records read, by partition."}, []string{"partition"}),
		EventsProcessed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_events_processed_total", Help: "Input records processed, by partition and outcome (applied, duplicate, dead_letter, skipped)."}, []string{"partition", "outcome"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_dead_letters_total", Help: "Input records that went to the dead-letter topic, by reason: could not be decoded, or dated too far ahead of the clock (event_time_ahead)."}, []string{"reason"}),
		TimeFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_event_time_fallbacks_total", Help: "Input events dated by a fallback rather than their own timestamp, by field: a Segment message's originalTimestamp, sentAt or receivedAt, or the Kafka record's timestamp (record)."}, []string{"field"}),
		OffHome: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_records_off_home_partition_total", Help: "Input events on a partition other than the one Kafka's default partitioner (murmur2) gives their customer id, by key: customer (keyed by the customer id, by a producer with another partitioner: lookups search for such customers) or other (keyed by something else, such as an anonymousId: one customer's events may be split across partitions, each holding part of its state)."}, []string{"key"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lifeline_processing_latency_seconds", Help: "Time from reading an input record to its outputs being committed.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		Outputs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_outputs_total", Help: "Output records committed, by kind (stage, health, alert)."}, []string{"kind"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_alerts_total", Help: "Alert records committed, by rule and status (firing, resolved)."}, []string{"rule", "status"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_stage_transitions_total", Help: "Stage transitions committed, by from and to stage (from is empty for a new customer)."}, []string{"from", "to"}),
		Batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_batches_total", Help: "Processing batches, by result (committed, aborted)."}, []string{"result"}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lifeline_batch_records", Help: "Input records per batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		RestoreRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_restore_records_total", Help: "Changelog records applied while restoring, by partition."}, []string{"partition"}),
		RestoreRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_restore_remaining_records", Help: "Changelog records left to restore, by partition (0 when ready)."}, []string{"partition"}),
		RestoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lifeline_restore_duration_seconds", Help: "Time to restore one partition from the changelog.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 9)}),
		PartitionsOwned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lifeline_partitions_assigned", Help: "Input partitions assigned to this instance."}),
		PartitionsReady: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lifeline_partitions_ready", Help: "Assigned partitions restored and processing."}),
		RulesReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_rules_reloads_total", Help: "Rule pack reloads, by result (applied, rejected)."}, []string{"result"}),
		RulesInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_rules_info", Help: "The rule pack in force (value 1), by version."}, []string{"version"}),
		IdleAdvances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_idle_advances_total", Help: "Watermark advances by the wall clock on idle, caught-up partitions."}, []string{"partition"}),
		WatermarkLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_watermark_lag_seconds", Help: "Wall clock minus the partition's event-time watermark."}, []string{"partition"}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_consumer_lag_records", Help: "Input records behind the partition's high watermark, as of the last fetch."}, []string{"partition"}),
		Customers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_customers", Help: "Customers per lifecycle stage on this instance's partitions (stage \"\" is none yet)."}, []string{"stage"}),
		CustomersByBand: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_customers_by_health_band", Help: "Scored customers per health band on this instance's partitions."}, []string{"band"}),
		AlertsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_alerts_open", Help: "Alerts firing and not resolved, by rule, on this instance's partitions."}, []string{"rule"}),
		LifetimeValue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lifeline_lifetime_value", Help: "Sum of customers' lifetime value (revenue less refunds) on this instance's partitions, in the rule pack's money.currency."}),
		MoneyNotCounted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_money_not_counted", Help: "Purchases and refunds whose amount lifetime value leaves out, on this instance's partitions, by cause: unconverted (a currency the rule pack has no rate for), out_of_range (beyond 1e12 once converted), negative_purchase."}, []string{"cause"}),
		RuleEvaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_rule_evaluations_total", Help: "Rule-pack evaluations (stage machine, scorecard and alert rules for one customer), by cause (event, timer)."}, []string{"cause"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeline_build_info", Help: "Lifeline build (value 1), by version."}, []string{"version"}),
	}
	reg.MustRegister(m.EventsConsumed, m.EventsProcessed, m.DeadLetters, m.TimeFallbacks, m.OffHome, m.Latency,
		m.Outputs, m.Alerts, m.Transitions, m.Batches, m.BatchSize, m.RestoreRecords, m.RestoreRemaining,
		m.RestoreSeconds, m.PartitionsOwned, m.PartitionsReady, m.RulesReloads, m.RulesInfo, m.IdleAdvances,
		m.WatermarkLag, m.ConsumerLag, m.Customers, m.CustomersByBand, m.AlertsOpen, m.LifetimeValue,
		m.MoneyNotCounted, m.RuleEvaluations, m.BuildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.BuildInfo.WithLabelValues(version).Set(1)
	// Every label value known in advance starts at zero: a series that
	// appears only with its first increment leaves dashboard panels empty
	// and hides that first increment from increase() and rate() (an alert
	// on the first rejected rule pack would never fire).
	for _, r := range decode.Reasons() {
		m.DeadLetters.WithLabelValues(string(r))
	}
	m.DeadLetters.WithLabelValues(engine.ReasonEventAhead)
	for _, f := range decode.TimeFallbacks() {
		m.TimeFallbacks.WithLabelValues(f)
	}
	for _, k := range []string{"stage", "health", "alert"} {
		m.Outputs.WithLabelValues(k)
	}
	m.OffHome.WithLabelValues(KeyCustomer)
	m.OffHome.WithLabelValues(KeyOther)
	for _, r := range []string{"committed", "aborted"} {
		m.Batches.WithLabelValues(r)
	}
	for _, r := range []string{"applied", "rejected"} {
		m.RulesReloads.WithLabelValues(r)
	}
	for _, c := range []string{CauseEvent, CauseTimer} {
		m.RuleEvaluations.WithLabelValues(c)
	}
	return m
}

// The causes of a rule evaluation (RuleEvaluations' label).
const (
	CauseEvent = "event"
	CauseTimer = "timer"
)

// The key label values of OffHome (lifeline_records_off_home_partition_total).
const (
	KeyCustomer = "customer"
	KeyOther    = "other"
)

// Outcomes of an input record (EventsProcessed's label).
const (
	OutcomeApplied    = "applied"
	OutcomeDuplicate  = "duplicate"
	OutcomeDeadLetter = "dead_letter"
	OutcomeSkipped    = "skipped"
)

// SetPack records the rule pack in force (RulesInfo) and starts the series
// of its alert rules and transitions at zero.
func (m *Metrics) SetPack(p *rules.Pack) {
	m.RulesInfo.Reset()
	m.RulesInfo.WithLabelValues(p.Version).Set(1)
	for _, a := range p.Alerts {
		m.Alerts.WithLabelValues(a.Name, "firing")
		m.Alerts.WithLabelValues(a.Name, "resolved")
	}
	for _, t := range p.Transitions {
		for _, from := range t.From {
			m.Transitions.WithLabelValues(from, t.To)
		}
	}
}

// AddPartition starts a newly assigned partition's counters at zero.
func (m *Metrics) AddPartition(label string) {
	for _, c := range m.partitionCounters(label) {
		c.vec.WithLabelValues(c.labels...)
	}
}

// RemovePartition drops the series of a partition this instance no longer
// holds: its new owner exports them, and an instance that saw many
// rebalances would otherwise keep a set per partition it ever held.
func (m *Metrics) RemovePartition(label string) {
	for _, c := range m.partitionCounters(label) {
		c.vec.DeleteLabelValues(c.labels...)
	}
	m.ConsumerLag.DeleteLabelValues(label)
	m.WatermarkLag.DeleteLabelValues(label)
	m.RestoreRemaining.DeleteLabelValues(label)
}

type series struct {
	vec    *prometheus.CounterVec
	labels []string
}

// partitionCounters are the counter series of one partition.
func (m *Metrics) partitionCounters(label string) []series {
	s := []series{{m.EventsConsumed, []string{label}}, {m.RestoreRecords, []string{label}}, {m.IdleAdvances, []string{label}}}
	for _, o := range []string{OutcomeApplied, OutcomeDuplicate, OutcomeDeadLetter, OutcomeSkipped} {
		s = append(s, series{m.EventsProcessed, []string{label, o}})
	}
	return s
}

// WatermarkLag is the lifeline_watermark_lag_seconds of a watermark (Unix
// ms) at the wall-clock time now, computed in milliseconds: time.Time.Sub
// saturates at ±292 years (-9.2e9 s for a watermark in 9999), and a
// watermark cannot be that far ahead since engine.max_event_ahead bounds
// event times. A watermark ahead of the clock reads negative.
func WatermarkLag(now time.Time, watermark int64) float64 {
	return float64(now.UnixMilli()-watermark) / 1000
}

// Partition formats a partition number as a label value.
func Partition(p int32) string { return strconv.Itoa(int(p)) }

// PebbleCollector exports a Pebble store's metrics at scrape time.
type PebbleCollector struct {
	metrics func() *pebble.Metrics
	descs   map[string]*prometheus.Desc
}

// NewPebbleCollector reads metrics from fn at each scrape.
func NewPebbleCollector(fn func() *pebble.Metrics) *PebbleCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("lifeline_pebble_"+name, help, labels, nil)
	}
	return &PebbleCollector{metrics: fn, descs: map[string]*prometheus.Desc{
		"disk":       d("disk_usage_bytes", "Bytes the state store occupies on disk."),
		"l0":         d("l0_sublevels", "L0 sublevels (read amplification from level 0)."),
		"ramp":       d("read_amplification", "Read amplification of the LSM."),
		"compact":    d("compactions_total", "Compactions completed."),
		"compdebt":   d("compaction_debt_bytes", "Estimated bytes to compact for the LSM to reach a stable state."),
		"memtable":   d("memtable_bytes", "Bytes in memtables."),
		"cachesize":  d("block_cache_bytes", "Bytes in the block cache."),
		"cachehits":  d("block_cache_hits_total", "Block cache hits."),
		"cachemiss":  d("block_cache_misses_total", "Block cache misses."),
		"walbytes":   d("wal_bytes_written_total", "Bytes written to the WAL."),
		"levelbytes": d("level_bytes", "Bytes in each LSM level.", "level"),
	}}
}

// Describe implements prometheus.Collector.
func (c *PebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PebbleCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.metrics()
	if m == nil {
		return
	}
	g := func(k string, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.GaugeValue, v, lv...)
	}
	cnt := func(k string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.CounterValue, v)
	}
	g("disk", float64(m.DiskSpaceUsage()))
	g("l0", float64(m.Levels[0].Sublevels))
	g("ramp", float64(m.ReadAmp()))
	cnt("compact", float64(m.Compact.Count))
	g("compdebt", float64(m.Compact.EstimatedDebt))
	g("memtable", float64(m.MemTable.Size))
	g("cachesize", float64(m.BlockCache.Size))
	cnt("cachehits", float64(m.BlockCache.Hits))
	cnt("cachemiss", float64(m.BlockCache.Misses))
	cnt("walbytes", float64(m.WAL.BytesWritten))
	for i := range m.Levels {
		g("levelbytes", float64(m.Levels[i].TablesSize), strconv.Itoa(i))
	}
}
