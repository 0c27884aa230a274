package ingest_test

// The tests' machinery: a kfake broker on loopback, a listener serving
// over a real socket, signed webhook requests, and a read_committed reader
// of the input topic.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Intercom's scheme
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/ingest"
)

const (
	inputTopic = "customer-events"
	partitions = 4
	writeKey   = "wk_test_1"
)

// Webhook secrets of the tests.
const (
	stripeSecret    = "whsec_test"
	zendeskSecret   = "zd_secret"
	intercomSecret  = "ic_secret"
	delightedSecret = "dl_api_key"
	typeformSecret  = "tf_secret"
	ceToken         = "ce_token"
)

// newCluster starts a one-broker kfake cluster on a free loopback port with
// the input topic; the test closes it.
func newCluster(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, inputTopic),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, "127.0.0.1:0")
		})}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// testConfig turns every path on, for the broker at addr.
func testConfig(t testing.TB, addr string) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.Brokers = []string{addr}
	cfg.Topics.Input = inputTopic
	h := &cfg.Ingest.HTTP
	h.Addr = "127.0.0.1:0"
	h.WriteKeys = []string{"wk_other", writeKey}
	h.ProduceTimeout = config.Duration(5 * time.Second)
	h.WriteTimeout = config.Duration(10 * time.Second)
	h.Webhooks = config.IngestWebhooks{
		Stripe:      config.IngestStripe{Secret: stripeSecret, Tolerance: config.Duration(5 * time.Minute)},
		Zendesk:     config.IngestSecret{Secret: zendeskSecret},
		Intercom:    config.IngestSecret{Secret: intercomSecret},
		Delighted:   config.IngestSecret{Secret: delightedSecret},
		Typeform:    config.IngestSecret{Secret: typeformSecret},
		CloudEvents: config.IngestSecret{Secret: ceToken},
	}
	return cfg
}

// listener is a running ingest server.
type listener struct {
	url  string
	reg  *prometheus.Registry
	stop func() error // stops Serve and returns its result
}

// startListener serves cfg on a loopback port until the test ends.
func startListener(t testing.TB, cfg config.Config, opts ingest.Options) *listener {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	if opts.Logger.GetLevel() == zerolog.TraceLevel { // the zero Logger
		opts.Logger = zerolog.Nop()
	}
	srv, err := ingest.New(&cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Ingest.HTTP.Addr)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var stopped bool
	var result error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return &listener{url: "http://" + ln.Addr().String(), reg: reg, stop: stop}
}

// answer is an HTTP response as a test checks it.
type answer struct {
	status int
	body   map[string]any
	header http.Header
}

func (a answer) String() string { return fmt.Sprintf("%d %v", a.status, a.body) }

// post sends body to path with the given headers.
func post(t *testing.T, client *http.Client, url, path string, body []byte, hdr map[string]string) answer {
	t.Helper()
	a, err := tryPost(client, url, path, body, hdr)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return a
}

func tryPost(client *http.Client, url, path string, body []byte, hdr map[string]string) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		return a, fmt.Errorf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return a, nil
}

func basic(key string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))}
}

func stripeHeader(secret string, ts int64, body []byte) string {
	t := strconv.FormatInt(ts, 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t + "."))
	m.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// signed returns the headers each webhook path checks, for body.
func signed(path string, body []byte, now time.Time) map[string]string {
	h256 := func(secret string, parts ...[]byte) []byte {
		m := hmac.New(sha256.New, []byte(secret))
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	switch path {
	case ingest.PathStripe:
		return map[string]string{"Stripe-Signature": stripeHeader(stripeSecret, now.Unix(), body)}
	case ingest.PathZendesk:
		ts := now.UTC().Format(time.RFC3339)
		return map[string]string{"X-Zendesk-Webhook-Signature": base64.StdEncoding.EncodeToString(h256(zendeskSecret, []byte(ts), body)),
			"X-Zendesk-Webhook-Signature-Timestamp": ts}
	case ingest.PathIntercom:
		m := hmac.New(sha1.New, []byte(intercomSecret))
		m.Write(body)
		return map[string]string{"X-Hub-Signature": "sha1=" + hex.EncodeToString(m.Sum(nil))}
	case ingest.PathDelighted:
		return map[string]string{"X-Delighted-Webhook-Signature": "sha256=" + hex.EncodeToString(h256(delightedSecret, body))}
	case ingest.PathTypeform:
		return map[string]string{"Typeform-Signature": "sha256=" + base64.StdEncoding.EncodeToString(h256(typeformSecret, body))}
	case ingest.PathCloudEvents:
		return map[string]string{"Authorization": "Bearer " + ceToken}
	}
	return basic(writeKey)
}

// readAll reads the input topic with read_committed from the start until
// want records have come and then quiet for a while (to see extras), or the
// deadline passes.
func readAll(t *testing.T, addr string, want int, quiet time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(inputTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		wait := 5 * time.Second
		if len(got) >= want {
			wait = quiet
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r); n++ })
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
			}
		}
		if n == 0 && len(got) >= want {
			break
		}
	}
	return got
}
