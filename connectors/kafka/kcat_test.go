package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
)

// kcatPath finds kcat. Without it the test is skipped on a workstation but
// fails in CI (CI=true), where .ci/run installs it.
func kcatPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("kcat is not on PATH, and CI=true: CI must install it (apt-get install kcat)")
	}
	t.Skip("kcat is not on PATH (set CI=true to make this a failure)")
	return ""
}

func runKcat(t *testing.T, kcat string, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// TestKcat drives Lifeline with a client that is not franz-go: kcat
// (librdkafka) produces the input, keyed with the Java client's
// partitioner, and reads the alerts back with read_committed.
func TestKcat(t *testing.T) {
	t.Parallel()
	kcat := kcatPath(t)
	const nparts = 2
	_, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-kcat", "kcat-1", nparts, config.ExactlyOnce)
	in := startInstance(t, cfg)
	waitReady(t, nparts, in)

	var lines []string
	event := func(customer, name string, day, n int) {
		lines = append(lines, fmt.Sprintf(`%s|{"type":"track","event":"%s","userId":"%s","messageId":"%s-%d","timestamp":"2026-01-%02dT10:%02d:00Z","properties":{"ticket_id":"t%d"}}`,
			customer, name, customer, customer, n, day, n, n))
	}
	event("cus_busy", "Signed Up", 1, 0)
	event("cus_calm", "Signed Up", 1, 1)
	for i := 2; i < 5; i++ {
		event("cus_busy", "Ticket Opened", i, i)
	}
	for i := 5; i < 7; i++ {
		event("cus_calm", "Ticket Opened", i, i)
	}
	runKcat(t, kcat, strings.Join(lines, "\n")+"\n",
		"-b", addr, "-P", "-t", cfg.Topics.Input, "-K", "|", "-X", "partitioner=murmur2_random", "-q")

	// Wait until the runtime has processed all kcat wrote.
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	listed, err := kadm.NewClient(newClient(t, addr)).ListEndOffsets(ctx, cfg.Topics.Input)
	if err != nil {
		t.Fatal(err)
	}
	ends, total := map[int32]int64{}, int64(0)
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset; total += o.Offset })
	if total != int64(len(lines)) {
		t.Fatalf("input holds %d records, kcat was given %d", total, len(lines))
	}
	waitProcessed(t, ends, in)

	out := runKcat(t, kcat, "",
		"-b", addr, "-C", "-t", cfg.Topics.Alerts, "-e", "-o", "beginning", "-f", `%k|%s\n`,
		"-X", "isolation.level=read_committed", "-q")
	var alerts []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "|")
		if !ok {
			t.Fatalf("kcat printed %q, not key|value", line)
		}
		var a struct {
			Kind       string   `json:"kind"`
			CustomerID string   `json:"customer_id"`
			Rule       string   `json:"rule"`
			Severity   string   `json:"severity"`
			Status     string   `json:"status"`
			Reasons    []string `json:"reasons"`
			AlertID    string   `json:"alert_id"`
		}
		if err := json.Unmarshal([]byte(value), &a); err != nil {
			t.Fatalf("alert %q: %v", value, err)
		}
		if key != a.CustomerID {
			t.Errorf("alert keyed %q for customer %q", key, a.CustomerID)
		}
		alerts = append(alerts, fmt.Sprintf("%s %s %s %s %q", a.CustomerID, a.Rule, a.Severity, a.Status, a.Reasons))
		if a.AlertID == "" {
			t.Errorf("alert without alert_id: %s", value)
		}
	}
	want := `cus_busy support-overload warning firing ["3 support tickets open (limit 3)"]`
	if len(alerts) != 1 || alerts[0] != want {
		t.Errorf("kcat read the alerts:\n  %s\nwant exactly:\n  %s", strings.Join(alerts, "\n  "), want)
	}

	// librdkafka's murmur2 partitioner put each customer where
	// kafka.PartitionFor (and so the HTTP API's lookup) expects it.
	for _, c := range []string{"cus_busy", "cus_calm"} {
		st, ok, err := in.rt.Lookup(kafka.PartitionFor(c, nparts), c)
		if err != nil || !ok {
			t.Errorf("%s is not on partition %d: %v", c, kafka.PartitionFor(c, nparts), err)
			continue
		}
		if want := map[string]uint32{"cus_busy": 3, "cus_calm": 2}[c]; st.OpenTickets != want {
			t.Errorf("%s has %d open tickets, want %d", c, st.OpenTickets, want)
		}
	}
}
