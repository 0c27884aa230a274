package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/rules"
)

// TestIngestToCustomer: events posted to the ingest listener of a running
// node reach the engine: GET /v1/customers/{id} shows them, and the
// listener's metrics are on the node's /metrics.
func TestIngestToCustomer(t *testing.T) {
	kf, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	cfg := config.Defaults()
	cfg.Brokers = kf.ListenAddrs()
	cfg.ClientID = "ingest-e2e"
	cfg.StateDir = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.CreateTopics = config.CreateTopics{Enabled: true, Partitions: 4, Replication: 1}
	cfg.Engine.SessionTimeout = config.Duration(6 * time.Second)
	cfg.Ingest.HTTP.Addr = "127.0.0.1:0"
	cfg.Ingest.HTTP.WriteKeys = []string{"wk"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	pack := rules.Default()
	n, err := newNode(nodeOptions{cfg: cfg, pack: pack, log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	api := "http://" + n.httpAddr()
	in := "http://" + n.ingestLn.Addr().String()
	client := &http.Client{Timeout: 20 * time.Second}
	get := func(url string) (int, []byte) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("/readyz", func() bool { code, _ := get(api + "/readyz"); return code == 200 })

	now := time.Now().UTC()
	batch := `{"batch":[
		{"type":"track","event":"Signed Up","userId":"ann","messageId":"e1","timestamp":"` + now.Add(-2*time.Hour).Format(time.RFC3339) + `"},
		{"type":"track","event":"Order Completed","userId":"ann","messageId":"e2","timestamp":"` + now.Add(-time.Hour).Format(time.RFC3339) + `","properties":{"revenue":49}}
	]}`
	req, _ := http.NewRequest(http.MethodPost, in+"/v1/batch", bytes.NewReader([]byte(batch)))
	req.SetBasicAuth("wk", "")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/batch: %d %s", resp.StatusCode, body)
	}

	var c struct {
		Stage    string         `json:"stage"`
		Counters map[string]any `json:"counters"`
	}
	waitFor("ann in conversion", func() bool {
		code, b := get(api + "/v1/customers/ann")
		return code == 200 && json.Unmarshal(b, &c) == nil && c.Stage == "conversion"
	})
	_, metrics := get(api + "/metrics")
	if !strings.Contains(string(metrics), `lifeline_ingest_records_total{path="/v1/batch"} 2`) {
		t.Errorf("node /metrics lacks lifeline_ingest_records_total{path=\"/v1/batch\"} 2")
	}
}
