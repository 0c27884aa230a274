package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// Kafka is the Kafka client's metrics (franz-go's kprom plugin), under
// lifeline_kafka_. Hook it into a client with Hooks; serve it with the
// registry's metrics through a prometheus.Gatherers.
type Kafka struct {
	kp  *kprom.Metrics
	reg *prometheus.Registry
}

// NewKafka creates the client metrics, in a registry of their own.
func NewKafka() *Kafka {
	reg := prometheus.NewRegistry()
	return &Kafka{kp: kprom.NewMetrics("lifeline_kafka", kprom.Registerer(reg), kprom.Gatherer(reg)), reg: reg}
}

// Hooks is the kgo.Hook that records into the metrics.
func (k *Kafka) Hooks() kgo.Hook { return k.kp }

// Gather implements prometheus.Gatherer: kprom's families, named as
// `promtool check metrics` wants them (KafkaName).
func (k *Kafka) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := k.reg.Gather()
	for _, mf := range mfs {
		if n := KafkaName(mf.GetName()); n != mf.GetName() {
			mf.Name = &n
		}
	}
	return mfs, err
}

// KafkaName is the name under which a kprom metric is served: kprom names
// two gauges ..._total, a suffix only counters may have, and they are
// served without it.
func KafkaName(name string) string {
	switch name {
	case "lifeline_kafka_buffered_fetch_records_total":
		return "lifeline_kafka_buffered_fetch_records"
	case "lifeline_kafka_buffered_produce_records_total":
		return "lifeline_kafka_buffered_produce_records"
	}
	return name
}
