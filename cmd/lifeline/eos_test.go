package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/engine"
)

// TestKillNineExactlyOnce is the reference model of the exactly-once
// claim, after Kafka Streams' StreamsEosTest: three `lifeline run`
// processes in one group against a broker on loopback, fed in waves, are
// killed with SIGKILL over and over: at random instants, at each named
// failpoint of the batch cycle (kafka.Failpoint*: outputs on the broker
// before the commit, committed before the store has it, after a
// checkpoint, mid-restore), and once with the state directory lost, as
// when a pod is rescheduled on another node. Each is restarted at once.
// Then a verifier reads every output topic with read_committed and
// requires, customer by customer, exactly the records that `lifeline
// replay` writes for the committed input, partition by partition: none
// lost, none repeated (alert ids are counted), the same order; and no
// transaction left open.
//
// LIFELINE_TEST_SEED runs a logged seed again (kill instants still vary).
// LIFELINE_SOAK=10m runs it for that long, with more customers, and with
// one instance's connections cut every 0.5-1.5 s (the chaos dialer of the
// failpoints build).
func TestKillNineExactlyOnce(t *testing.T) {
	bin := lifelineBinary(t)
	soak := soakDuration(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LIFELINE_TEST_SEED"); s != "" {
		// A failure's seed, to run it again.
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("LIFELINE_TEST_SEED=%q: expected the seed a failed run logged", s)
		}
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))

	customers, waves := 400, 3
	if soak > 0 {
		customers, waves = 3000, 12
	}
	tmp := t.TempDir()
	input := filepath.Join(tmp, "events.ndjson")
	if out, err := exec.Command(bin, "gen", "--customers", strconv.Itoa(customers), "--days", "60", "--seed", strconv.FormatUint(seed%1000, 10), "--out", input).CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	lines := inputLines(t, input)
	// A tenth is held back for the failpoints the waves did not reach.
	reserve := lines[len(lines)*9/10:]
	lines = lines[:len(lines)*9/10]

	const nparts = 6
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
		kfake.GroupMinSessionTimeout(500*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]
	cfg := config.Defaults()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+2*soak)
	defer cancel()
	adm := newAdmin(t, addr)
	if _, err := adm.CreateTopic(ctx, nparts, 1, nil, cfg.Topics.Input); err != nil {
		t.Fatal(err)
	}

	c := &cluster3{t: t, bin: bin, dir: tmp, addr: addr, nparts: nparts, kf: cluster, group: cfg.Group}
	for i := range 3 {
		c.nodes = append(c.nodes, c.node(i))
	}
	if soak > 0 {
		c.nodes[2].env = []string{"CHAOS_DIAL=500ms-1500ms", "CHAOS_SEED=" + strconv.FormatUint(seed, 10)}
	}
	for _, n := range c.nodes {
		c.start(n, "")
	}
	defer c.stopAll()
	c.stable()

	prod := newTestClient(t, addr)
	var produced []inputRecord
	feed := func(lines []inputLine) {
		produced = append(produced, produceWave(ctx, t, prod, cfg.Topics.Input, lines)...)
	}
	fp := []string{kafka.FailpointProduced, kafka.FailpointCommitted, kafka.FailpointCheckpointed, kafka.FailpointRestoring}
	reached := map[string]int{}
	randomKills, wiped := 0, 0
	deadline := time.Now().Add(soak)
	for w := 0; w < waves || time.Now().Before(deadline); w++ {
		wave := lines[w%waves*len(lines)/waves : (w%waves+1)*len(lines)/waves]
		if w >= waves {
			// The soak goes on with the same events again: applied
			// already, each is a duplicate the engine must drop.
			wave = wave[:len(wave)/4]
		}
		// A kill at a failpoint while the first half of the wave arrives,
		// then random kills while the rest is processed, one of them with
		// the state directory lost.
		name := fp[w%len(fp)]
		n := c.nodes[rng.IntN(len(c.nodes))]
		ok := c.killAt(n, name, 1+rng.IntN(2), wave[:len(wave)/2], feed)
		if ok {
			reached[name]++
		}
		t.Logf("wave %d: %s killed at failpoint %s: %v", w, n.name, name, ok)
		feed(wave[len(wave)/2:])
		for k := range 2 {
			n := c.nodes[rng.IntN(len(c.nodes))]
			time.Sleep(time.Duration(200+rng.IntN(1200)) * time.Millisecond)
			c.kill(n)
			if w == 1 && k == 1 {
				wiped++
				c.start(n, "wipe")
				c.stable()
				t.Logf("wave %d: %s killed, restarted on an empty state dir", w, n.name)
				continue
			}
			randomKills++
			c.start(n, "")
			c.stable()
			t.Logf("wave %d: %s killed", w, n.name)
		}
	}
	// Every failpoint, reached once at least, even if the waves did not
	// get to it.
	for _, name := range fp {
		for try := 0; reached[name] == 0 && try < 3; try++ {
			chunk := reserve[:min(len(reserve), 300)]
			reserve = reserve[len(chunk):]
			if c.killAt(c.nodes[try%len(c.nodes)], name, 1, chunk, feed) {
				reached[name]++
			}
		}
		if reached[name] == 0 {
			t.Errorf("failpoint %s was never reached", name)
		}
	}
	feed(reserve)
	ends := map[int32]int64{}
	for _, r := range produced {
		ends[r.partition] = max(ends[r.partition], r.offset+1)
	}
	c.waitCommitted(ctx, adm, cfg.Group, cfg.Topics.Input, ends)
	c.stopAll()

	// No transaction may be left open.
	if txns, err := adm.ListTransactions(ctx, nil, nil); err != nil {
		t.Errorf("list transactions: %v", err)
	} else {
		for _, tx := range txns.Sorted() {
			if tx.State == "Ongoing" {
				t.Errorf("transaction %s is left open", tx.TxnID)
			}
		}
	}

	got := readCommitted(ctx, t, addr, cfg, nparts)
	want := c.replayByPartition(produced)
	lost, extra, dups := compareRecords(t, want, got)
	total := 0
	for _, rs := range want {
		total += len(rs)
	}
	summary := fmt.Sprintf("events %d, instances 3, kills %d (random %d, failpoints %v, state lost %d), output records %d, lost %d, duplicated alert ids %d, unexpected %d",
		len(produced), randomKills+wiped+sum(reached), randomKills, reached, wiped, total, lost, dups, extra)
	t.Log(summary)
	if soak > 0 {
		fmt.Println("soak:", summary)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// soakDuration is LIFELINE_SOAK, or 0: the short version.
func soakDuration(t *testing.T) time.Duration {
	s := os.Getenv("LIFELINE_SOAK")
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("LIFELINE_SOAK=%q: expected a duration such as 10m", s)
	}
	return d
}

// inputLine is one event of the input file and the customer it keys.
type inputLine struct {
	customer string
	raw      []byte
}

func inputLines(t *testing.T, file string) []inputLine {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := decode.New(decode.Options{})
	var out []inputLine
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		var ev engine.Event
		if len(line) == 0 || dec.Decode(line, nil, &ev) != nil {
			continue
		}
		out = append(out, inputLine{customer: strings.Clone(ev.CustomerID), raw: line})
	}
	return out
}

// inputRecord is an input line where the broker put it.
type inputRecord struct {
	inputLine
	partition int32
	offset    int64
}

func newTestClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t *testing.T, addr string) *kadm.Client {
	return kadm.NewClient(newTestClient(t, addr))
}

// produceWave produces lines keyed by customer (the Java client's
// partitioner, as upstream producers use) and returns where they went.
func produceWave(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, lines []inputLine) []inputRecord {
	t.Helper()
	out := make([]inputRecord, len(lines))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i, l := range lines {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(l.customer), Value: l.raw}, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[i] = inputRecord{inputLine: l, partition: r.Partition, offset: r.Offset}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce input: %v", firstErr)
	}
	return out
}

// cluster3 runs the `lifeline run` processes of TestKillNineExactlyOnce.
type cluster3 struct {
	t      *testing.T
	kf     *kfake.Cluster
	group  string
	bin    string
	dir    string
	addr   string
	nparts int32
	nodes  []*proc
}

// proc is one instance: its config, state dir, and the process running
// it, if any.
type proc struct {
	name, cfgPath, stateDir string
	env                     []string // extra environment, every start
	cmd                     *exec.Cmd
	done                    chan struct{}
	stderr                  *os.File
	restarts                int
}

func (c *cluster3) node(i int) *proc {
	name := fmt.Sprintf("node-%d", i)
	n := &proc{name: name, cfgPath: filepath.Join(c.dir, name+".yaml"), stateDir: filepath.Join(c.dir, name+"-state")}
	// Small batches and rare checkpoints: many transactions for the kills
	// to land in, and restores with work to do. The idle timeout is out of
	// the test's reach, so that the outputs depend on the input only, as
	// replay's do.
	cfgYAML := fmt.Sprintf(`brokers: [%s]
client_id: %s
state_dir: %s
http: 127.0.0.1:0
create_topics: {enabled: true, partitions: %d, replication: 1}
engine:
  idle_timeout: 24h
  max_poll_records: 150
  checkpoint_events: 200
  checkpoint_interval: 1h
  transaction_timeout: 10s
  session_timeout: 1s
guarantee: exactly_once
log: {level: info, format: json}
`, c.addr, name, n.stateDir, c.nparts)
	if err := os.WriteFile(n.cfgPath, []byte(cfgYAML), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// start starts n's process; failpoint is a FAILPOINT value, or
// "wipe" to start on an empty state directory, or "".
func (c *cluster3) start(n *proc, failpoint string) {
	c.t.Helper()
	if failpoint == "wipe" {
		if err := os.RemoveAll(n.stateDir); err != nil {
			c.t.Fatal(err)
		}
		failpoint = ""
	}
	f, err := os.OpenFile(filepath.Join(c.dir, n.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	fmt.Fprintf(f, "--- start %d (failpoint %q)\n", n.restarts, failpoint)
	n.restarts++
	cmd := exec.Command(c.bin, "run", "--config", n.cfgPath)
	// Not the test's own LIFELINE_SOAK, which lifeline would take for a
	// config key.
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIFELINE_") {
			environ = append(environ, kv)
		}
	}
	cmd.Env = append(append(environ, n.env...), "FAILPOINT="+failpoint)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		c.t.Fatal(err)
	}
	n.cmd, n.stderr, n.done = cmd, f, make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		f.Close()
		close(done)
	}(n.done)
}

// kill SIGKILLs n's process and waits for it to be gone.
func (c *cluster3) kill(n *proc) {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	n.cmd = nil
	c.stable()
}

// killAt restarts n with the failpoint name armed for its hit-th time
// and feeds lines to the input, a chunk at a time, until the process kills
// itself there or 30 s have passed; it reports whether it did. n runs
// again either way.
func (c *cluster3) killAt(n *proc, name string, hit int, lines []inputLine, feed func([]inputLine)) bool {
	c.t.Helper()
	c.kill(n)
	c.start(n, name+":"+strconv.Itoa(hit))
	c.stable()
	timeout := time.After(30 * time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-n.done:
			n.cmd = nil
			c.stable()
			break wait
		case <-timeout:
			c.kill(n)
			break wait
		case <-tick.C:
			chunk := lines[:min(len(lines), 60)]
			lines = lines[len(chunk):]
			feed(chunk)
		}
	}
	feed(lines)
	log, err := os.ReadFile(filepath.Join(c.dir, n.name+".log"))
	if err != nil {
		c.t.Fatal(err)
	}
	last := log[bytes.LastIndex(log, []byte("--- start")):]
	reached := bytes.Contains(last, []byte("failpoint "+name+": killing"))
	if !reached {
		if !bytes.Contains(last, []byte(`"level":"info"`)) {
			c.t.Fatalf("%s did not run:\n%s", n.name, last)
		}
		c.t.Logf("%s did not reach failpoint %s; its log:\n%s", n.name, name, tail(last, 4<<10))
	}
	c.start(n, "")
	c.stable()
	return reached
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// stable waits for the group to settle with every running instance a
// member, sharing every partition. The tests let a killed member leave
// (by its session timeout) before its restart joins: a broker waits for
// the members it knows to rejoin a rebalance for up to their rebalance
// timeout (a minute), and a dead one never does.
func (c *cluster3) stable() {
	c.t.Helper()
	members := 0
	for _, n := range c.nodes {
		if n.cmd != nil {
			members++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	g, err := c.kf.WaitGroupInfo(ctx, c.group, func(g *kfake.GroupInfo) bool {
		return g != nil && g.State == "Stable" && len(g.Members) == members && g.NumAssigned() == int(c.nparts)
	})
	if err != nil {
		c.t.Logf("group not stable after %v: %+v", time.Since(start), g)
		return
	}
}

// stopAll ends every process the way SIGTERM does.
func (c *cluster3) stopAll() {
	for _, n := range c.nodes {
		if n.cmd != nil {
			n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		select {
		case <-n.done:
		case <-time.After(90 * time.Second):
			c.t.Errorf("%s did not stop within 90s of SIGTERM", n.name)
			c.kill(n)
		}
		n.cmd = nil
	}
}

// logs returns every instance's log, for a failure.
func (c *cluster3) logs() string {
	var b strings.Builder
	for _, n := range c.nodes {
		data, _ := os.ReadFile(filepath.Join(c.dir, n.name+".log"))
		if len(data) > 64<<10 {
			data = data[len(data)-64<<10:]
		}
		fmt.Fprintf(&b, "=== %s (last 64 KiB)\n%s\n", n.name, data)
	}
	return b.String()
}

// waitCommitted waits until the group's committed input offsets reach
// ends: every record's outputs are committed.
func (c *cluster3) waitCommitted(ctx context.Context, adm *kadm.Client, group, topic string, ends map[int32]int64) {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		behind := 0
		if err == nil {
			for p, end := range ends {
				o, ok := offs.Lookup(topic, p)
				if !ok || o.At < end {
					behind++
				}
			}
		}
		if err == nil && behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the group's committed offsets did not reach the input's end (%d partitions behind, %v)\n%s", behind, err, c.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// replayByPartition runs `lifeline replay` over each input partition's
// records in offset order, as the partition's owner applied them, and
// returns the output records by kind and customer.
func (c *cluster3) replayByPartition(recs []inputRecord) map[string][]string {
	c.t.Helper()
	byPart := map[int32][]inputRecord{}
	for _, r := range recs {
		byPart[r.partition] = append(byPart[r.partition], r)
	}
	want := map[string][]string{}
	for p, rs := range byPart {
		sort.Slice(rs, func(i, j int) bool { return rs[i].offset < rs[j].offset })
		var in bytes.Buffer
		for _, r := range rs {
			in.Write(r.raw)
			in.WriteByte('\n')
		}
		file := filepath.Join(c.dir, fmt.Sprintf("partition-%d.ndjson", p))
		if err := os.WriteFile(file, in.Bytes(), 0o600); err != nil {
			c.t.Fatal(err)
		}
		cmd := exec.Command(c.bin, "replay", "--in", file)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			c.t.Fatalf("replay partition %d: %v\n%s", p, err, stderr.String())
		}
		for line := range bytes.Lines(out) {
			kind, customer := kindCustomer(c.t, line)
			k := kind + " " + customer
			want[k] = append(want[k], string(bytes.TrimSpace(line)))
		}
	}
	return want
}

func kindCustomer(t *testing.T, rec []byte) (string, string) {
	t.Helper()
	var v struct {
		Kind       string `json:"kind"`
		CustomerID string `json:"customer_id"`
	}
	if err := json.Unmarshal(rec, &v); err != nil || v.Kind == "" || v.CustomerID == "" {
		t.Fatalf("output record without kind and customer_id (%v): %s", err, rec)
	}
	return v.Kind, v.CustomerID
}

// readCommitted reads the alert, stage and health topics from the start
// with read_committed, to their ends: it first appends a sentinel to every
// partition (outside any transaction) and reads until it has seen them
// all. A transaction left open would hold the read at its first record
// until the read gives up.
func readCommitted(ctx context.Context, t *testing.T, addr string, cfg config.Config, nparts int32) map[string][]string {
	t.Helper()
	topics := map[string]string{cfg.Topics.Alerts: "alert", cfg.Topics.Stages: "stage", cfg.Topics.Health: "health"}
	const sentinel = "\x00end-of-test"
	prod := newTestClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	left := 0
	for topic := range topics {
		for p := range nparts {
			r := &kgo.Record{Topic: topic, Partition: p, Key: []byte(sentinel), Value: []byte("{}")}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce sentinel to %s/%d: %v", topic, p, err)
			}
			left++
		}
	}
	names := make([]string, 0, len(topics))
	for topic := range topics {
		names = append(names, topic)
	}
	cons := newTestClient(t, addr,
		kgo.ConsumeTopics(names...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	got := map[string][]string{}
	bad := 0
	for left > 0 {
		fetches := cons.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read_committed read of the outputs did not reach the sentinels (%d partitions short): a transaction left open?", left)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("read %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == sentinel {
				left--
				return
			}
			kind, customer := kindCustomer(t, r.Value)
			if kind != topics[r.Topic] || customer != string(r.Key) {
				if bad++; bad <= 5 {
					t.Errorf("%s/%d@%d: kind %s, key %q: %s", r.Topic, r.Partition, r.Offset, kind, r.Key, r.Value)
				}
			}
			k := kind + " " + customer
			got[k] = append(got[k], string(r.Value))
		})
	}
	return got
}

// compareRecords compares the records customer by customer: lost are in
// want and not got, extra in got and not want (or out of order), and dups
// the alert records whose id and status appear more than once in got.
func compareRecords(t *testing.T, want, got map[string][]string) (lost, extra, dups int) {
	t.Helper()
	keys := maps.Clone(want)
	maps.Copy(keys, got)
	sorted := slices.Sorted(maps.Keys(keys))
	seen := map[string]bool{}
	shown := 0
	for _, k := range sorted {
		w, g := want[k], got[k]
		for _, rec := range g {
			if !strings.HasPrefix(k, "alert ") {
				continue
			}
			var a struct {
				ID     string `json:"alert_id"`
				Status string `json:"status"`
			}
			if json.Unmarshal([]byte(rec), &a) == nil && a.ID != "" {
				id := a.ID + " " + a.Status
				if seen[id] {
					dups++
				}
				seen[id] = true
			}
		}
		if slices.Equal(w, g) {
			continue
		}
		lost += max(len(w)-len(g), 0)
		extra += max(len(g)-len(w), 0)
		if len(w) == len(g) {
			extra += len(g) // the same number, different records or order
		}
		if shown++; shown <= 3 {
			t.Errorf("%s: want %d records, got %d\nwant %q\n got %q", k, len(w), len(g), w, g)
		}
	}
	if lost+extra+dups > 0 {
		t.Errorf("outputs differ from replay: %d lost, %d unexpected, %d duplicated alert ids (over %d customers)", lost, extra, dups, shown)
	}
	return lost, extra, dups
}
