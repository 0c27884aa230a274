package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/lifeline-hq/lifeline/config"
)

// ClientOpts returns the franz-go options every Lifeline client shares:
// brokers, client id, TLS and SASL.
func ClientOpts(cfg *config.Config) ([]kgo.Opt, error) {
	// Metadata may be refreshed every second (franz-go's default is 5 s):
	// restores look up partitions of topics created moments before.
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.MetadataMinAge(time.Second)}
	if cfg.ClientID != "" {
		opts = append(opts, kgo.ClientID(cfg.ClientID))
	}
	if cfg.TLS.Enabled {
		tc, err := tlsConfig(&cfg.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.Dialer((&tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: tc}).DialContext))
	}
	switch strings.ToUpper(cfg.SASL.Mechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: cfg.SASL.Username, Pass: cfg.SASL.Password}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASL.Username, Pass: cfg.SASL.Password}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASL.Username, Pass: cfg.SASL.Password}.AsSha512Mechanism()))
	}
	return opts, nil
}

func tlsConfig(c *config.TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // operator's choice, off by default
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// EnsureTopics creates the topics that are missing (when
// create_topics.enabled) and checks that the changelog has as many
// partitions as the input: state partition N lives in changelog
// partition N.
func EnsureTopics(ctx context.Context, adm *kadm.Client, cfg *config.Config) error {
	t := cfg.Topics
	// Partition counts come from the creation answers when a topic is
	// created: franz-go caches metadata for a few seconds, so a lookup
	// right after creating could still say "unknown topic".
	in, err := ensureTopic(ctx, adm, cfg, t.Input, cfg.CreateTopics.Partitions, nil)
	if err != nil {
		return err
	}
	if in == 0 {
		return fmt.Errorf("input topic %s does not exist (create it, or set create_topics.enabled: true)", t.Input)
	}
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	cl, err := ensureTopic(ctx, adm, cfg, t.Changelog, in, compact)
	if err != nil {
		return err
	}
	switch {
	case cl == 0:
		return fmt.Errorf("changelog topic %s does not exist (create it compacted with %d partitions, or set create_topics.enabled: true)", t.Changelog, in)
	case cl != in:
		return fmt.Errorf("changelog topic %s has %d partitions but input topic %s has %d: they must match (recreate the changelog with %d partitions)", t.Changelog, cl, t.Input, in, in)
	}
	for _, o := range []struct {
		name    string
		configs map[string]*string
	}{{t.Alerts, nil}, {t.Stages, nil}, {t.Health, compact}, {t.DeadLetters, nil}} {
		n, err := ensureTopic(ctx, adm, cfg, o.name, cfg.CreateTopics.Partitions, o.configs)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("output topic %s does not exist (create it, or set create_topics.enabled: true)", o.name)
		}
	}
	return nil
}

// ensureTopic returns the topic's partition count, creating it first
// (when allowed) if it is missing; 0 means missing.
func ensureTopic(ctx context.Context, adm *kadm.Client, cfg *config.Config, name string, parts int32, configs map[string]*string) (int32, error) {
	n, err := partitionCount(ctx, adm, name)
	if err != nil || n > 0 || !cfg.CreateTopics.Enabled {
		return n, err
	}
	resp, err := adm.CreateTopic(ctx, parts, cfg.CreateTopics.Replication, configs, name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		// Created meanwhile by another instance.
		return parts, nil
	case err != nil:
		return 0, fmt.Errorf("create topic %s (%d partitions, replication %d): %w", name, parts, cfg.CreateTopics.Replication, err)
	}
	return resp.NumPartitions, nil
}

func partitionCount(ctx context.Context, adm *kadm.Client, topic string) (int32, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	td, ok := md.Topics[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return 0, nil
	}
	if td.Err != nil {
		return 0, fmt.Errorf("describe topic %s: %w", topic, td.Err)
	}
	return int32(len(td.Partitions)), nil
}

// routingPartitioner sends changelog records to the partition they name
// and every other record by the hash of its key, the way Kafka's default
// partitioner does, so customers' outputs keep their order.
type routingPartitioner struct {
	manual    string
	byManual  kgo.Partitioner
	byKeyHash kgo.Partitioner
}

func newPartitioner(changelog string) kgo.Partitioner {
	return &routingPartitioner{manual: changelog, byManual: kgo.ManualPartitioner(), byKeyHash: kgo.StickyKeyPartitioner(nil)}
}

func (p *routingPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if topic == p.manual {
		return p.byManual.ForTopic(topic)
	}
	return p.byKeyHash.ForTopic(topic)
}

// PartitionFor returns the partition Kafka's default partitioner gives key
// among n partitions: where a customer's events, and state, are. It is
// Kafka's murmur2 with the sign bit masked, as in the Java client and
// franz-go's StickyKeyPartitioner (whose ForTopic seeds a random source on
// every call: too slow per lookup).
func PartitionFor(key string, n int32) int32 {
	return int32(murmur2(key)&0x7fffffff) % n
}

// murmur2 is Kafka's murmur2 hash (seed 0x9747b28c).
func murmur2(b string) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[3])<<24 | uint32(b[2])<<16 | uint32(b[1])<<8 | uint32(b[0])
		b = b[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
