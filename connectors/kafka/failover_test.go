package kafka_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
)

// TestFailoverTwoInstances runs two instances in one consumer group over
// the same input. One of them goes away mid-stream; the survivor takes its
// partitions over, restoring their state from the changelog, and reports
// ready only once restored. At the end every customer's state on the
// survivor equals the offline replay's, and the output topics hold
// exactly the offline replay's records: no alert lost, none duplicated.
//
// "clean" stops the instance the way SIGTERM does (finish the batch,
// commit, leave the group). "crash" cuts every connection it has and lets
// it dial no more, so that from the broker's side it dies at an arbitrary
// instant: no leave, no commit, possibly a transaction left open, which
// the broker aborts when it times out; the group notices by its session
// timeout.
func TestFailoverTwoInstances(t *testing.T) {
	t.Parallel()
	for _, crash := range []bool{false, true} {
		name := "clean"
		if crash {
			name = "crash"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testFailover(t, crash)
		})
	}
}

func testFailover(t *testing.T, crash bool) {
	const nparts = 8
	var clusterOpts []kfake.Opt
	if crash {
		clusterOpts = append(clusterOpts, kfake.GroupMinSessionTimeout(time.Second))
	}
	c, addr := newCluster(t, clusterOpts...)
	cfgA := testConfig(t, addr, "lifeline-failover", "instance-a", nparts, config.ExactlyOnce)
	cfgB := testConfig(t, addr, "lifeline-failover", "instance-b", nparts, config.ExactlyOnce)
	for _, cfg := range []*config.Config{&cfgA, &cfgB} {
		// Small batches: many transactions, so that the kill lands
		// between and within them.
		cfg.Engine.MaxPollRecords = 100
		if crash {
			// The dead instance's open transaction blocks its
			// partitions' committed offsets until the broker aborts it.
			cfg.Engine.TransactionTimeout = config.Duration(10 * time.Second)
		}
	}
	var optsA, optsB []kgo.Opt
	dialer := faultDialer(nil)
	if crash {
		group := []kgo.Opt{kgo.SessionTimeout(4 * time.Second), kgo.HeartbeatInterval(400 * time.Millisecond)}
		optsA = append([]kgo.Opt{kgo.Dialer(dialer.DialContext)}, group...)
		optsB = group
	}

	recs := journeys(t, journey.Config{Customers: 300, Days: 60, Seed: 11})
	// Phase 1: the first 30 days; phase 2a: the next ten days; 2b: the rest.
	var phase1, phase2a, phase2b []inputRecord
	for _, r := range recs {
		switch day := r.Time.Sub(workloadStart) / (24 * time.Hour); {
		case day < 30:
			phase1 = append(phase1, r)
		case day < 40:
			phase2a = append(phase2a, r)
		default:
			phase2b = append(phase2b, r)
		}
	}

	a := startInstance(t, cfgA, optsA...)
	waitReady(t, nparts, a)
	b := startInstance(t, cfgB, optsB...)
	waitReady(t, nparts, a, b)
	if len(a.rt.Partitions()) == 0 || len(b.rt.Partitions()) == 0 {
		t.Fatalf("the group did not spread the partitions: a %v, b %v", a.rt.Partitions(), b.rt.Partitions())
	}

	prod := newClient(t, addr)
	produce(t, prod, cfgA.Topics.Input, nparts, phase1)
	ends1 := endOffsets(nparts, phase1)
	waitProcessed(t, ends1, a, b)

	aParts := sortedKeys(a.rt.Partitions())
	t.Logf("instance a owns %v, b owns %v", aParts, sortedKeys(b.rt.Partitions()))

	// Phase 2a, and wait until a is into it.
	produce(t, prod, cfgA.Topics.Input, nparts, phase2a)
	waitFor(t, waitLong, "instance a to process part of phase 2", func() (bool, string) {
		for _, p := range aParts {
			if m, ok := a.rt.Metas()[p]; ok && m.Next > ends1[p] {
				return true, ""
			}
		}
		return false, fmt.Sprint(a.rt.Metas())
	})

	// Hold the survivor's changelog reads, so that readiness can be
	// watched while it restores.
	gate := holdChangelogFetches(t, c, addr, cfgA.Topics.Changelog)

	killed := time.Now()
	if crash {
		dialer.Kill()
	} else {
		a.stop(t)
		if a.err != nil {
			t.Fatalf("instance a: Run: %v", a.err)
		}
	}

	// The survivor is assigned a's partitions but, restoring, is not
	// ready, and processes none of them.
	waitFor(t, waitLong, "instance b to be assigned instance a's partitions", func() (bool, string) {
		parts := b.rt.Partitions()
		for _, p := range aParts {
			if _, ok := parts[p]; !ok {
				return false, fmt.Sprint(parts)
			}
		}
		return gate.hits.Load() > 0, fmt.Sprintf("%v, %d changelog fetches held", parts, gate.hits.Load())
	})
	t.Logf("takeover after %v", time.Since(killed).Round(time.Millisecond))
	if ok, why := b.rt.Ready(); ok || !strings.Contains(why, "restoring partitions") {
		t.Errorf("instance b while restoring: Ready() = %v, %q; want not ready, restoring", ok, why)
	}
	parts, metas := b.rt.Partitions(), b.rt.Metas()
	restoring := 0
	for _, p := range aParts {
		if !parts[p] {
			restoring++
			if _, ok := metas[p]; ok {
				t.Errorf("partition %d: a meta is published while it restores", p)
			}
		}
	}
	if restoring == 0 {
		t.Errorf("no taken-over partition is restoring while the changelog is held: %v", parts)
	}
	// However long the changelog takes to answer (a slow or busy
	// broker), the restore waits for it rather than declaring itself
	// done.
	for held := time.Now(); time.Since(held) < 3*time.Second; time.Sleep(20 * time.Millisecond) {
		if ok, why := b.rt.Ready(); ok {
			t.Fatalf("instance b reports ready (%s) while its changelog reads are held", why)
		}
	}

	// The rest of the input arrives while b restores.
	produce(t, prod, cfgA.Topics.Input, nparts, phase2b)
	gate.open()
	waitReady(t, nparts, b)
	recs = append(append(append(recs[:0:0], phase1...), phase2a...), phase2b...) // with their offsets
	ends := endOffsets(nparts, recs)
	waitProcessed(t, ends, b)
	t.Logf("all processed %v after the kill", time.Since(killed).Round(time.Millisecond))
	if n := counter(t, b.reg, "lifeline_restore_records_total", nil); n == 0 {
		t.Error("instance b restored no changelog records")
	}

	// State: every customer as in the offline replay, on its partition's
	// owner; and each partition's aggregates.
	want, offline := replayOffline(t, recs, nparts, cfgA.Engine.AllowedLateness)
	compareStates(t, recs, nparts, offline, b.eng)
	for p, got := range b.rt.Metas() {
		w, _, err := offline.StoredMeta(p)
		if err != nil {
			t.Fatal(err)
		}
		got.ChangelogNext, w.ChangelogNext = 0, 0
		if !reflect.DeepEqual(got, w) {
			t.Errorf("partition %d meta:\n got %+v\nwant %+v", p, got, w)
		}
	}

	// Outputs: exactly the offline replay's, alerts counted by id and
	// status.
	out := readAll(t, addr, cfgA.Topics.Alerts, cfgA.Topics.Stages, cfgA.Topics.Health)
	got := outputsOf(t, cfgA, out)
	compareOutputs(t, want, got)
	compareAlerts(t, want, got)
}

// sortedKeys lists a partition set in order.
func sortedKeys(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// compareStates looks every customer of recs up in both stores, on the
// partition Kafka's partitioner gives its id.
func compareStates(t *testing.T, recs []inputRecord, nparts int32, want, got *engine.Engine) {
	t.Helper()
	seen := map[string]bool{}
	diffs, n := 0, 0
	for _, r := range recs {
		if r.Key == "" || seen[r.Key] {
			continue
		}
		seen[r.Key] = true
		p := kafka.PartitionFor(r.Key, nparts)
		ws, wok, werr := want.Lookup(p, r.Key)
		gs, gok, gerr := got.Lookup(p, r.Key)
		if werr != nil || gerr != nil {
			t.Fatalf("lookup %s: %v, %v", r.Key, werr, gerr)
		}
		if !wok {
			continue // only bad records carry this key
		}
		n++
		if !gok || !reflect.DeepEqual(ws, gs) {
			if diffs++; diffs <= 5 {
				t.Errorf("customer %s (partition %d):\n got %+v (found %v)\nwant %+v", r.Key, p, gs, gok, ws)
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d of %d customers' states differ from the offline replay", diffs, n)
	}
	if n == 0 {
		t.Error("no customer state to compare")
	}
}

// compareAlerts checks alert records by (alert_id, status): each of the
// offline replay's appears in the topic exactly as often.
func compareAlerts(t *testing.T, want, got outputs) {
	t.Helper()
	count := func(o outputs) map[string]int {
		m := map[string]int{}
		for k, vs := range o {
			if !strings.HasPrefix(k, "alert ") {
				continue
			}
			for _, v := range vs {
				id := jsonField(v, "alert_id") + " " + jsonField(v, "status")
				m[id]++
			}
		}
		return m
	}
	w, g := count(want), count(got)
	lost, dup := 0, 0
	for id, n := range w {
		switch {
		case g[id] < n:
			if lost++; lost <= 5 {
				t.Errorf("alert %s lost (%d of %d in the topic)", id, g[id], n)
			}
		case g[id] > n:
			if dup++; dup <= 5 {
				t.Errorf("alert %s duplicated (%d in the topic, %d expected)", id, g[id], n)
			}
		}
	}
	for id := range g {
		if w[id] == 0 {
			t.Errorf("alert %s in the topic is not in the offline replay", id)
		}
	}
	if len(w) == 0 {
		t.Error("the offline replay fired no alert")
	}
	t.Logf("%d alert records compared (%d lost, %d duplicated)", len(w), lost, dup)
}

func jsonField(v, name string) string {
	i := strings.Index(v, `"`+name+`":"`)
	if i < 0 {
		return ""
	}
	s := v[i+len(name)+4:]
	return s[:strings.IndexByte(s, '"')]
}

// fetchGate holds the broker's answers to fetches of one topic (here, the
// changelog: only restores read it) until opened.
type fetchGate struct {
	ch   chan struct{}
	once sync.Once
	hits atomic.Int32
}

func (g *fetchGate) open() { g.once.Do(func() { close(g.ch) }) }

func holdChangelogFetches(t *testing.T, c *kfake.Cluster, addr, topic string) *fetchGate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	md, err := kadm.NewClient(newClient(t, addr)).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	id := md.Topics[topic].ID
	g := &fetchGate{ch: make(chan struct{})}
	t.Cleanup(g.open) // before the cluster closes
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-g.ch:
			return nil, nil, false
		default:
		}
		for _, ft := range req.(*kmsg.FetchRequest).Topics {
			if ft.Topic == topic || ft.TopicID == id {
				g.hits.Add(1)
				c.SleepControl(func() { <-g.ch })
				break
			}
		}
		return nil, nil, false // the broker answers as usual
	})
	return g
}

// TestTakeoverWhilePreviousOwnerCommits is the hard case of a takeover:
// the previous owner has committed its batch's input offsets to its
// transaction and heard that it still belongs to the group, then stalls
// (a long GC pause, a slow network) before its EndTxn reaches the broker.
// The group removes it meanwhile and gives its partitions to the
// survivor. The stalled commit then lands, and its owner dies.
//
// Kafka keeps the survivor from reading input past offsets that are still
// in a transaction (KIP-447, RequireStable): it resumes after the late
// batch. Its restore must then include the late batch's changelog
// entries too, or those customers' state silently misses a batch. The
// test holds the EndTxn in the broker until the survivor has looked up
// the changelog's end, then lets it commit.
func TestTakeoverWhilePreviousOwnerCommits(t *testing.T) {
	t.Parallel()
	const nparts = 2
	c, addr := newCluster(t)
	cfgA := testConfig(t, addr, "lifeline-zombie", "zombie-a", nparts, config.ExactlyOnce)
	cfgB := testConfig(t, addr, "lifeline-zombie", "zombie-b", nparts, config.ExactlyOnce)
	cfgA.Engine.MaxPollRecords, cfgB.Engine.MaxPollRecords = 100, 100
	// The group gives up on a member that cannot rejoin after 3 s (a is
	// stuck in its batch); a's transaction must outlive the stall.
	group := []kgo.Opt{kgo.RebalanceTimeout(3 * time.Second)}
	dialer := faultDialer(nil)
	optsA := append([]kgo.Opt{kgo.Dialer(dialer.DialContext), kgo.RequestTimeoutOverhead(time.Minute)}, group...)
	txnA := cfgA.Group + "-" + cfgA.ClientID

	recs := journeys(t, journey.Config{Customers: 120, Days: 40, Seed: 5})
	var phase1, phase2a, phase2b []inputRecord
	for _, r := range recs {
		switch day := r.Time.Sub(workloadStart) / (24 * time.Hour); {
		case day < 20:
			phase1 = append(phase1, r)
		case day < 30:
			phase2a = append(phase2a, r)
		default:
			phase2b = append(phase2b, r)
		}
	}

	a := startInstance(t, cfgA, optsA...)
	waitReady(t, nparts, a)
	prod := newClient(t, addr)
	produce(t, prod, cfgA.Topics.Input, nparts, phase1)
	waitProcessed(t, endOffsets(nparts, phase1), a)

	// From now on: remember the input offsets a's transactions commit,
	// hold its commits, and watch for the survivor's changelog lookups.
	var (
		mu        sync.Mutex
		aOffsets  = map[int32]int64{}
		held      = make(chan struct{})
		heldOnce  sync.Once
		release   = make(chan struct{})
		killOnce  sync.Once
		clLookups atomic.Int32
	)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	c.ControlKey(int16(kmsg.TxnOffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.TxnOffsetCommitRequest)
		if r.TransactionalID == txnA {
			mu.Lock()
			for _, tp := range r.Topics {
				for _, p := range tp.Partitions {
					aOffsets[p.Partition] = p.Offset
				}
			}
			mu.Unlock()
		}
		return nil, nil, false
	})
	c.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.EndTxnRequest)
		if r.TransactionalID != txnA || !r.Commit {
			return nil, nil, false
		}
		heldOnce.Do(func() { close(held) })
		c.SleepControl(func() { <-release })
		// The commit goes through; its sender is gone for good.
		killOnce.Do(dialer.Kill)
		return nil, nil, false
	})
	c.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.ListOffsetsRequest)
		select {
		case <-held:
		default:
			return nil, nil, false
		}
		for _, tp := range r.Topics {
			if tp.Topic == cfgA.Topics.Changelog && r.IsolationLevel == 1 {
				clLookups.Add(1)
			}
		}
		return nil, nil, false
	})

	produce(t, prod, cfgA.Topics.Input, nparts, phase2a)
	select {
	case <-held:
	case <-time.After(waitLong):
		t.Fatal("instance a never tried to commit a transaction")
	}
	mu.Lock()
	committedByA := maps.Clone(aOffsets)
	mu.Unlock()

	b := startInstance(t, cfgB, group...)
	// Let the commit land once b has restored (which the runtime must not
	// do before a's transaction ends), or has shown that it waits for it
	// by looking the changelog's end up again and again.
	waitFor(t, waitLong, "instance b to take over and restore, or to wait", func() (bool, string) {
		ready, why := b.rt.Ready()
		return len(b.rt.Partitions()) == nparts && (ready || clLookups.Load() >= 4), fmt.Sprintf("%s; %d changelog lookups", why, clLookups.Load())
	})
	close(release)

	produce(t, prod, cfgA.Topics.Input, nparts, phase2b)
	recs = append(append(append(recs[:0:0], phase1...), phase2a...), phase2b...)
	ends := endOffsets(nparts, recs)
	waitReady(t, nparts, b)
	waitProcessed(t, ends, b)

	// The scenario happened: a's held transaction committed, so b read
	// the input from a's last offsets on.
	if aborted := counter(t, b.reg, "lifeline_batches_total", map[string]string{"result": "aborted"}); aborted == 0 {
		for p, off := range committedByA {
			got := counter(t, b.reg, "lifeline_events_consumed_total", map[string]string{"partition": fmt.Sprint(p)})
			if want := float64(ends[p] - off); got != want {
				t.Errorf("partition %d: b consumed %v records, want %v (from a's held commit at %d on): a's late commit did not land as the test intends", p, got, want, off)
			}
		}
	}

	want, offline := replayOffline(t, recs, nparts, cfgA.Engine.AllowedLateness)
	compareStates(t, recs, nparts, offline, b.eng)
	got := outputsOf(t, cfgA, readAll(t, addr, cfgA.Topics.Alerts, cfgA.Topics.Stages, cfgA.Topics.Health))
	compareOutputs(t, want, got)
	compareAlerts(t, want, got)
}
