package httpapi

// Customer lookups against real runtimes: a kfake broker on loopback, two
// instances of one group (each a kafka.Runtime over its own Pebble store,
// and an HTTP server asking the other as its peer), fed by producers that
// do not partition like the Java client.

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// Generous: the tests share two cores with other work.
const waitLong = 90 * time.Second

// node is one instance: a runtime over its own engine, served over HTTP
// on a loopback port of its own.
type node struct {
	name string
	rt   *kafka.Runtime
	eng  *engine.Engine
	url  string
	// stopHTTP stops the HTTP server (the runtime keeps running).
	stopHTTP func()
	done     chan struct{}
	err      error
}

// cluster is a kfake broker and the config its instances share.
type cluster struct {
	addr  string
	parts int32
	cfg   config.Config
}

func newCluster(t testing.TB, parts int32) *cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		return net.Listen(network, "127.0.0.1:0")
	}))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	cfg := config.Defaults()
	cfg.Brokers = []string{c.ListenAddrs()[0]}
	cfg.Group = "lifeline-lookup"
	cfg.CreateTopics = config.CreateTopics{Enabled: true, Partitions: parts, Replication: 1}
	cfg.Engine.IdleTimeout = config.Duration(time.Hour)
	cfg.Engine.MaxEventAhead = 0
	cfg.Engine.TransactionTimeout = config.Duration(30 * time.Second)
	return &cluster{addr: c.ListenAddrs()[0], parts: parts, cfg: cfg}
}

// listen binds a loopback port for an instance's HTTP, so that its URL is
// known before the peers that name it are built.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// start runs an instance named name over its own store, serving HTTP on
// ln and asking peers (none if empty) until the test ends.
func (c *cluster) start(t testing.TB, name string, ln net.Listener, peers ...string) *node {
	t.Helper()
	cfg := c.cfg
	cfg.ClientID = name
	cfg.StateDir = t.TempDir()
	cfg.API.Peers = peers
	cfg.API.PeerTimeout = config.Duration(time.Second)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(cfg.StateDir, rules.Default(), cfg.Engine.Options())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	clock := func() time.Time { return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) }
	rt, err := kafka.New(cfg, eng, kafka.Options{Logger: zerolog.Nop(), Metrics: metrics.New(reg, "test"), Clock: clock})
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	p, err := NewPeers(PeersConfig{URLs: cfg.API.Peers, Timeout: cfg.API.PeerTimeout.Std(), Max: cfg.API.MaxPeers})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, rt: rt, eng: eng, url: "http://" + ln.Addr().String(), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(n.done)
		n.err = rt.Run(ctx)
	}()
	hctx, hcancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := Serve(hctx, ln, Handler(rt, reg, zerolog.Nop(), WithPeers(p))); err != nil {
			t.Errorf("%s: serve: %v", name, err)
		}
	}()
	var once sync.Once
	n.stopHTTP = func() { once.Do(func() { hcancel(); <-served; p.Close() }) }
	t.Cleanup(func() {
		n.stopHTTP()
		cancel()
		select {
		case <-n.done:
		case <-time.After(waitLong):
			t.Errorf("%s: Run did not return", name)
			<-n.done
		}
		if err := eng.Close(); err != nil {
			t.Errorf("%s: close engine: %v", name, err)
		}
	})
	return n
}

// waitSplit waits until the instances hold every partition between them,
// each at least one, all restored.
func waitSplit(t testing.TB, parts int32, nodes ...*node) {
	t.Helper()
	waitUntil(t, "the group to split the partitions, all restored", func() (bool, string) {
		held, all := 0, true
		var why []string
		for _, n := range nodes {
			ok, reason := n.rt.Ready()
			ps := n.rt.Partitions()
			all = all && ok && len(ps) > 0
			held += len(ps)
			why = append(why, fmt.Sprintf("%s: %s (%d)", n.name, reason, len(ps)))
		}
		return all && held == int(parts), strings.Join(why, "; ")
	})
}

// waitProcessed waits until the instances have committed every record
// up to ends.
func waitProcessed(t testing.TB, ends map[int32]int64, nodes ...*node) {
	t.Helper()
	waitUntil(t, "every record to be processed", func() (bool, string) {
		next := map[int32]int64{}
		for _, n := range nodes {
			for p, m := range n.rt.Metas() {
				next[p] = max(next[p], m.Next)
			}
		}
		for p, end := range ends {
			if next[p] < end {
				return false, fmt.Sprintf("committed %v, ends %v", next, ends)
			}
		}
		return true, ""
	})
}

func waitUntil(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", waitLong, what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// customerEvents are a customer's records: signed up, then an order of
// revenue, so that it ends in conversion with that lifetime value.
func customerEvents(id string, revenue int) []string {
	return []string{
		fmt.Sprintf(`{"type":"track","event":"Signed Up","userId":%q,"messageId":"%s-1","timestamp":"2026-01-10T10:00:00Z"}`, id, id),
		fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":%q,"messageId":"%s-2","timestamp":"2026-01-11T10:00:00Z","properties":{"revenue":%d}}`, id, id, revenue),
	}
}

// produceTo writes each customer's events keyed by customer, to the
// partition where says, and returns the end offsets.
func produceTo(t testing.TB, c *cluster, customers []string, where func(i int, id string) int32) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var recs []*kgo.Record
	for i, id := range customers {
		p := where(i, id)
		for _, v := range customerEvents(id, 100+i) {
			recs = append(recs, &kgo.Record{Topic: c.cfg.Topics.Input, Partition: p, Key: []byte(id), Value: []byte(v)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	ends := map[int32]int64{}
	for _, r := range recs {
		ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
	}
	return ends
}

// lookedUp is what GET /v1/customers/{id} answered.
type lookedUp struct {
	code int
	body []byte
	// The 200 answer's fields the tests check.
	ID        string         `json:"customer_id"`
	Stage     string         `json:"stage"`
	Partition int32          `json:"partition"`
	Counters  map[string]any `json:"counters"`
	// The 404 and 503 answers'.
	Searched   []int32     `json:"searched"`
	Unsearched []int32     `json:"unsearched"`
	PeerErrors []PeerError `json:"peer_errors"`
	retryAfter string
}

func lookup(t *testing.T, base, id string) lookedUp {
	t.Helper()
	resp, err := http.Get(base + "/v1/customers/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	l := lookedUp{code: resp.StatusCode, body: body, retryAfter: resp.Header.Get("Retry-After")}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("GET %s/v1/customers/%s: %d, body not JSON: %v: %s", base, id, resp.StatusCode, err, body)
	}
	return l
}

// checkCustomer asserts that base answers 200 with customer i's state, on
// partition want.
func checkCustomer(t *testing.T, n *node, i int, id string, want int32) {
	t.Helper()
	l := lookup(t, n.url, id)
	if l.code != http.StatusOK || l.ID != id || l.Stage != "conversion" || l.Counters["lifetime_value"] != float64(100+i) || l.Partition != want {
		t.Errorf("GET %s from %s: %d %s; want 200, in conversion, lifetime_value %d, partition %d", id, n.name, l.code, l.body, 100+i, want)
	}
}

// notLikely is a partition among n that none of the common partitioners
// gives id (there are at most 5 likely ones): only the search of every
// partition finds a customer there.
func notLikely(id string, n int32) int32 {
	likely := kafka.LikelyPartitions(id, n)
	for p := range n {
		if !slices.Contains(likely, p) {
			return p
		}
	}
	panic("every partition is likely")
}

// twoNodes starts two instances of one group, each the other's peer, and
// waits until they share the partitions.
func twoNodes(t testing.TB, c *cluster) (*node, *node) {
	t.Helper()
	lnA, lnB := listen(t), listen(t)
	a := c.start(t, "lookup-a", lnA, "http://"+lnB.Addr().String())
	waitSplit(t, c.parts, a)
	// B names A by a dns+ URL: an IP address resolves to itself.
	b := c.start(t, "lookup-b", lnB, "dns+http://"+lnA.Addr().String())
	waitSplit(t, c.parts, a, b)
	return a, b
}

// Customers whose records were not partitioned like the Java client's
// (CRC32 like kcat, or partitions chosen by hand) are found from either
// instance; an unknown one is 404 once every partition was searched;
// with one instance's HTTP down, the other says which partitions it could
// not search.
func TestLookupWhateverThePartitioner(t *testing.T) {
	t.Parallel()
	const parts = 6
	c := newCluster(t, parts)
	a, b := twoNodes(t, c)

	var customers []string
	want := map[string]int32{}
	for i := range 40 {
		customers = append(customers, fmt.Sprintf("cus_%03d", i))
	}
	ends := produceTo(t, c, customers, func(i int, id string) int32 {
		var p int32
		if i%2 == 0 {
			p = int32(crc32.ChecksumIEEE([]byte(id)) % parts) // librdkafka's consistent
		} else {
			p = notLikely(id, parts) // by hand, somewhere no partitioner puts it
		}
		want[id] = p
		return p
	})
	waitProcessed(t, ends, a, b)
	elsewhere := 0
	for i, id := range customers {
		if want[id] != kafka.PartitionFor(id, parts) {
			elsewhere++
		}
		for _, n := range []*node{a, b} {
			checkCustomer(t, n, i, id, want[id])
		}
	}
	t.Logf("%d of %d customers are not on their murmur2 partition", elsewhere, len(customers))
	if elsewhere < len(customers)/2 {
		t.Errorf("only %d of %d customers off their murmur2 partition: the test does not test the search", elsewhere, len(customers))
	}

	for _, n := range []*node{a, b} {
		l := lookup(t, n.url, "cus_unknown")
		if l.code != http.StatusNotFound || !slices.Equal(l.Searched, []int32{0, 1, 2, 3, 4, 5}) {
			t.Errorf("unknown customer from %s: %d %s; want 404 having searched all 6 partitions", n.name, l.code, l.body)
		}
	}

	// B's HTTP goes down; B keeps its partitions.
	b.stopHTTP()
	ofB := slices.Sorted(maps.Keys(b.rt.Partitions()))
	l := lookup(t, a.url, "cus_unknown")
	if l.code != http.StatusServiceUnavailable || !slices.Equal(l.Unsearched, ofB) || l.retryAfter == "" ||
		len(l.PeerErrors) != 1 || !strings.Contains(string(l.body), fmt.Sprint(ofB)) {
		t.Errorf("unknown customer with the peer down: %d (Retry-After %q) %s; want 503 naming B's partitions %v as not searched, and the peer's error", l.code, l.retryAfter, l.body, ofB)
	}
	onA, onB := 0, 0
	for i, id := range customers {
		if slices.Contains(ofB, want[id]) {
			onB++
			if l := lookup(t, a.url, id); l.code != http.StatusServiceUnavailable || !slices.Equal(l.Unsearched, ofB) {
				t.Errorf("%s, on B's partition %d, with B down: %d %s; want 503 naming %v", id, want[id], l.code, l.body, ofB)
			}
			continue
		}
		onA++
		checkCustomer(t, a, i, id, want[id])
	}
	if onA == 0 || onB == 0 {
		t.Errorf("customers on A: %d, on B: %d; the test needs some on each", onA, onB)
	}
}

// kcatPath finds kcat; without it the test is skipped, except in CI
// (CI=true), which installs it.
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

// kcat with its default partitioner (librdkafka's consistent_random:
// CRC32 of the key) puts most customers off their murmur2 partition; each
// is found, from either instance, where kcat put it.
func TestLookupKcatDefaultPartitioner(t *testing.T) {
	t.Parallel()
	kcat := kcatPath(t)
	const parts = 8
	c := newCluster(t, parts)
	a, b := twoNodes(t, c)

	var lines, customers []string
	for i := range 40 {
		id := fmt.Sprintf("kc_%03d", i)
		customers = append(customers, id)
		for _, v := range customerEvents(id, 100+i) {
			lines = append(lines, id+"|"+v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", c.addr, "-P", "-t", c.cfg.Topics.Input, "-K", "|", "-q")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v: %s", err, out)
	}
	// kcat put them by CRC32 (two records a customer).
	want := map[int32]int64{}
	for _, id := range customers {
		want[int32(crc32.ChecksumIEEE([]byte(id))%parts)] += 2
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, c.cfg.Topics.Input)
	if err != nil {
		t.Fatal(err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			ends[o.Partition] = o.Offset
		}
	})
	if !maps.Equal(ends, want) {
		t.Errorf("kcat's records per partition %v; by CRC32 of the key %v", ends, want)
	}
	waitProcessed(t, ends, a, b)
	elsewhere := 0
	for i, id := range customers {
		want := int32(crc32.ChecksumIEEE([]byte(id)) % parts)
		if want != kafka.PartitionFor(id, parts) {
			elsewhere++
		}
		for _, n := range []*node{a, b} {
			checkCustomer(t, n, i, id, want)
		}
	}
	t.Logf("kcat put %d of %d customers off their murmur2 partition", elsewhere, len(customers))
	if elsewhere == 0 {
		t.Error("kcat put every customer on its murmur2 partition: the test does not test the search")
	}
}
