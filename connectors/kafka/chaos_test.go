package kafka_test

// Fault tests that end in the reference model's verification
// (eos_test.go): partitions and coordinators moving between brokers while
// instances join, leave and crash, and a network that cuts every
// connection within a second and a half, with periodic kills.
//
// The short versions run in go test. LIFELINE_SOAK=10m loops each
// scenario with a larger workload for that long and logs one line of
// figures for the README's reliability table.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/internal/faultnet"
	"github.com/lifeline-hq/lifeline/journey"
)

// soakFor is how long the soak versions run (LIFELINE_SOAK), or 0 for
// the short versions.
func soakFor(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("LIFELINE_SOAK")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("LIFELINE_SOAK=%q: want a positive duration such as 10m", v)
	}
	return d
}

// chaosFigures counts what a fault scenario did and what its verifier
// found; soak runs add them up.
type chaosFigures struct {
	runs, events                    int
	joined, left, crashed, restarts int
	exits                           int // Run gave up on a transaction; restarted
	moves, shuffles, rehashes       int
	nodesAdded, nodesRemoved        int
	cuts                            int64
	committed, aborted              int // batches, over every instance
	elapsed                         time.Duration
	eos                             eosFigures
}

func (f *chaosFigures) add(g chaosFigures) {
	f.runs += g.runs
	f.events += g.events
	f.joined += g.joined
	f.left += g.left
	f.crashed += g.crashed
	f.restarts += g.restarts
	f.exits += g.exits
	f.moves += g.moves
	f.shuffles += g.shuffles
	f.rehashes += g.rehashes
	f.nodesAdded += g.nodesAdded
	f.nodesRemoved += g.nodesRemoved
	f.cuts += g.cuts
	f.committed += g.committed
	f.aborted += g.aborted
	f.elapsed += g.elapsed
	f.eos.outputs += g.eos.outputs
	f.eos.alerts += g.eos.alerts
	f.eos.deadLetters += g.eos.deadLetters
	f.eos.changelog += g.eos.changelog
	f.eos.customers += g.eos.customers
	f.eos.duplicates += g.eos.duplicates
	f.eos.lost += g.eos.lost
}

func (f chaosFigures) String() string {
	return fmt.Sprintf("%d runs, %d events in %v; instances: %d joined, %d left cleanly, %d crashed, %d restarted, %d exited on a transaction error; "+
		"brokers: %d partition moves, %d leader shuffles, %d coordinator rehashes, %d nodes added, %d removed; %d connections cut; "+
		"%d batches committed, %d aborted; %s",
		f.runs, f.events, f.elapsed.Round(time.Second), f.joined, f.left, f.crashed, f.restarts, f.exits,
		f.moves, f.shuffles, f.rehashes, f.nodesAdded, f.nodesRemoved, f.cuts, f.committed, f.aborted, f.eos)
}

// runScenario runs one scenario in the short version, or loops it in
// subtests for the soak duration with seeds 1, 2, ... and logs the
// totals.
func runScenario(t *testing.T, name string, short, soak journey.Config, run func(t *testing.T, w journey.Config, seed uint64) chaosFigures) {
	d := soakFor(t)
	if d == 0 {
		f := run(t, short, 1)
		t.Logf("%s: %s", name, f)
		return
	}
	var total chaosFigures
	deadline := time.Now().Add(d)
	for seed := uint64(1); time.Now().Before(deadline) && !t.Failed(); seed++ {
		w := soak
		w.Seed = int64(seed)
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			f := run(t, w, seed)
			t.Logf("%s seed %d: %s", name, seed, f)
			total.add(f)
		})
	}
	t.Logf("%s soak (LIFELINE_SOAK=%v): %s", name, d, total)
}

// fleet is a scenario's group of instances on one cluster: it starts,
// stops, crashes and restarts them, and counts it. Only the test
// goroutine uses it.
type fleet struct {
	t      *testing.T
	c      *kfake.Cluster
	addr   string
	nparts int32
	lives  *faultnet.Lives // every instance's connection lives; nil: never cut
	rnd    *rand.Rand      // the scenario's choices, seeded

	live  []*member
	all   []*member // every instance started, for the figures
	dirs  int       // client ids handed out
	nodes []int32
	f     chaosFigures
	ended sync.WaitGroup // crashed instances being stopped
	start time.Time
}

type member struct {
	in *instance
	d  *faultnet.Dialer // crash kills it
}

// newFleet starts a three-broker cluster whose group notices a silent
// member within seconds. With maxLife > 0, every connection of every
// instance is cut after a life in [minLife, maxLife], drawn from one
// source seeded with seed: the sequence of lives is reproducible (their
// effect, racing with the instances, is not).
func newFleet(t *testing.T, nparts int32, seed uint64, minLife, maxLife time.Duration) *fleet {
	t.Helper()
	c, addr := newCluster(t, kfake.NumBrokers(3), kfake.GroupMinSessionTimeout(time.Second))
	fl := &fleet{t: t, c: c, addr: addr, nparts: nparts,
		rnd: rand.New(rand.NewPCG(seed, 0xf1ee7)), nodes: []int32{0, 1, 2}, start: time.Now()}
	if maxLife > 0 {
		lives, err := faultnet.NewLives(minLife, maxLife, rand.NewPCG(seed, 0x11fe))
		if err != nil {
			t.Fatal(err)
		}
		fl.lives = lives
	}
	t.Cleanup(fl.ended.Wait)
	return fl
}

// config is the config of instance i (its client id, so its transactional
// id) with a state dir of its own.
func (fl *fleet) config(i int) config.Config {
	cfg := testConfig(fl.t, fl.addr, "lifeline-chaos", fmt.Sprintf("chaos-%d", i), fl.nparts, config.ExactlyOnce)
	// Small batches: many transactions, for the faults to land in.
	cfg.Engine.MaxPollRecords = 100
	// A crashed instance's open transaction holds its partitions until
	// the broker aborts it.
	cfg.Engine.TransactionTimeout = config.Duration(6 * time.Second)
	return cfg
}

// run starts an instance on cfg (a new state dir, or a crashed or stopped
// instance's).
func (fl *fleet) run(cfg config.Config) *member {
	d := faultDialer(fl.lives) // a new process's: alive
	in := startInstance(fl.t, cfg,
		kgo.Dialer(d.DialContext),
		kgo.SessionTimeout(4*time.Second),
		kgo.HeartbeatInterval(400*time.Millisecond),
		// A rebalance waits this long for members that do not rejoin
		// (crashed ones) before it completes without them.
		kgo.RebalanceTimeout(8*time.Second),
	)
	m := &member{in: in, d: d}
	fl.live = append(fl.live, m)
	fl.all = append(fl.all, m)
	return m
}

// join starts an instance on a fresh state dir.
func (fl *fleet) join() *member {
	cfg := fl.config(fl.dirs)
	fl.dirs++
	fl.f.joined++
	return fl.run(cfg)
}

// pick removes a random live instance from the fleet and returns it.
func (fl *fleet) pick() *member {
	i := fl.rnd.IntN(len(fl.live))
	m := fl.live[i]
	fl.live = append(fl.live[:i], fl.live[i+1:]...)
	return m
}

// leave stops an instance the way SIGTERM does; it must exit cleanly.
func (fl *fleet) leave(m *member) {
	m.in.stop(fl.t)
	if m.in.err != nil {
		fl.t.Errorf("%s: Run after a clean stop: %v", m.in.name, m.in.err)
	}
	fl.f.left++
}

// crash kills an instance's network at once and then its process;
// whatever Run returns is the crash's doing. wait: return once it has
// stopped (its state dir is free), else stop it in the background.
func (fl *fleet) crash(m *member, wait bool) {
	m.d.Kill()
	fl.f.crashed++
	if wait {
		m.in.stop(fl.t)
		return
	}
	fl.ended.Add(1)
	go func() {
		defer fl.ended.Done()
		m.in.stop(fl.t)
	}()
}

// brokerOp moves something on the brokers: one partition of any topic to
// another node, every partition leader, the coordinators, or a node in or
// out (never node 0, the seed broker, and never below two nodes).
func (fl *fleet) brokerOp(topics []string) string {
	switch op := fl.rnd.IntN(10); {
	case op < 5:
		topic := topics[fl.rnd.IntN(len(topics))]
		p := fl.rnd.Int32N(fl.nparts)
		node := fl.nodes[fl.rnd.IntN(len(fl.nodes))]
		if err := fl.c.MoveTopicPartition(topic, p, node); err != nil {
			fl.t.Fatalf("move %s/%d to node %d: %v", topic, p, node, err)
		}
		fl.f.moves++
		return fmt.Sprintf("move %s/%d to node %d", topic, p, node)
	case op < 6:
		fl.c.ShufflePartitionLeaders()
		fl.f.shuffles++
		return "shuffle partition leaders"
	case op < 8:
		fl.c.RehashCoordinators()
		fl.f.rehashes++
		return "rehash coordinators"
	case op < 9 && len(fl.nodes) < 5 || len(fl.nodes) <= 2:
		id, _, err := fl.c.AddNode(-1, 0)
		if err != nil {
			fl.t.Fatalf("add node: %v", err)
		}
		fl.nodes = append(fl.nodes, id)
		fl.f.nodesAdded++
		return fmt.Sprintf("add node %d", id)
	default:
		i := 1 + fl.rnd.IntN(len(fl.nodes)-1)
		id := fl.nodes[i]
		if err := fl.c.RemoveNode(id); err != nil {
			fl.t.Fatalf("remove node %d: %v", id, err)
		}
		fl.nodes = append(fl.nodes[:i], fl.nodes[i+1:]...)
		fl.f.nodesRemoved++
		return fmt.Sprintf("remove node %d", id)
	}
}

// supervise restarts, on its store, an instance whose Run gave up on a
// transaction, as a process supervisor (Kubernetes) would: franz-go
// documents that no error of ending a transaction is retryable, so the
// runtime exits on one, and its restart fences the old producer. Any
// other return of Run fails the test.
func (fl *fleet) supervise() {
	for i, m := range fl.live {
		if !m.in.stopped() {
			continue
		}
		err := m.in.err
		if err == nil || !strings.HasPrefix(err.Error(), "commit transaction: ") && !strings.HasPrefix(err.Error(), "begin transaction: ") {
			fl.t.Fatalf("%s: Run returned while running: %v", m.in.name, err)
		}
		fl.t.Logf("+%v: %s exited (%v); restarting it on its store", time.Since(fl.start).Round(time.Millisecond), m.in.name, err)
		m.in.stop(fl.t)
		fl.f.exits++
		fl.live = append(fl.live[:i], fl.live[i+1:]...)
		fl.run(m.in.cfg)
		return // one at a time: the slice changed
	}
}

// processed reports whether the live instances have committed every
// record up to ends.
func (fl *fleet) processed(ends map[int32]int64) (bool, string) {
	fl.supervise()
	next := map[int32]int64{}
	for _, m := range fl.live {
		for p, meta := range m.in.rt.Metas() {
			next[p] = max(next[p], meta.Next)
		}
	}
	done := true
	var state []string
	for p := range fl.nparts {
		if next[p] < ends[p] {
			done = false
		}
		state = append(state, fmt.Sprintf("p%d %d/%d", p, next[p], ends[p]))
	}
	return done, strings.Join(state, " ")
}

// drive produces recs in waves and, while the live instances process
// each, runs op opsPerWave times, interval apart (op learns its number,
// from 0), then waits for the wave to be processed. It returns the input
// as committed (with its offsets).
func (fl *fleet) drive(recs []inputRecord, nwaves, opsPerWave int, interval time.Duration, op func(i int) string) []inputRecord {
	t := fl.t
	prod := newClient(t, fl.addr)
	input := fl.config(0).Topics.Input
	var sent []inputRecord
	n := 0
	for wi, wave := range waves(recs, nwaves) {
		produce(t, prod, input, fl.nparts, wave)
		sent = append(sent, wave...)
		for range opsPerWave {
			time.Sleep(interval)
			fl.supervise()
			what := op(n)
			n++
			t.Logf("wave %d, +%v: %s", wi, time.Since(fl.start).Round(time.Millisecond), what)
		}
		ends := endOffsets(fl.nparts, sent)
		waitFor(t, waitLong, fmt.Sprintf("wave %d to be processed", wi), func() (bool, string) {
			return fl.processed(ends)
		})
	}
	return sent
}

// finish stops the live instances cleanly, waits for the crashed ones to
// have stopped, and verifies the outputs against the offline replay.
func (fl *fleet) finish(sent []inputRecord) chaosFigures {
	fl.supervise()
	for len(fl.live) > 0 {
		fl.leave(fl.pick())
		fl.f.left-- // the end of the run is no departure
	}
	fl.ended.Wait()
	fl.f.elapsed = time.Since(fl.start)
	fl.f.runs, fl.f.events = 1, len(sent)
	for _, m := range fl.all {
		fl.f.cuts += m.d.Expired()
		fl.f.committed += int(counter(fl.t, m.in.reg, "lifeline_batches_total", map[string]string{"result": "committed"}))
		fl.f.aborted += int(counter(fl.t, m.in.reg, "lifeline_batches_total", map[string]string{"result": "aborted"}))
	}
	fl.f.eos = verifyExactlyOnce(fl.t, fl.addr, fl.config(0), sent, fl.nparts)
	return fl.f
}

// TestPartitionMovesUnderLoad moves input, output and changelog
// partitions between brokers, shuffles every partition's leader, moves the
// group and transaction coordinators, adds and removes brokers, while
// three instances process a workload and instances join (fresh state),
// leave (SIGTERM) and crash (network cut at once, no leave, a transaction
// maybe left open). Every wave is processed despite it, and the outputs,
// dead letters and changelog are exactly the offline replay's.
func TestPartitionMovesUnderLoad(t *testing.T) {
	t.Parallel()
	runScenario(t, "partition moves",
		journey.Config{Customers: 300, Days: 60, Seed: 31, BadRate: 0.005},
		journey.Config{Customers: 1500, Days: 120, BadRate: 0.005},
		testPartitionMoves)
}

func testPartitionMoves(t *testing.T, w journey.Config, seed uint64) chaosFigures {
	const nparts = 6
	fl := newFleet(t, nparts, seed, 0, 0)
	for range 3 {
		fl.join()
	}
	ins := make([]*instance, 0, len(fl.live))
	for _, m := range fl.live {
		ins = append(ins, m.in)
	}
	waitReady(t, nparts, ins...)
	cfg := fl.config(0)
	tp := cfg.Topics
	topics := []string{tp.Input, tp.Alerts, tp.Stages, tp.Health, tp.Changelog, tp.DeadLetters}
	// Per wave, eight operations on the brokers and one on the group:
	// join, crash, leave in turn, keeping two instances at least.
	sent := fl.drive(journeys(t, w), 6, 9, 150*time.Millisecond, func(i int) string {
		if i%9 != 4 {
			return fl.brokerOp(topics)
		}
		switch (i / 9) % 3 {
		case 1:
			if len(fl.live) > 2 {
				m := fl.pick()
				fl.crash(m, false)
				return "crash " + m.in.name
			}
		case 2:
			if len(fl.live) > 2 {
				m := fl.pick()
				fl.leave(m)
				return "leave " + m.in.name
			}
		}
		m := fl.join()
		return "join " + m.in.name
	})
	f := fl.finish(sent)
	if f.moves == 0 || f.shuffles == 0 || f.rehashes == 0 || f.nodesAdded == 0 || f.nodesRemoved == 0 || f.crashed == 0 || f.left == 0 {
		t.Errorf("some kind of operation never ran, so went untested: %s", f)
	}
	return f
}

// TestNetworkChaos cuts every connection of every instance after a
// random life of 0.5 to 1.5 s, and every few seconds kills an instance,
// alternately a crash (its network cut at once, then a new process on the
// same state dir and transactional id) and a clean stop and restart.
// Transactions fail and time out; progress is still made, and the
// outputs are exactly the offline replay's.
func TestNetworkChaos(t *testing.T) {
	t.Parallel()
	runScenario(t, "network chaos",
		journey.Config{Customers: 200, Days: 60, Seed: 41, BadRate: 0.005},
		journey.Config{Customers: 1000, Days: 120, BadRate: 0.005},
		testNetworkChaos)
}

func testNetworkChaos(t *testing.T, w journey.Config, seed uint64) chaosFigures {
	const nparts = 6
	fl := newFleet(t, nparts, seed, 500*time.Millisecond, 1500*time.Millisecond)
	for range 3 {
		fl.join()
	}
	// One kill per wave, a crash and a clean stop in turn, each followed
	// by a new process on the same state dir (the same transactional id).
	sent := fl.drive(journeys(t, w), 6, 1, time.Second, func(i int) string {
		m := fl.pick()
		cfg := m.in.cfg
		fl.f.restarts++
		if i%2 == 0 {
			fl.crash(m, true)
			fl.run(cfg)
			return "crash and restart " + m.in.name
		}
		fl.leave(m)
		fl.run(cfg)
		return "stop and restart " + m.in.name
	})
	f := fl.finish(sent)
	if f.cuts == 0 {
		t.Error("no connection was cut: the chaos dialer is not in use")
	}
	return f
}

// TestRestoreRetriesAfterFetchError is the reduction of a partition that
// network chaos left stuck: the changelog reader of a restore got an error
// from a fetch (there, franz-go's ErrDataLoss after the broker could not
// answer for a leader epoch; here, one UNKNOWN_SERVER_ERROR), the restore
// gave up, and the partition stayed paused for good, its instance still in
// the group, so that no one else took it over. A failed restore must be
// tried again, from the local checkpoint, until it succeeds or the
// partition is taken away.
func TestRestoreRetriesAfterFetchError(t *testing.T) {
	t.Parallel()
	const nparts = 2
	c, addr := newCluster(t)
	cfgA := testConfig(t, addr, "lifeline-restore-retry", "retry-a", nparts, config.ExactlyOnce)
	cfgB := testConfig(t, addr, "lifeline-restore-retry", "retry-b", nparts, config.ExactlyOnce)
	recs := journeys(t, journey.Config{Customers: 80, Days: 40, Seed: 9})
	w := waves(recs, 2)
	prod := newClient(t, addr)

	// a processes the first half; b, on a fresh store, the second.
	processAndStop(t, startInstance(t, cfgA), prod, nparts, w[0])
	b := startInstance(t, cfgB)
	waitReady(t, nparts, b)
	produce(t, prod, cfgA.Topics.Input, nparts, w[1])
	sent := append(append([]inputRecord{}, w[0]...), w[1]...)
	waitProcessed(t, endOffsets(nparts, sent), b)
	b.stop(t)

	// a comes back on its store and restores what b did; the first
	// changelog fetch fails.
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: cfgA.Topics.Changelog, Count: 1})
	a := startInstance(t, cfgA)
	waitReady(t, nparts, a)
	if fault.Hits() == 0 {
		t.Fatal("the fault never hit a changelog fetch: the test tests nothing")
	}
	_, offline := replayOffline(t, sent, nparts, cfgA.Engine.AllowedLateness)
	compareStates(t, sent, nparts, offline, a.eng)
	a.stop(t)
	t.Logf("%s", verifyExactlyOnce(t, addr, cfgA, sent, nparts))
}
