// Package config is lifeline.yaml, the configuration file of `lifeline run`,
// in one place: its types with their defaults, the LIFELINE_* environment
// overrides, and the validation that names the key and the fix. README.md
// ("Configuration") documents every key. The packages that act on it read
// their parts: the Kafka runtime its brokers, topics and security, the engine
// its tuning (EngineSettings.Options).
package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
)

// Config is the lifeline.yaml of `lifeline run`. Every key is documented
// with its default in README.md ("Configuration"); Defaults returns them.
// Unknown keys are errors; LIFELINE_* environment variables override keys
// (see ApplyEnv).
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group id; also the prefix of the
	// transactional id.
	Group string `yaml:"group"`
	// ClientID names this instance to the brokers (default: the host name).
	ClientID string `yaml:"client_id"`
	Topics   Topics `yaml:"topics"`
	// CreateTopics creates missing topics at start.
	CreateTopics CreateTopics `yaml:"create_topics"`
	// Guarantee is exactly_once (Kafka transactions) or at_least_once.
	Guarantee string `yaml:"guarantee"`
	// StateDir holds the Pebble store.
	StateDir string `yaml:"state_dir"`
	// Rules is the rule pack file; empty for the embedded default pack.
	Rules string `yaml:"rules"`
	// HTTP is the listen address of /metrics, /healthz, /readyz and the API.
	HTTP string `yaml:"http"`
	// API is how GET /v1/customers/{id} asks the other instances.
	API    API            `yaml:"api"`
	TLS    TLS            `yaml:"tls"`
	SASL   SASL           `yaml:"sasl"`
	Engine EngineSettings `yaml:"engine"`
	Log    Log            `yaml:"log"`
	// CustomerField is the CloudEvents data field that holds the customer
	// id when subject is empty.
	CustomerField string `yaml:"customer_field"`
	// Ingest is the HTTP ingest listener (off unless ingest.http.addr is
	// set): webhooks and Segment's HTTP API, produced to topics.input.
	Ingest Ingest `yaml:"ingest"`
	// Input bounds what one input record may cost and says where each
	// source keeps the customer id (the input: section).
	Input Input `yaml:"input"`
	// Sinks deliver alerts to people (webhooks, Slack); see sinks.go and
	// README.md, "Delivering alerts". Empty (the default): none.
	Sinks []Sink `yaml:"sinks"`
}

// Input configures the decoding of input records (the input: section).
type Input struct {
	// MaxBytes is the longest record value decoded, in bytes; a longer one
	// is dead-lettered (too_large). Default 1 MiB.
	MaxBytes int `yaml:"max_bytes"`
	// MaxValues is the most JSON values (array elements and object
	// members) one record may hold; more is dead-lettered (too_complex).
	// Default 10,000.
	MaxValues int `yaml:"max_values"`
	// CustomerPaths: per source, the dotted paths tried in order for the
	// customer id (decode.DefaultCustomerPaths when empty).
	CustomerPaths CustomerPaths `yaml:"customer_paths"`
}

// CustomerPaths lists, per source, where its records keep the customer id.
type CustomerPaths struct {
	Stripe    []string `yaml:"stripe"`
	Zendesk   []string `yaml:"zendesk"`
	Intercom  []string `yaml:"intercom"`
	Delighted []string `yaml:"delighted"`
	Typeform  []string `yaml:"typeform"`
	Snowplow  []string `yaml:"snowplow"`
}

// maxInputBytes bounds input.max_bytes: Kafka's own record limit is about
// 1 MB by default, and a decoder keeps a parser grown to the largest record.
const maxInputBytes = 64 << 20

// DecodeOptions returns the options of the input decoder: customer_field
// and the input: section.
func (c *Config) DecodeOptions() decode.Options {
	p := &c.Input.CustomerPaths
	paths := map[string][]string{}
	for src, list := range map[string][]string{
		decode.SourceStripe: p.Stripe, decode.SourceZendesk: p.Zendesk, decode.SourceIntercom: p.Intercom,
		decode.SourceDelighted: p.Delighted, decode.SourceTypeform: p.Typeform, decode.SourceSnowplow: p.Snowplow,
	} {
		if len(list) > 0 {
			paths[src] = list
		}
	}
	return decode.Options{CustomerField: c.CustomerField, MaxBytes: c.Input.MaxBytes, MaxValues: c.Input.MaxValues, CustomerPaths: paths}
}

// validateInput checks the input: section.
func (c *Config) validateInput(bad func(format string, args ...any)) {
	if c.Input.MaxBytes <= 0 || c.Input.MaxBytes > maxInputBytes {
		bad("input.max_bytes: %d (expected 1 to %d bytes; %d, 1 MiB, is the default)", c.Input.MaxBytes, maxInputBytes, decode.DefaultMaxBytes)
	}
	if c.Input.MaxValues <= 0 {
		bad("input.max_values: %d (expected a positive number of JSON values; %d is the default)", c.Input.MaxValues, decode.DefaultMaxValues)
	}
	p := &c.Input.CustomerPaths
	for _, s := range []struct {
		key  string
		list []string
	}{{"stripe", p.Stripe}, {"zendesk", p.Zendesk}, {"intercom", p.Intercom},
		{"delighted", p.Delighted}, {"typeform", p.Typeform}, {"snowplow", p.Snowplow}} {
		for _, path := range s.list {
			if err := (decode.Options{CustomerPaths: map[string][]string{s.key: {path}}}).Validate(); err != nil {
				bad("input.customer_paths.%s: %q has an empty key in its dotted path (write e.g. data.object.metadata.user_id)", s.key, path)
			}
		}
	}
}

// Ingest configures HTTP ingest (the ingest: section); see README.md,
// "HTTP ingest".
type Ingest struct {
	HTTP IngestHTTP `yaml:"http"`
}

// IngestHTTP is the ingest listener: its address, bounds, and the
// credential of each path. A path whose credential is empty answers 404.
type IngestHTTP struct {
	// Addr is the listen address, host:port; empty (the default): off.
	Addr string `yaml:"addr"`
	// WriteKeys turn on Segment's HTTP Tracking API paths (/v1/track,
	// /v1/batch, ...): a caller authenticates with HTTP Basic, one of
	// these as the user name, as with Segment.
	WriteKeys []string `yaml:"write_keys"`
	// MaxBodyBytes bounds a webhook body (default 1 MiB); Segment's paths
	// keep Segment's own limits (32 KB a message, 500 KB a batch).
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// ReadTimeout bounds reading a request, WriteTimeout handling it
	// (which includes waiting for the broker's acknowledgement, at most
	// ProduceTimeout).
	ReadTimeout    Duration `yaml:"read_timeout"`
	WriteTimeout   Duration `yaml:"write_timeout"`
	ProduceTimeout Duration `yaml:"produce_timeout"`
	// MaxBufferedBytes bounds the record bytes waiting for the broker;
	// beyond it requests get 503 with Retry-After.
	MaxBufferedBytes int            `yaml:"max_buffered_bytes"`
	Webhooks         IngestWebhooks `yaml:"webhooks"`
}

// IngestWebhooks holds each webhook source's secret; empty: its path is
// off.
type IngestWebhooks struct {
	Stripe      IngestStripe `yaml:"stripe"`
	Zendesk     IngestSecret `yaml:"zendesk"`
	Intercom    IngestSecret `yaml:"intercom"`
	Delighted   IngestSecret `yaml:"delighted"`
	Typeform    IngestSecret `yaml:"typeform"`
	CloudEvents IngestSecret `yaml:"cloudevents"`
}

// IngestSecret is a webhook's signing secret (CloudEvents: the bearer
// token callers send).
type IngestSecret struct {
	Secret string `yaml:"secret"`
}

// IngestStripe is Stripe's endpoint signing secret (whsec_...) and how old
// a signature's timestamp may be.
type IngestStripe struct {
	Secret    string   `yaml:"secret"`
	Tolerance Duration `yaml:"tolerance"`
}

// Topics names the topics.
type Topics struct {
	Input       string `yaml:"input"`
	Alerts      string `yaml:"alerts"`
	Health      string `yaml:"health"`
	Stages      string `yaml:"stages"`
	DeadLetters string `yaml:"dead_letters"`
	Changelog   string `yaml:"changelog"`
}

// API configures how a customer lookup (GET /v1/customers/{id}) asks the
// other instances for the customers of partitions this one does not hold.
type API struct {
	// Peers are the other instances' HTTP base URLs
	// (http://lifeline-1.lifeline:8080), or DNS names resolved to all
	// their addresses at each lookup (dns+http://lifeline-headless:8080,
	// a headless Service). Empty: this instance answers from its own
	// partitions only.
	Peers []string `yaml:"peers"`
	// PeerTimeout bounds asking the peers, DNS included (default 2s); the
	// request's own deadline bounds it too.
	PeerTimeout Duration `yaml:"peer_timeout"`
	// MaxPeers bounds how many peers one lookup asks (default 32): a DNS
	// name listing more is asked for the first MaxPeers addresses.
	MaxPeers int `yaml:"max_peers"`
}

// CreateTopics configures topic creation at start.
type CreateTopics struct {
	Enabled     bool  `yaml:"enabled"`
	Partitions  int32 `yaml:"partitions"`
	Replication int16 `yaml:"replication"`
}

// TLS configures encryption to the brokers.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures authentication.
type SASL struct {
	// Mechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// EngineSettings tune processing (the engine: section).
type EngineSettings struct {
	// AllowedLateness: the watermark trails the newest event time by this.
	AllowedLateness Duration `yaml:"allowed_lateness"`
	// IdleTimeout: a caught-up partition that received nothing for this
	// long has its watermark follow the wall clock, so timers still fire.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxEventAhead: an event whose time is more than this ahead of the
	// instance's wall clock is not applied but dead-lettered (reason
	// event_time_ahead): one record dated years ahead would otherwise
	// fire every timer of its partition and hold its watermark there.
	// Default 24h, well past device clock skew and time zones written as
	// UTC; 0: no bound.
	MaxEventAhead Duration `yaml:"max_event_ahead"`
	// CacheStates is the number of customer states cached per partition.
	CacheStates int `yaml:"cache_states"`
	// BlockCacheMB is the state store's block cache, in MiB, for the
	// whole instance.
	BlockCacheMB int `yaml:"block_cache_mb"`
	// CheckpointInterval and CheckpointEvents: a partition writes its
	// committed states to the local store once this much time has passed,
	// or this many events have been applied, since its last checkpoint (a
	// partition without input: once the interval has passed), and when it
	// is handed to another instance. The changelog carries every batch, so
	// a restart restores what the store lacks; a customer changed in
	// several batches in between is written once. 0 for both: every batch.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	CheckpointEvents   int      `yaml:"checkpoint_events"`
	// MaxPollRecords bounds one batch (one transaction).
	MaxPollRecords int `yaml:"max_poll_records"`
	// TransactionTimeout is the Kafka transaction timeout.
	TransactionTimeout Duration `yaml:"transaction_timeout"`
	// SessionTimeout: the group takes an instance that has not
	// heartbeated for this long (killed, cut off) for dead and gives its
	// partitions to the others. Heartbeats go every tenth of it (3s at
	// most). The brokers bound it (group.min/max.session.timeout.ms).
	SessionTimeout Duration `yaml:"session_timeout"`
	// DedupeIDs is the dedupe horizon: how many of its latest event ids
	// each customer remembers. A redelivery with at most DedupeIDs-1 of
	// the customer's other events since the original is dropped for sure;
	// after DedupeIDs or more it is applied again. 8 bytes per id per
	// customer (store, changelog, cache). Default 8.
	DedupeIDs int `yaml:"dedupe_ids"`
	// TimelineRecords is how many of its last output records each
	// customer's timeline keeps (GET /v1/customers/{id}/timeline), in the
	// store beside its state; 0, the default, keeps none. Each checkpoint
	// reads the record count of every customer with new records and
	// writes the records: in the engine's benchmark, 15-25% more CPU per
	// event.
	TimelineRecords int `yaml:"timeline_records"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json, console, or auto (console on a terminal).
	Format string `yaml:"format"`
}

// Guarantees.
const (
	ExactlyOnce = "exactly_once"
	AtLeastOnce = "at_least_once"
)

// Defaults returns the configuration with every default filled in.
func Defaults() Config {
	host, _ := os.Hostname()
	return Config{
		Brokers:  []string{"localhost:9092"},
		Group:    "lifeline",
		ClientID: host,
		Topics: Topics{
			Input:       "customer-events",
			Alerts:      "lifeline.alerts",
			Health:      "lifeline.health",
			Stages:      "lifeline.stages",
			DeadLetters: "lifeline.dead-letters",
			Changelog:   "lifeline.changelog",
		},
		CreateTopics: CreateTopics{Partitions: 12, Replication: 3},
		Guarantee:    ExactlyOnce,
		StateDir:     "/var/lib/lifeline",
		HTTP:         "127.0.0.1:8080",
		API:          API{Peers: []string{}, PeerTimeout: Duration(2 * time.Second), MaxPeers: 32},
		Engine: EngineSettings{
			AllowedLateness:    Duration(10 * time.Minute),
			IdleTimeout:        Duration(time.Minute),
			MaxEventAhead:      Duration(24 * time.Hour),
			CacheStates:        50_000,
			BlockCacheMB:       256,
			CheckpointInterval: Duration(time.Second),
			CheckpointEvents:   20_000,
			MaxPollRecords:     5_000,
			TransactionTimeout: Duration(time.Minute),
			SessionTimeout:     Duration(45 * time.Second),
			DedupeIDs:          engine.DefaultDedupeIDs,
		},
		Log:           Log{Level: "info", Format: "auto"},
		CustomerField: "customer_id",
		Ingest: Ingest{HTTP: IngestHTTP{
			MaxBodyBytes:     1 << 20,
			ReadTimeout:      Duration(10 * time.Second),
			WriteTimeout:     Duration(30 * time.Second),
			ProduceTimeout:   Duration(10 * time.Second),
			MaxBufferedBytes: 64 << 20,
			Webhooks:         IngestWebhooks{Stripe: IngestStripe{Tolerance: Duration(5 * time.Minute)}},
		}},
		Sinks: []Sink{},
		Input: Input{
			MaxBytes:  decode.DefaultMaxBytes,
			MaxValues: decode.DefaultMaxValues,
			CustomerPaths: CustomerPaths{
				Stripe:    decode.DefaultCustomerPaths(decode.SourceStripe),
				Zendesk:   decode.DefaultCustomerPaths(decode.SourceZendesk),
				Intercom:  decode.DefaultCustomerPaths(decode.SourceIntercom),
				Delighted: decode.DefaultCustomerPaths(decode.SourceDelighted),
				Typeform:  decode.DefaultCustomerPaths(decode.SourceTypeform),
				Snowplow:  decode.DefaultCustomerPaths(decode.SourceSnowplow),
			},
		},
	}
}

// Read reads a config file (none when path is empty) over the defaults,
// then applies the environment's LIFELINE_* overrides. It does not
// validate: a caller applies its flag overrides, then calls Validate.
func Read(path string, environ []string) (Config, error) {
	cfg := Defaults()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			msgs := []string{msg}
			var te *yaml.TypeError
			if errors.As(err, &te) {
				msgs = te.Errors
			}
			// Reword each message with its key, and without the value
			// (see yamlerr.go): the node tree says which key is where.
			var root yaml.Node
			if yaml.Unmarshal(data, &root) == nil {
				used := map[*yaml.Node]bool{}
				for i, m := range msgs {
					msgs[i] = plainDecodeError(&root, m, used)
				}
			}
			msg = strings.Join(msgs, "; ")
			msg = unknownField.ReplaceAllString(msg, "unknown key $1 (see README.md, Configuration, for the keys)")
			return cfg, fmt.Errorf("config %s: %s", path, msg)
		}
		// A second document would be ignored silently: refuse it, unless
		// it is empty (a file ending in ---, as templates write them).
		for {
			var extra yaml.Node
			err := dec.Decode(&extra)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return cfg, fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
			}
			if len(extra.Content) > 0 && extra.Content[0].Tag != "!!null" {
				return cfg, fmt.Errorf("config %s:%d: a second YAML document (after ---); the config is one document", path, extra.Line)
			}
		}
	}
	if err := ApplyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	if err := resolveSinkSecrets(&cfg, environ); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// serviceLink matches the variables Kubernetes injects for a Service
// named lifeline (LIFELINE_SERVICE_HOST, LIFELINE_PORT_8080_TCP, ...):
// not configuration, and not to be rejected as unknown keys.
var serviceLink = regexp.MustCompile(`^LIFELINE(_[A-Z0-9]+)*_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$`)

var unknownField = regexp.MustCompile(`field (\S+) not found in type [\w.]+`)

// ApplyEnv overrides keys from LIFELINE_* variables: the key path in upper
// case joined by _, e.g. LIFELINE_BROKERS=a:9092,b:9092,
// LIFELINE_SASL_PASSWORD=..., LIFELINE_ENGINE_IDLE_TIMEOUT=30s. Lists are
// comma-separated.
func ApplyEnv(cfg *Config, environ []string) error {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "LIFELINE_") && !serviceLink.MatchString(k) {
			vars[k] = v
		}
	}
	known := map[string]bool{}
	err := walkFields(reflect.ValueOf(cfg).Elem(), "LIFELINE", "", func(name, _ string, f reflect.Value) error {
		known[name] = true
		v, ok := vars[name]
		if !ok {
			return nil
		}
		if err := setField(f, v); err != nil {
			// Not the value: it may be a secret set in the wrong variable.
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k := range vars {
		if !known[k] {
			return fmt.Errorf("environment variable %s matches no config key (see README.md, Configuration)", k)
		}
	}
	return nil
}

// walkFields calls fn for every leaf key of the struct v: its variable
// name (prefix, then the key path in upper case joined by _) and its key
// (the path joined by dots).
func walkFields(v reflect.Value, prefix, key string, fn func(name, key string, f reflect.Value) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name, k := prefix+"_"+strings.ToUpper(tag), tag
		if key != "" {
			k = key + "." + tag
		}
		f := v.Field(i)
		if f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct {
			// A list of structures (sinks:) has no variable.
			continue
		}
		if f.Kind() == reflect.Struct {
			if err := walkFields(f, name, k, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(name, k, f); err != nil {
			return err
		}
	}
	return nil
}

func setField(f reflect.Value, s string) error {
	if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch f.Interface().(type) {
	case []string:
		var list []string
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				list = append(list, x)
			}
		}
		f.Set(reflect.ValueOf(list))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("expected true or false")
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return errors.New("expected a whole number")
		}
		f.SetInt(n)
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// Validate checks every key, naming the key and the fix in its error.
func (c *Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if len(c.Brokers) == 0 {
		bad("brokers: at least one host:port is needed")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			bad("brokers: %q has no port (write host:port, e.g. %s:9092)", b, b)
		}
	}
	if c.Group == "" {
		bad("group: a consumer group id is needed")
	}
	for _, t := range []struct{ key, name string }{
		{"input", c.Topics.Input}, {"alerts", c.Topics.Alerts}, {"health", c.Topics.Health},
		{"stages", c.Topics.Stages}, {"dead_letters", c.Topics.DeadLetters}, {"changelog", c.Topics.Changelog},
	} {
		if t.name == "" {
			bad("topics.%s: a topic name is needed", t.key)
		}
	}
	if c.Guarantee != ExactlyOnce && c.Guarantee != AtLeastOnce {
		bad("guarantee: %q (expected %s or %s)", c.Guarantee, ExactlyOnce, AtLeastOnce)
	}
	if c.StateDir == "" {
		bad("state_dir: a directory for the state store is needed")
	}
	if c.CreateTopics.Partitions <= 0 {
		bad("create_topics.partitions: %d (expected at least 1)", c.CreateTopics.Partitions)
	}
	if c.CreateTopics.Replication <= 0 {
		bad("create_topics.replication: %d (expected at least 1)", c.CreateTopics.Replication)
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		// Not the value: a password on the wrong line lands here.
		bad("sasl.mechanism: unknown mechanism (expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or empty for none)")
	}
	if c.SASL.Mechanism != "" && c.SASL.Username == "" {
		bad("sasl.username: needed with sasl.mechanism %s", c.SASL.Mechanism)
	}
	if c.SASL.Mechanism == "" && (c.SASL.Username != "" || c.SASL.Password != "") {
		bad("sasl.mechanism: credentials are set but no mechanism (set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
	}
	if c.HTTP == "" {
		bad("http: a listen address is needed (e.g. 127.0.0.1:8080, or 0.0.0.0:8080 in a container)")
	} else if _, port, err := net.SplitHostPort(c.HTTP); err != nil {
		bad("http: %q is not host:port (e.g. 127.0.0.1:8080, or 0.0.0.0:8080 in a container)", c.HTTP)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		bad("http: port %q of %q is not a number from 0 to 65535 or a service name", port, c.HTTP)
	}
	for _, p := range c.API.Peers {
		if err := CheckPeer(p); err != nil {
			bad("api.peers: %v", err)
		}
	}
	if t := c.API.PeerTimeout.Std(); t < 10*time.Millisecond || t > time.Minute {
		bad("api.peer_timeout: expected 10ms to 1m (2s is the default)")
	}
	if c.API.MaxPeers < 1 || c.API.MaxPeers > 1000 {
		bad("api.max_peers: %d (expected 1 to 1000; 32 is the default)", c.API.MaxPeers)
	}
	if err := (decode.Options{CustomerField: c.CustomerField}).Validate(); err != nil {
		bad("customer_field: %v", err)
	}
	c.validateInput(bad)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls.cert_file and tls.key_file go together (client certificate and its key)")
	}
	if c.Engine.AllowedLateness < 0 {
		bad("engine.allowed_lateness: must not be negative")
	}
	if c.Engine.MaxEventAhead < 0 {
		bad("engine.max_event_ahead: must not be negative (0: no bound)")
	}
	if c.Engine.IdleTimeout <= 0 {
		bad("engine.idle_timeout: expected a positive duration such as 1m")
	}
	if c.Engine.CacheStates <= 0 {
		bad("engine.cache_states: expected a positive number of customers")
	}
	if c.Engine.BlockCacheMB < 8 {
		bad("engine.block_cache_mb: %d (expected at least 8 MiB; 256 is the default)", c.Engine.BlockCacheMB)
	}
	if c.Engine.CheckpointInterval < 0 {
		bad("engine.checkpoint_interval: must not be negative (0 with checkpoint_events 0: every batch)")
	}
	if c.Engine.CheckpointEvents < 0 {
		bad("engine.checkpoint_events: must not be negative (0 with checkpoint_interval 0: every batch)")
	}
	if c.Engine.MaxPollRecords <= 0 {
		bad("engine.max_poll_records: expected a positive number")
	}
	if c.Engine.TransactionTimeout.Std() < time.Second {
		bad("engine.transaction_timeout: expected at least 1s")
	}
	if s := c.Engine.SessionTimeout.Std(); s < time.Second || s > 30*time.Minute {
		bad("engine.session_timeout: expected 1s to 30m (the broker also bounds it: group.min/max.session.timeout.ms)")
	}
	if n := c.Engine.DedupeIDs; n < 1 || n > engine.MaxDedupeIDs {
		bad("engine.dedupe_ids: %d (expected 1 to %d event ids per customer; %d is the default)", n, engine.MaxDedupeIDs, engine.DefaultDedupeIDs)
	}
	if n := c.Engine.TimelineRecords; n < 0 || n > engine.MaxTimelineRecords {
		bad("engine.timeline_records: %d (expected 0, the default: no timelines, to %d records per customer, e.g. 50)", n, engine.MaxTimelineRecords)
	}
	c.Ingest.validate(bad)
	c.validateSinks(bad)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level: %q (expected debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console", "auto":
	default:
		bad("log.format: %q (expected json, console or auto)", c.Log.Format)
	}
	if len(errs) > 0 {
		return errors.New("invalid config: " + strings.Join(errs, "; "))
	}
	return nil
}

// CheckPeer checks one api.peers entry: an http or https base URL with a
// host, or a dns+http or dns+https one whose host is a name to resolve.
func CheckPeer(p string) error {
	u, err := url.Parse(p)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q is not a base URL (e.g. http://lifeline-1.lifeline:8080, or dns+http://lifeline-headless:8080 for every address of a name)", p)
	}
	switch u.Scheme {
	case "http", "https", "dns+http", "dns+https":
	default:
		return fmt.Errorf("%q: scheme %q (expected http, https, dns+http or dns+https)", p, u.Scheme)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not a number from 1 to 65535", p, port)
		}
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: a base URL has no query, fragment or user (write scheme://host:port)", p)
	}
	return nil
}

// validate checks the ingest: keys (only when ingest.http.addr is set:
// the rest is unused otherwise).
func (in *Ingest) validate(bad func(string, ...any)) {
	h := &in.HTTP
	if h.Addr == "" {
		return
	}
	if _, port, err := net.SplitHostPort(h.Addr); err != nil {
		bad("ingest.http.addr: %q is not host:port (e.g. 0.0.0.0:8081; empty: off)", h.Addr)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		bad("ingest.http.addr: port %q of %q is not a number from 0 to 65535 or a service name", port, h.Addr)
	}
	w := &h.Webhooks
	if len(h.WriteKeys) == 0 && w.Stripe.Secret == "" && w.Zendesk.Secret == "" && w.Intercom.Secret == "" &&
		w.Delighted.Secret == "" && w.Typeform.Secret == "" && w.CloudEvents.Secret == "" {
		bad("ingest.http: addr is set but no path is on (set ingest.http.write_keys for Segment's API, or a webhook secret under ingest.http.webhooks)")
	}
	for i, k := range h.WriteKeys {
		if k == "" {
			bad("ingest.http.write_keys[%d]: empty (remove it, or set the write key)", i)
		}
	}
	if h.MaxBodyBytes < 1<<10 || h.MaxBodyBytes > 64<<20 {
		bad("ingest.http.max_body_bytes: %d (expected 1024 to 67108864; 1048576 is the default)", h.MaxBodyBytes)
	}
	if h.ReadTimeout.Std() < time.Second {
		bad("ingest.http.read_timeout: expected at least 1s (10s is the default)")
	}
	if h.ProduceTimeout.Std() < time.Second {
		bad("ingest.http.produce_timeout: expected at least 1s (10s is the default)")
	}
	if h.WriteTimeout <= h.ProduceTimeout {
		bad("ingest.http.write_timeout: %s must exceed ingest.http.produce_timeout %s (a request waits for the broker)", h.WriteTimeout, h.ProduceTimeout)
	}
	if h.MaxBufferedBytes < 1<<20 {
		bad("ingest.http.max_buffered_bytes: %d (expected at least 1048576; 67108864 is the default)", h.MaxBufferedBytes)
	}
	if w.Stripe.Tolerance < 0 {
		bad("ingest.http.webhooks.stripe.tolerance: must not be negative (5m is the default, Stripe's)")
	}
}

// Options returns the engine options the configuration sets.
func (e *EngineSettings) Options() engine.Options {
	return engine.Options{
		CacheStates:        e.CacheStates,
		BlockCacheBytes:    int64(e.BlockCacheMB) << 20,
		AllowedLateness:    engine.Lateness(e.AllowedLateness.Std()),
		MaxEventAhead:      e.MaxEventAhead.Std(),
		CheckpointInterval: e.CheckpointInterval.Std(),
		CheckpointEvents:   e.CheckpointEvents,
		DedupeIDs:          e.DedupeIDs,
		TimelineRecords:    e.TimelineRecords,
	}
}

// EnvVars maps every LIFELINE_* variable ApplyEnv reads to the key it
// overrides (for --help).
func EnvVars() map[string]string {
	vars := map[string]string{}
	var c Config
	_ = walkFields(reflect.ValueOf(&c).Elem(), "LIFELINE", "", func(name, key string, _ reflect.Value) error {
		vars[name] = key
		return nil
	})
	return vars
}
