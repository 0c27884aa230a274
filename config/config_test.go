package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/decode"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lifeline.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load reads a config and validates it, as `lifeline run` does.
func load(path string, environ []string) (config.Config, error) {
	cfg, err := config.Read(path, environ)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestLoadConfig(t *testing.T) {
	full := `# every key, as README.md documents them
brokers: [kafka-1:9092, kafka-2:9092]
group: lifeline-prod
client_id: node-7
topics:
  input: events
  alerts: out.alerts
  health: out.health
  stages: out.stages
  dead_letters: out.dlq
  changelog: out.changelog
create_topics:
  enabled: true
  partitions: 24
  replication: 3
guarantee: at_least_once
state_dir: /data/lifeline
rules: /etc/lifeline/rules.yaml
http: 0.0.0.0:8080
tls:
  enabled: true
  ca_file: /etc/ca.pem
  server_name: config.internal
sasl:
  mechanism: SCRAM-SHA-512
  username: lifeline
  password: secret
engine:
  allowed_lateness: 15m
  idle_timeout: 30s
  max_event_ahead: 2h
  cache_states: 1000
  checkpoint_interval: 5s
  checkpoint_events: 0
  max_poll_records: 200
  transaction_timeout: 2m
  session_timeout: 10s
  dedupe_ids: 100
  timeline_records: 20
log:
  level: debug
  format: json
customer_field: account_user
ingest:
  http:
    addr: 0.0.0.0:8081
    write_keys: [wk1, wk2]
    max_body_bytes: 2097152
    read_timeout: 5s
    write_timeout: 20s
    produce_timeout: 15s
    max_buffered_bytes: 33554432
    webhooks:
      stripe: {secret: whsec_x, tolerance: 10m}
      zendesk: {secret: zd}
      intercom: {secret: ic}
      delighted: {secret: dl}
      typeform: {secret: tf}
      cloudevents: {secret: ce}
input:
  max_bytes: 65536
  max_values: 2000
  customer_paths:
    stripe: [data.object.metadata.user_id, data.object.customer]
    typeform: [form_response.hidden.account_id]
`
	fullWant := config.Defaults()
	fullWant.Brokers = []string{"kafka-1:9092", "kafka-2:9092"}
	fullWant.Group = "lifeline-prod"
	fullWant.ClientID = "node-7"
	fullWant.Topics = config.Topics{Input: "events", Alerts: "out.alerts", Health: "out.health", Stages: "out.stages", DeadLetters: "out.dlq", Changelog: "out.changelog"}
	fullWant.CreateTopics = config.CreateTopics{Enabled: true, Partitions: 24, Replication: 3}
	fullWant.Guarantee = config.AtLeastOnce
	fullWant.StateDir = "/data/lifeline"
	fullWant.Rules = "/etc/lifeline/rules.yaml"
	fullWant.HTTP = "0.0.0.0:8080"
	fullWant.TLS = config.TLS{Enabled: true, CAFile: "/etc/ca.pem", ServerName: "config.internal"}
	fullWant.SASL = config.SASL{Mechanism: "SCRAM-SHA-512", Username: "lifeline", Password: "secret"}
	fullWant.Engine = config.EngineSettings{AllowedLateness: config.Duration(15 * time.Minute), IdleTimeout: config.Duration(30 * time.Second), MaxEventAhead: config.Duration(2 * time.Hour), CacheStates: 1000, BlockCacheMB: 256, CheckpointInterval: config.Duration(5 * time.Second), CheckpointEvents: 0, MaxPollRecords: 200, TransactionTimeout: config.Duration(2 * time.Minute), SessionTimeout: config.Duration(10 * time.Second), DedupeIDs: 100, TimelineRecords: 20}
	fullWant.Log = config.Log{Level: "debug", Format: "json"}
	fullWant.CustomerField = "account_user"
	fullWant.Ingest.HTTP = config.IngestHTTP{
		Addr: "0.0.0.0:8081", WriteKeys: []string{"wk1", "wk2"}, MaxBodyBytes: 2 << 20,
		ReadTimeout: config.Duration(5 * time.Second), WriteTimeout: config.Duration(20 * time.Second),
		ProduceTimeout: config.Duration(15 * time.Second), MaxBufferedBytes: 32 << 20,
		Webhooks: config.IngestWebhooks{
			Stripe:  config.IngestStripe{Secret: "whsec_x", Tolerance: config.Duration(10 * time.Minute)},
			Zendesk: config.IngestSecret{Secret: "zd"}, Intercom: config.IngestSecret{Secret: "ic"},
			Delighted: config.IngestSecret{Secret: "dl"}, Typeform: config.IngestSecret{Secret: "tf"},
			CloudEvents: config.IngestSecret{Secret: "ce"},
		},
	}
	fullWant.Input.MaxBytes, fullWant.Input.MaxValues = 65536, 2000
	fullWant.Input.CustomerPaths.Stripe = []string{"data.object.metadata.user_id", "data.object.customer"}
	fullWant.Input.CustomerPaths.Typeform = []string{"form_response.hidden.account_id"}

	envWant := config.Defaults()
	envWant.Brokers = []string{"a:9092", "b:9093"}
	envWant.Group = "from-file"
	envWant.SASL = config.SASL{Mechanism: "PLAIN", Username: "u", Password: "from-env"}
	envWant.Engine.IdleTimeout = config.Duration(45 * time.Second)
	envWant.CreateTopics.Enabled = true
	envWant.CreateTopics.Partitions = 6
	envWant.Topics.DeadLetters = "dlq"

	tests := []struct {
		name    string
		yaml    string // "" with noFile: no config file at all
		noFile  bool
		env     []string
		want    *config.Config
		wantErr []string // substrings the error must contain
	}{
		{name: "no file: defaults", noFile: true, want: ptr(config.Defaults())},
		{name: "empty file: defaults", yaml: "", want: ptr(config.Defaults())},
		{name: "only comments", yaml: "# nothing\n", want: ptr(config.Defaults())},
		{name: "every key", yaml: full, want: &fullWant},
		{
			name: "environment overrides the file",
			yaml: "group: from-file\nbrokers: [file:9092]\nsasl: {mechanism: PLAIN, username: u, password: from-file}\n",
			env: []string{"LIFELINE_BROKERS=a:9092, b:9093", "LIFELINE_SASL_PASSWORD=from-env", "LIFELINE_ENGINE_IDLE_TIMEOUT=45s",
				"LIFELINE_CREATE_TOPICS_ENABLED=true", "LIFELINE_CREATE_TOPICS_PARTITIONS=6", "LIFELINE_TOPICS_DEAD_LETTERS=dlq",
				"PATH=/usr/bin", "LIFELINEX=ignored", "NOT_LIFELINE_GROUP=x"},
			want: &envWant,
		},
		{
			name: "Kubernetes service links are not keys",
			env:  []string{"LIFELINE_SERVICE_HOST=10.0.0.7", "LIFELINE_SERVICE_PORT=8080", "LIFELINE_SERVICE_PORT_HTTP=8080", "LIFELINE_PORT=tcp://10.0.0.7:8080", "LIFELINE_PORT_8080_TCP_ADDR=10.0.0.7"},
			want: ptr(config.Defaults()),
		},
		{name: "unknown key", yaml: "brokers: [a:9092]\ngroup: g\nbrokerz: [b:9092]\n", wantErr: []string{"line 3", "brokerz"}},
		{name: "unknown nested key", yaml: "engine:\n  idle_timeout: 1m\n  idle_timout: 2m\n", wantErr: []string{"line 3", "idle_timout"}},
		{name: "wrong type", yaml: "create_topics:\n  partitions: many\n", wantErr: []string{"line 2", "create_topics.partitions: expected a whole number, found text"}},
		{name: "bad duration in the file", yaml: "engine:\n  idle_timeout: soon\n", wantErr: []string{"line 2", "engine.idle_timeout: expected a duration such as 30s"}},
		{name: "not YAML", yaml: "brokers: [a:9092\n", wantErr: []string{"lifeline.yaml"}},
		{name: "unknown LIFELINE_ variable", env: []string{"LIFELINE_BROKER=a:9092"}, wantErr: []string{"LIFELINE_BROKER ", "matches no config key"}},
		{name: "struct is not a key", env: []string{"LIFELINE_ENGINE=x"}, wantErr: []string{"LIFELINE_ENGINE "}},
		{name: "bad duration", env: []string{"LIFELINE_ENGINE_IDLE_TIMEOUT=10"}, wantErr: []string{"LIFELINE_ENGINE_IDLE_TIMEOUT", "duration"}},
		{name: "bad bool", env: []string{"LIFELINE_TLS_ENABLED=maybe"}, wantErr: []string{"LIFELINE_TLS_ENABLED", "true or false"}},
		{name: "bad number", env: []string{"LIFELINE_ENGINE_CACHE_STATES=lots"}, wantErr: []string{"LIFELINE_ENGINE_CACHE_STATES", "whole number"}},
		{name: "number out of range", env: []string{"LIFELINE_CREATE_TOPICS_REPLICATION=40000"}, wantErr: []string{"LIFELINE_CREATE_TOPICS_REPLICATION"}},
		{name: "invalid value from the environment", env: []string{"LIFELINE_GUARANTEE=maybe_once"}, wantErr: []string{"guarantee", "maybe_once"}},
		{name: "invalid value from the file", yaml: "log:\n  level: loud\n", wantErr: []string{"log.level", "loud"}},
		{name: "days, as rule packs write them", yaml: "engine:\n  allowed_lateness: 1d\n  idle_timeout: 1h30m\n", want: ptr(withEngine(func(e *config.EngineSettings) {
			e.AllowedLateness, e.IdleTimeout = config.Duration(24*time.Hour), config.Duration(90*time.Minute)
		}))},
		{name: "days from the environment", env: []string{"LIFELINE_ENGINE_ALLOWED_LATENESS=2d"}, want: ptr(withEngine(func(e *config.EngineSettings) {
			e.AllowedLateness = config.Duration(48 * time.Hour)
		}))},
		{name: "days in words, as rule packs may write them", yaml: "engine:\n  allowed_lateness: 2 days\n  idle_timeout: 90 minutes\n", want: ptr(withEngine(func(e *config.EngineSettings) {
			e.AllowedLateness, e.IdleTimeout = config.Duration(48*time.Hour), config.Duration(90*time.Minute)
		}))},
		{name: "a second YAML document", yaml: "group: a\n---\ngroup: b\n", wantErr: []string{"lifeline.yaml:2", "second YAML document"}},
		{name: "port out of range", yaml: "http: 0.0.0.0:99999\n", wantErr: []string{"http", "99999", "0 to 65535"}},
		{name: "a port by its service name", yaml: "http: 127.0.0.1:http\n", want: ptr(func() config.Config { c := config.Defaults(); c.HTTP = "127.0.0.1:http"; return c }())},
		{name: "a file ending in ---", yaml: "group: g\n---\n", want: ptr(func() config.Config { c := config.Defaults(); c.Group = "g"; return c }())},
		{name: "a duration written as Go writes it", yaml: "engine:\n  idle_timeout: 1.5s\n", wantErr: []string{"line 2", "write 1s500ms"}},
		{name: "address without a port", yaml: "http: localhost\n", wantErr: []string{"http", "host:port"}},
		{name: "credentials without a mechanism", yaml: "sasl: {username: u, password: p}\n", wantErr: []string{"sasl.mechanism", "no mechanism"}},
		{name: "customer field with an empty key", yaml: "customer_field: user..id\n", wantErr: []string{"customer_field", "user..id", "empty key"}},
		{name: "API peers from the environment", env: []string{"LIFELINE_API_PEERS=http://lifeline-0.lifeline:8080, dns+http://lifeline-headless:8080", "LIFELINE_API_PEER_TIMEOUT=500ms"},
			want: ptr(func() config.Config {
				c := config.Defaults()
				c.API.Peers = []string{"http://lifeline-0.lifeline:8080", "dns+http://lifeline-headless:8080"}
				c.API.PeerTimeout = config.Duration(500 * time.Millisecond)
				return c
			}())},
		{name: "an API peer without a scheme", yaml: "api: {peers: [lifeline-headless:8080]}\n", wantErr: []string{"api.peers", "lifeline-headless:8080", "dns+http://"}},
		{name: "input.max_bytes zero", yaml: "input:\n  max_bytes: 0\n", wantErr: []string{"input.max_bytes: 0", "expected 1 to"}},
		{name: "input.max_bytes beyond 64 MiB", yaml: "input:\n  max_bytes: 100000000\n", wantErr: []string{"input.max_bytes: 100000000", "1048576"}},
		{name: "input.max_values negative", yaml: "input:\n  max_values: -1\n", wantErr: []string{"input.max_values: -1", "positive"}},
		{name: "customer path with an empty key", yaml: "input:\n  customer_paths:\n    stripe: [data..customer]\n", wantErr: []string{"input.customer_paths.stripe", "data..customer", "empty key"}},
		{name: "customer paths of an unknown source", yaml: "input:\n  customer_paths:\n    strip: [data.object.customer]\n", wantErr: []string{"unknown key", "strip"}},
		{name: "customer paths from the environment", env: []string{"LIFELINE_INPUT_CUSTOMER_PATHS_STRIPE=data.object.metadata.user_id, data.object.customer"},
			want: ptr(func() config.Config {
				c := config.Defaults()
				c.Input.CustomerPaths.Stripe = []string{"data.object.metadata.user_id", "data.object.customer"}
				return c
			}())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if !tt.noFile {
				path = writeConfig(t, tt.yaml)
			}
			got, err := load(path, tt.env)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; want one mentioning %q", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, *tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, *tt.want)
			}
		})
	}
}

func withEngine(change func(*config.EngineSettings)) config.Config {
	c := config.Defaults()
	change(&c.Engine)
	return c
}

func TestLoadConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := load(path, nil)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("error %v does not name the missing file", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestValidate: every invalid value is reported, each naming its key.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*config.Config)
		key    string // the error must name it
	}{
		{"no brokers", func(c *config.Config) { c.Brokers = nil }, "brokers"},
		{"broker without port", func(c *config.Config) { c.Brokers = []string{"kafka-1"} }, `brokers: "kafka-1" has no port`},
		{"no group", func(c *config.Config) { c.Group = "" }, "group"},
		{"no input topic", func(c *config.Config) { c.Topics.Input = "" }, "topics.input"},
		{"no alerts topic", func(c *config.Config) { c.Topics.Alerts = "" }, "topics.alerts"},
		{"no health topic", func(c *config.Config) { c.Topics.Health = "" }, "topics.health"},
		{"no stages topic", func(c *config.Config) { c.Topics.Stages = "" }, "topics.stages"},
		{"no dead-letter topic", func(c *config.Config) { c.Topics.DeadLetters = "" }, "topics.dead_letters"},
		{"no changelog topic", func(c *config.Config) { c.Topics.Changelog = "" }, "topics.changelog"},
		{"unknown guarantee", func(c *config.Config) { c.Guarantee = "exactly-once" }, "guarantee"},
		{"no state dir", func(c *config.Config) { c.StateDir = "" }, "state_dir"},
		{"no partitions", func(c *config.Config) { c.CreateTopics.Partitions = 0 }, "create_topics.partitions"},
		{"no replication", func(c *config.Config) { c.CreateTopics.Replication = -1 }, "create_topics.replication"},
		{"unknown SASL mechanism", func(c *config.Config) { c.SASL = config.SASL{Mechanism: "GSSAPI", Username: "u"} }, "sasl.mechanism"},
		{"SASL without user", func(c *config.Config) { c.SASL.Mechanism = "PLAIN" }, "sasl.username"},
		{"certificate without key", func(c *config.Config) { c.TLS.CertFile = "/c.pem" }, "tls.cert_file"},
		{"key without certificate", func(c *config.Config) { c.TLS.KeyFile = "/k.pem" }, "tls.key_file"},
		{"negative lateness", func(c *config.Config) { c.Engine.AllowedLateness = config.Duration(-time.Second) }, "engine.allowed_lateness"},
		{"no idle timeout", func(c *config.Config) { c.Engine.IdleTimeout = 0 }, "engine.idle_timeout"},
		{"negative max event ahead", func(c *config.Config) { c.Engine.MaxEventAhead = config.Duration(-time.Hour) }, "engine.max_event_ahead"},
		{"no cache", func(c *config.Config) { c.Engine.CacheStates = 0 }, "engine.cache_states"},
		{"tiny block cache", func(c *config.Config) { c.Engine.BlockCacheMB = 1 }, "engine.block_cache_mb"},
		{"negative checkpoint interval", func(c *config.Config) { c.Engine.CheckpointInterval = config.Duration(-time.Second) }, "engine.checkpoint_interval"},
		{"negative checkpoint events", func(c *config.Config) { c.Engine.CheckpointEvents = -1 }, "engine.checkpoint_events"},
		{"no poll records", func(c *config.Config) { c.Engine.MaxPollRecords = 0 }, "engine.max_poll_records"},
		{"short transaction timeout", func(c *config.Config) { c.Engine.TransactionTimeout = config.Duration(500 * time.Millisecond) }, "engine.transaction_timeout"},
		{"short session timeout", func(c *config.Config) { c.Engine.SessionTimeout = config.Duration(500 * time.Millisecond) }, "engine.session_timeout"},
		{"API peer of another scheme", func(c *config.Config) { c.API.Peers = []string{"tcp://lifeline:8080"} }, `api.peers: "tcp://lifeline:8080": scheme`},
		{"API peer without a host", func(c *config.Config) { c.API.Peers = []string{"http://:8080"} }, "api.peers"},
		{"API peer with a query", func(c *config.Config) { c.API.Peers = []string{"http://lifeline:8080/?scope=local"} }, "api.peers"},
		{"API peer port out of range", func(c *config.Config) { c.API.Peers = []string{"http://lifeline:80800"} }, "api.peers"},
		{"no API peer timeout", func(c *config.Config) { c.API.PeerTimeout = 0 }, "api.peer_timeout"},
		{"no API peers at all", func(c *config.Config) { c.API.MaxPeers = 0 }, "api.max_peers"},
		{"no dedupe ids", func(c *config.Config) { c.Engine.DedupeIDs = 0 }, "engine.dedupe_ids: 0 (expected 1 to 1024"},
		{"too many dedupe ids", func(c *config.Config) { c.Engine.DedupeIDs = 5000 }, "engine.dedupe_ids: 5000"},
		{"too many timeline records", func(c *config.Config) { c.Engine.TimelineRecords = 5000 }, "engine.timeline_records: 5000 (expected 0"},
		{"negative timeline records", func(c *config.Config) { c.Engine.TimelineRecords = -1 }, "engine.timeline_records: -1"},
		{"unknown log level", func(c *config.Config) { c.Log.Level = "verbose" }, "log.level"},
		{"unknown log format", func(c *config.Config) { c.Log.Format = "xml" }, "log.format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Defaults()
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("valid; want an error naming %s", tt.key)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name %s", err, tt.key)
			}
		})
	}

	t.Run("defaults are valid", func(t *testing.T) {
		c := config.Defaults()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("lower-case SASL mechanism", func(t *testing.T) {
		c := config.Defaults()
		c.SASL = config.SASL{Mechanism: "scram-sha-256", Username: "u"}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the same errors, in the same order, every time", func(t *testing.T) {
		c := config.Defaults()
		c.Topics = config.Topics{}
		first := c.Validate()
		for range 20 {
			if err := c.Validate(); err == nil || err.Error() != first.Error() {
				t.Fatalf("Validate said %v, then %v", first, err)
			}
		}
		if !strings.Contains(first.Error(), "topics.input: a topic name is needed; topics.alerts") {
			t.Errorf("topics not reported in file order: %v", first)
		}
	})
	t.Run("every problem at once", func(t *testing.T) {
		c := config.Defaults()
		c.Group, c.StateDir, c.Log.Format = "", "", "xml"
		err := c.Validate()
		if err == nil {
			t.Fatal("valid")
		}
		for _, key := range []string{"group", "state_dir", "log.format"} {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error %q does not name %s", err, key)
			}
		}
	})
}

// TestApplyEnvEveryKey: each config key has its LIFELINE_ variable, named
// after its YAML path.
func TestApplyEnvEveryKey(t *testing.T) {
	env := []string{
		"LIFELINE_BROKERS=x:1", "LIFELINE_GROUP=g", "LIFELINE_CLIENT_ID=c",
		"LIFELINE_TOPICS_INPUT=i", "LIFELINE_TOPICS_ALERTS=a", "LIFELINE_TOPICS_HEALTH=h", "LIFELINE_TOPICS_STAGES=s",
		"LIFELINE_TOPICS_DEAD_LETTERS=d", "LIFELINE_TOPICS_CHANGELOG=cl",
		"LIFELINE_CREATE_TOPICS_ENABLED=1", "LIFELINE_CREATE_TOPICS_PARTITIONS=3", "LIFELINE_CREATE_TOPICS_REPLICATION=2",
		"LIFELINE_GUARANTEE=at_least_once", "LIFELINE_STATE_DIR=/s", "LIFELINE_RULES=/r", "LIFELINE_HTTP=:1",
		"LIFELINE_API_PEERS=http://a:1,dns+http://b:2", "LIFELINE_API_PEER_TIMEOUT=3s", "LIFELINE_API_MAX_PEERS=4",
		"LIFELINE_TLS_ENABLED=true", "LIFELINE_TLS_CA_FILE=/ca", "LIFELINE_TLS_CERT_FILE=/cert", "LIFELINE_TLS_KEY_FILE=/key",
		"LIFELINE_TLS_SERVER_NAME=sn", "LIFELINE_TLS_INSECURE_SKIP_VERIFY=true",
		"LIFELINE_SASL_MECHANISM=PLAIN", "LIFELINE_SASL_USERNAME=u", "LIFELINE_SASL_PASSWORD=p",
		"LIFELINE_ENGINE_ALLOWED_LATENESS=1m", "LIFELINE_ENGINE_IDLE_TIMEOUT=2m", "LIFELINE_ENGINE_MAX_EVENT_AHEAD=3h", "LIFELINE_ENGINE_CACHE_STATES=4", "LIFELINE_ENGINE_BLOCK_CACHE_MB=64", "LIFELINE_ENGINE_CHECKPOINT_INTERVAL=3s", "LIFELINE_ENGINE_CHECKPOINT_EVENTS=7",
		"LIFELINE_ENGINE_MAX_POLL_RECORDS=5", "LIFELINE_ENGINE_TRANSACTION_TIMEOUT=6s", "LIFELINE_ENGINE_SESSION_TIMEOUT=7s",
		"LIFELINE_ENGINE_DEDUPE_IDS=9", "LIFELINE_ENGINE_TIMELINE_RECORDS=11",
		"LIFELINE_LOG_LEVEL=warn", "LIFELINE_LOG_FORMAT=console", "LIFELINE_CUSTOMER_FIELD=cf",
		// ingest:
		"LIFELINE_INGEST_HTTP_ADDR=:2", "LIFELINE_INGEST_HTTP_WRITE_KEYS=k1,k2", "LIFELINE_INGEST_HTTP_MAX_BODY_BYTES=8",
		"LIFELINE_INGEST_HTTP_READ_TIMEOUT=1s", "LIFELINE_INGEST_HTTP_WRITE_TIMEOUT=2s", "LIFELINE_INGEST_HTTP_PRODUCE_TIMEOUT=3s",
		"LIFELINE_INGEST_HTTP_MAX_BUFFERED_BYTES=9", "LIFELINE_INGEST_HTTP_WEBHOOKS_STRIPE_SECRET=s1",
		"LIFELINE_INGEST_HTTP_WEBHOOKS_STRIPE_TOLERANCE=4m", "LIFELINE_INGEST_HTTP_WEBHOOKS_ZENDESK_SECRET=s2",
		"LIFELINE_INGEST_HTTP_WEBHOOKS_INTERCOM_SECRET=s3", "LIFELINE_INGEST_HTTP_WEBHOOKS_DELIGHTED_SECRET=s4",
		"LIFELINE_INGEST_HTTP_WEBHOOKS_TYPEFORM_SECRET=s5", "LIFELINE_INGEST_HTTP_WEBHOOKS_CLOUDEVENTS_SECRET=s6",
		"LIFELINE_INPUT_MAX_BYTES=100", "LIFELINE_INPUT_MAX_VALUES=10",
		"LIFELINE_INPUT_CUSTOMER_PATHS_STRIPE=s", "LIFELINE_INPUT_CUSTOMER_PATHS_ZENDESK=z", "LIFELINE_INPUT_CUSTOMER_PATHS_INTERCOM=i",
		"LIFELINE_INPUT_CUSTOMER_PATHS_DELIGHTED=d", "LIFELINE_INPUT_CUSTOMER_PATHS_TYPEFORM=t", "LIFELINE_INPUT_CUSTOMER_PATHS_SNOWPLOW=sp",
	}
	var c config.Config
	if err := config.ApplyEnv(&c, env); err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Brokers: []string{"x:1"}, Group: "g", ClientID: "c",
		Topics:       config.Topics{Input: "i", Alerts: "a", Health: "h", Stages: "s", DeadLetters: "d", Changelog: "cl"},
		CreateTopics: config.CreateTopics{Enabled: true, Partitions: 3, Replication: 2},
		Guarantee:    config.AtLeastOnce, StateDir: "/s", Rules: "/r", HTTP: ":1",
		API:           config.API{Peers: []string{"http://a:1", "dns+http://b:2"}, PeerTimeout: config.Duration(3 * time.Second), MaxPeers: 4},
		TLS:           config.TLS{Enabled: true, CAFile: "/ca", CertFile: "/cert", KeyFile: "/key", ServerName: "sn", InsecureSkipVerify: true},
		SASL:          config.SASL{Mechanism: "PLAIN", Username: "u", Password: "p"},
		Engine:        config.EngineSettings{AllowedLateness: config.Duration(time.Minute), IdleTimeout: config.Duration(2 * time.Minute), MaxEventAhead: config.Duration(3 * time.Hour), CacheStates: 4, BlockCacheMB: 64, CheckpointInterval: config.Duration(3 * time.Second), CheckpointEvents: 7, MaxPollRecords: 5, TransactionTimeout: config.Duration(6 * time.Second), SessionTimeout: config.Duration(7 * time.Second), DedupeIDs: 9, TimelineRecords: 11},
		Log:           config.Log{Level: "warn", Format: "console"},
		CustomerField: "cf",
		Ingest: config.Ingest{HTTP: config.IngestHTTP{
			Addr: ":2", WriteKeys: []string{"k1", "k2"}, MaxBodyBytes: 8,
			ReadTimeout: config.Duration(time.Second), WriteTimeout: config.Duration(2 * time.Second), ProduceTimeout: config.Duration(3 * time.Second),
			MaxBufferedBytes: 9,
			Webhooks: config.IngestWebhooks{
				Stripe:  config.IngestStripe{Secret: "s1", Tolerance: config.Duration(4 * time.Minute)},
				Zendesk: config.IngestSecret{Secret: "s2"}, Intercom: config.IngestSecret{Secret: "s3"},
				Delighted: config.IngestSecret{Secret: "s4"}, Typeform: config.IngestSecret{Secret: "s5"},
				CloudEvents: config.IngestSecret{Secret: "s6"},
			},
		}},
		Input: config.Input{MaxBytes: 100, MaxValues: 10, CustomerPaths: config.CustomerPaths{
			Stripe: []string{"s"}, Zendesk: []string{"z"}, Intercom: []string{"i"}, Delighted: []string{"d"}, Typeform: []string{"t"}, Snowplow: []string{"sp"}}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	// Every field of Config is reachable: the want above sets them all.
	if n := countLeaves(reflect.ValueOf(want)); n != len(env) {
		t.Errorf("Config has %d keys, the test sets %d: keep them in step", n, len(env))
	}
}

func countLeaves(v reflect.Value) int {
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct {
		return 0 // sinks: no variable sets a list of structures
	}
	if v.Kind() != reflect.Struct || v.Type() == reflect.TypeOf(time.Duration(0)) {
		return 1
	}
	n := 0
	for i := 0; i < v.NumField(); i++ {
		n += countLeaves(v.Field(i))
	}
	return n
}

// TestReadConfig: Read leaves validation to its caller (which applies flag
// overrides first).
func TestReadConfig(t *testing.T) {
	path := writeConfig(t, "log:\n  level: loud\n")
	c, err := config.Read(path, []string{"LIFELINE_GROUP=g2"})
	if err != nil {
		t.Fatalf("Read validated: %v", err)
	}
	if c.Log.Level != "loud" || c.Group != "g2" {
		t.Errorf("got log.level %q, group %q", c.Log.Level, c.Group)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("Validate: %v, want an error naming log.level", err)
	}
	if _, err := config.Read(writeConfig(t, "bogus: 1\n"), nil); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("Read of an unknown key: %v, want an error naming it", err)
	}
}

// TestEngineOptions: the config's engine keys reach the engine, and an
// allowed lateness of 0 means none rather than the engine's default.
func TestEngineOptions(t *testing.T) {
	cfg := config.Defaults()
	cfg.Engine.AllowedLateness = 0
	cfg.Engine.CheckpointEvents = 123
	if cfg.Engine.MaxEventAhead != config.Duration(24*time.Hour) {
		t.Errorf("engine.max_event_ahead defaults to %s, want 1d", cfg.Engine.MaxEventAhead)
	}
	o := cfg.Engine.Options()
	if o.MaxEventAhead != 24*time.Hour {
		t.Errorf("engine.max_event_ahead 1d became MaxEventAhead %v", o.MaxEventAhead)
	}
	cfg.Engine.MaxEventAhead = 0
	if o := cfg.Engine.Options(); o.MaxEventAhead != 0 {
		t.Errorf("engine.max_event_ahead 0 became MaxEventAhead %v, want 0 (no bound)", o.MaxEventAhead)
	}
	if o.AllowedLateness >= 0 {
		t.Errorf("allowed_lateness 0 became AllowedLateness %v, which the engine takes for its 10m default", o.AllowedLateness)
	}
	if o.CheckpointEvents != 123 || o.CheckpointInterval != time.Second || o.CacheStates != cfg.Engine.CacheStates || o.BlockCacheBytes != 256<<20 {
		t.Errorf("engine options %+v do not carry the config's %+v", o, cfg.Engine)
	}
}

// A secret typed in the wrong place is not repeated in the error, which
// is logged and shown: the error names the key (and the line, in the
// file) and what it expects instead. yaml.v3 alone would say "cannot
// unmarshal !!str `Hunter2...` into int32".
func TestErrorsDoNotEchoSecrets(t *testing.T) {
	const secret = "Hunter2Secret"
	tests := []struct {
		name    string
		yaml    string
		env     []string
		wantErr []string
	}{
		{name: "a password nested under password", yaml: "sasl: {mechanism: PLAIN, username: u, password: {nested: " + secret + "}}\n",
			wantErr: []string{"line 1", "sasl.password: expected a single value, found a section of key: value pairs"}},
		{name: "a password in a list under password", yaml: "sasl: {mechanism: PLAIN, username: u, password: [" + secret + "]}\n",
			wantErr: []string{"line 1", "sasl.password: expected a single value, found a list"}},
		{name: "two mistakes on one line, each with its key", yaml: "sasl: {mechanism: PLAIN, username: [u], password: [" + secret + "]}\n",
			wantErr: []string{"line 1: sasl.username: expected a single value, found a list; line 1: sasl.password: expected a single value, found a list"}},
		{name: "a password where a number belongs", yaml: "create_topics:\n  partitions: " + secret + "\n",
			wantErr: []string{"line 2", "create_topics.partitions: expected a whole number, found text"}},
		{name: "a password where a list belongs", yaml: "group: g\nbrokers: " + secret + "\n",
			wantErr: []string{"line 2", "brokers: expected a list such as [a, b], found text"}},
		{name: "a password where true or false belongs", yaml: "tls:\n  enabled: " + secret + "\n",
			wantErr: []string{"line 2", "tls.enabled: expected true or false, found text"}},
		{name: "a password where a duration belongs", yaml: "engine:\n  idle_timeout: " + secret + "\n",
			wantErr: []string{"line 2", "engine.idle_timeout: expected a duration"}},
		{name: "a password where the sasl section belongs", yaml: "sasl: " + secret + "\n",
			wantErr: []string{"line 1", "sasl: expected a section of key: value pairs, found text"}},
		{name: "a password as the mechanism", yaml: "sasl: {mechanism: " + secret + ", username: u}\n",
			wantErr: []string{"sasl.mechanism: unknown mechanism"}},
		{name: "a password in a number's variable", env: []string{"LIFELINE_ENGINE_CACHE_STATES=" + secret},
			wantErr: []string{"LIFELINE_ENGINE_CACHE_STATES", "whole number"}},
		{name: "a password in a duration's variable", env: []string{"LIFELINE_ENGINE_IDLE_TIMEOUT=" + secret},
			wantErr: []string{"LIFELINE_ENGINE_IDLE_TIMEOUT", "expected a duration"}},
		{name: "a password in a flag's variable", env: []string{"LIFELINE_TLS_ENABLED=" + secret},
			wantErr: []string{"LIFELINE_TLS_ENABLED", "true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeConfig(t, tt.yaml)
			}
			_, err := load(path, tt.env)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			// Not even a part of the secret: yaml.v3 shows its first 7
			// characters. (The file's path, named after the test, does
			// not count.)
			msg := err.Error()
			if path != "" {
				msg = strings.ReplaceAll(msg, path, "lifeline.yaml")
			}
			for i := 0; i+4 <= len(secret); i++ {
				if strings.Contains(msg, secret[i:i+4]) {
					t.Fatalf("error %q shows %q of the secret", err, secret[i:i+4])
				}
			}
		})
	}
}

// TestValidateIngest: the ingest: keys are checked only when the listener
// is on, and each error names its key and the fix.
func TestValidateIngest(t *testing.T) {
	on := func(f func(h *config.IngestHTTP)) config.Config {
		c := config.Defaults()
		c.Ingest.HTTP.Addr = "127.0.0.1:8081"
		c.Ingest.HTTP.WriteKeys = []string{"wk"}
		f(&c.Ingest.HTTP)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  config.Config
		want string // "" valid
	}{
		{"off by default, whatever the rest", func() config.Config { c := config.Defaults(); c.Ingest.HTTP.MaxBodyBytes = -1; return c }(), ""},
		{"on with write keys", on(func(*config.IngestHTTP) {}), ""},
		{"on with only a webhook", on(func(h *config.IngestHTTP) { h.WriteKeys = nil; h.Webhooks.Typeform.Secret = "x" }), ""},
		{"on with nothing to serve", on(func(h *config.IngestHTTP) { h.WriteKeys = nil }), "ingest.http: addr is set but no path is on"},
		{"bad addr", on(func(h *config.IngestHTTP) { h.Addr = "8081" }), "ingest.http.addr: \"8081\" is not host:port"},
		{"empty write key", on(func(h *config.IngestHTTP) { h.WriteKeys = []string{"a", ""} }), "ingest.http.write_keys[1]: empty"},
		{"tiny body", on(func(h *config.IngestHTTP) { h.MaxBodyBytes = 10 }), "ingest.http.max_body_bytes: 10"},
		{"write timeout under produce timeout", on(func(h *config.IngestHTTP) { h.WriteTimeout = h.ProduceTimeout }), "ingest.http.write_timeout: 10s must exceed ingest.http.produce_timeout"},
		{"small buffer", on(func(h *config.IngestHTTP) { h.MaxBufferedBytes = 1000 }), "ingest.http.max_buffered_bytes: 1000"},
		{"negative tolerance", on(func(h *config.IngestHTTP) { h.Webhooks.Stripe.Tolerance = -1 }), "ingest.http.webhooks.stripe.tolerance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("invalid: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDecodeOptions: the decoder gets the input: section as configured,
// and the defaults give the decoder's own defaults.
func TestDecodeOptions(t *testing.T) {
	c := config.Defaults()
	o := c.DecodeOptions()
	if o.MaxBytes != decode.DefaultMaxBytes || o.MaxValues != decode.DefaultMaxValues || o.CustomerField != "customer_id" {
		t.Errorf("defaults give %+v", o)
	}
	for _, src := range decode.Sources() {
		if !reflect.DeepEqual(o.CustomerPaths[src], decode.DefaultCustomerPaths(src)) {
			t.Errorf("%s: paths %v, want the decoder's defaults %v", src, o.CustomerPaths[src], decode.DefaultCustomerPaths(src))
		}
	}
	c.Input.CustomerPaths.Stripe = []string{"data.object.metadata.user_id"}
	c.Input.CustomerPaths.Snowplow = nil
	o = c.DecodeOptions()
	if got := o.CustomerPaths["stripe"]; !reflect.DeepEqual(got, []string{"data.object.metadata.user_id"}) {
		t.Errorf("stripe paths %v", got)
	}
	if _, ok := o.CustomerPaths["snowplow"]; ok {
		t.Errorf("an empty list is passed on, want the decoder's default")
	}
}
