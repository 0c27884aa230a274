package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/internal/faultnet"
	"github.com/lifeline-hq/lifeline/journey"
)

// faultEnv is what a fault case needs to aim at one instance's requests.
type faultEnv struct {
	t     *testing.T
	c     *kfake.Cluster
	addr  string
	cfg   config.Config
	txnID string
	// dialer is the instance's: a case may cut its connections.
	dialer *faultnet.Dialer
	// scale multiplies the faults injected (and the workload):
	// LIFELINE_SOAK (any value) runs the matrix ten times larger.
	scale int
}

// faultCase is one row of the broker-error matrix.
type faultCase struct {
	name      string
	guarantee string // config.ExactlyOnce unless set
	// early: the fault is installed before the instance starts (it aims at
	// requests made when joining or initialising the producer).
	early bool
	// permanent: the fault does not go away by itself; the instance must
	// stop with its error, and the operator's fix (here: removing the
	// fault) comes before the restart.
	permanent bool
	inject    func(e *faultEnv) injected
}

// errFault is a case failing Count requests of key with err, selected by
// what sel adds (the instance's transactional id, group or a topic).
func errFault(key kmsg.Key, err *kerr.Error, count int, sel func(e *faultEnv, f *kfake.Fault)) func(e *faultEnv) injected {
	return func(e *faultEnv) injected {
		f := kfake.Fault{Keys: []kmsg.Key{key}, Err: err, Count: count * e.scale}
		sel(e, &f)
		return faulted(e.c, f)
	}
}

// The selectors aim at the instance's own requests, never the test's
// producer or reader: its transactions, its group, its changelog (which
// only it writes) and its input fetches.
func byTxn(e *faultEnv, f *kfake.Fault)       { f.TxnID = e.txnID }
func byGroup(e *faultEnv, f *kfake.Fault)     { f.Group = e.cfg.Group }
func byChangelog(e *faultEnv, f *kfake.Fault) { f.Topic = e.cfg.Topics.Changelog }
func byAlerts(e *faultEnv, f *kfake.Fault)    { f.Topic = e.cfg.Topics.Alerts }
func byInput(e *faultEnv, f *kfake.Fault)     { f.Topic = e.cfg.Topics.Input }

// slowFetch holds the instance's input fetches.
func slowFetch(n int) func(e *faultEnv) injected {
	return func(e *faultEnv) injected {
		id := topicID(e.t, e.addr, e.cfg.Topics.Input)
		return slowed(e.c, kmsg.Fetch, n*e.scale, func(req kmsg.Request) bool { return fetchesTopic(req, e.cfg.Topics.Input, id) })
	}
}

// slowProduce holds the instance's produce requests that write the
// changelog or the alerts (the test's own producer writes only the input).
func slowProduce(n int) func(e *faultEnv) injected {
	return func(e *faultEnv) injected {
		ids := map[[16]byte]bool{}
		for _, topic := range []string{e.cfg.Topics.Changelog, e.cfg.Topics.Alerts} {
			ids[topicID(e.t, e.addr, topic)] = true
		}
		return slowed(e.c, kmsg.Produce, n*e.scale, func(req kmsg.Request) bool {
			for _, tp := range req.(*kmsg.ProduceRequest).Topics {
				if tp.Topic == e.cfg.Topics.Changelog || tp.Topic == e.cfg.Topics.Alerts || ids[tp.TopicID] {
					return true
				}
			}
			return false
		})
	}
}

// droppedProduce cuts the instance's connections while the broker
// appends its first n changelog produce requests: the records land, the
// answers are lost, and franz-go sends the batches again, with the same
// producer epoch and sequence numbers, on new connections. The broker
// must answer them as duplicates of what it has, not with
// OUT_OF_ORDER_SEQUENCE_NUMBER. This is how a loaded machine (a -race
// run) can reach the sequence checks: a request timeout closes the
// connection under a produce in flight.
func droppedProduce(n int) func(e *faultEnv) injected {
	return func(e *faultEnv) injected {
		id := topicID(e.t, e.addr, e.cfg.Topics.Changelog)
		var hits, seen atomic.Int32
		n *= e.scale
		e.c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
			if int(hits.Load()) >= n {
				return nil, nil, false // not kept: the control is dropped
			}
			e.c.KeepControl()
			for _, tp := range req.(*kmsg.ProduceRequest).Topics {
				// Every third one: the resent batch gets through. (Cutting
				// every resend too keeps a batch from landing for longer
				// than the transaction timeout: the instance then stops
				// with "not done within engine.transaction_timeout", and
				// its restart recovers.)
				if (tp.Topic == e.cfg.Topics.Changelog || tp.TopicID == id) && seen.Add(1)%3 == 1 {
					hits.Add(1)
					e.dialer.Cut()
					break
				}
			}
			return nil, nil, false // the broker appends as usual
		})
		return injected{hits: func() int { return int(hits.Load()) }, remove: func() {}}
	}
}

// slowEndTxn holds the instance's EndTxn requests.
func slowEndTxn(n int) func(e *faultEnv) injected {
	return func(e *faultEnv) injected {
		return slowed(e.c, kmsg.EndTxn, n*e.scale, func(req kmsg.Request) bool {
			return req.(*kmsg.EndTxnRequest).TransactionalID == e.txnID
		})
	}
}

func faultMatrix() []faultCase {
	const eos, alo = config.ExactlyOnce, config.AtLeastOnce
	return []faultCase{
		// franz-go adds partitions to a transaction by producing to them
		// (KIP-890, transaction version 2, which kfake speaks): it sends
		// no AddPartitionsToTxn, and CONCURRENT_TRANSACTIONS comes back on
		// Produce instead.
		{name: "concurrent-transactions/produce", inject: errFault(kmsg.Produce, kerr.ConcurrentTransactions, 3, byChangelog)},
		{name: "concurrent-transactions/end-txn", inject: errFault(kmsg.EndTxn, kerr.ConcurrentTransactions, 3, byTxn)},
		{name: "concurrent-transactions/init-producer-id", early: true, inject: errFault(kmsg.InitProducerID, kerr.ConcurrentTransactions, 3, byTxn)},
		// The OUT_OF_ORDER_SEQUENCE_NUMBER once seen under -race, made
		// deterministic. franz-go fails the producer id; the delivery
		// sees the failed record and ends the transaction with an abort,
		// which (transaction version 2) bumps the epoch: the batch is
		// processed again in process, no restart. Before the delivery
		// checked its records, End tried to commit, TxnOffsetCommit
		// failed with the same error and the instance stopped ("commit
		// transaction: unable to commit transaction offsets:
		// OUT_OF_ORDER_SEQUENCE_NUMBER"); its restart recovered.
		{name: "out-of-order-sequence/produce", inject: errFault(kmsg.Produce, kerr.OutOfOrderSequenceNumber, 1, byChangelog)},
		// A produce that the broker applied but whose answer was lost
		// (REQUEST_TIMED_OUT after the append): franz-go sends the batch
		// again with the same sequence numbers, which the broker must
		// take as a duplicate, not an OUT_OF_ORDER_SEQUENCE_NUMBER.
		{name: "request-timed-out-after-append/produce", inject: errFault(kmsg.Produce, kerr.RequestTimedOut, 2, byChangelog)},
		{name: "dropped-response/produce", inject: droppedProduce(2)},
		{name: "not-leader/produce", inject: errFault(kmsg.Produce, kerr.NotLeaderForPartition, 3, byChangelog)},
		{name: "not-leader/fetch", inject: errFault(kmsg.Fetch, kerr.NotLeaderForPartition, 3, byInput)},
		{name: "rebalance-in-progress/heartbeat", inject: errFault(kmsg.Heartbeat, kerr.RebalanceInProgress, 2, byGroup)},
		{name: "rebalance-in-progress/join-group", early: true, inject: errFault(kmsg.JoinGroup, kerr.RebalanceInProgress, 2, byGroup)},
		{name: "rebalance-in-progress/sync-group", early: true, inject: errFault(kmsg.SyncGroup, kerr.RebalanceInProgress, 2, byGroup)},
		{name: "rebalance-in-progress/txn-offset-commit", inject: errFault(kmsg.TxnOffsetCommit, kerr.RebalanceInProgress, 2, byTxn)},
		{name: "unknown-server-error/produce-changelog", inject: errFault(kmsg.Produce, kerr.UnknownServerError, 1, byChangelog)},
		{name: "unknown-server-error/produce-alerts", inject: errFault(kmsg.Produce, kerr.UnknownServerError, 1, byAlerts)},
		{name: "unknown-server-error/end-txn", inject: errFault(kmsg.EndTxn, kerr.UnknownServerError, 1, byTxn)},
		{name: "unknown-server-error/txn-offset-commit", inject: errFault(kmsg.TxnOffsetCommit, kerr.UnknownServerError, 1, byTxn)},
		{name: "unknown-server-error/fetch", inject: errFault(kmsg.Fetch, kerr.UnknownServerError, 2, byInput)},
		{name: "producer-fenced/end-txn", inject: errFault(kmsg.EndTxn, kerr.ProducerFenced, 1, byTxn)},
		{name: "invalid-producer-epoch/produce", inject: errFault(kmsg.Produce, kerr.InvalidProducerEpoch, 1, byChangelog)},
		// A record the broker refuses for good must stop the instance
		// with the broker's error after a few aborted attempts, not keep
		// it retrying unseen, nor commit without the record.
		{name: "message-too-large/produce-permanent", permanent: true, inject: errFault(kmsg.Produce, kerr.MessageTooLarge, -1, byAlerts)},
		{name: "slow/produce", inject: slowProduce(3)},
		{name: "slow/end-txn", inject: slowEndTxn(3)},
		{name: "slow/fetch", inject: slowFetch(3)},

		{name: "alo/dropped-response/produce", guarantee: alo, inject: droppedProduce(2)},
		{name: "alo/not-leader/produce", guarantee: alo, inject: errFault(kmsg.Produce, kerr.NotLeaderForPartition, 3, byChangelog)},
		{name: "alo/unknown-server-error/produce-changelog", guarantee: alo, inject: errFault(kmsg.Produce, kerr.UnknownServerError, 1, byChangelog)},
		{name: "alo/unknown-server-error/produce-alerts", guarantee: alo, inject: errFault(kmsg.Produce, kerr.UnknownServerError, 1, byAlerts)},
		{name: "alo/rebalance-in-progress/heartbeat", guarantee: alo, inject: errFault(kmsg.Heartbeat, kerr.RebalanceInProgress, 2, byGroup)},
		{name: "alo/unknown-server-error/fetch", guarantee: alo, inject: errFault(kmsg.Fetch, kerr.UnknownServerError, 2, byInput)},
		{name: "alo/message-too-large/produce-permanent", guarantee: alo, permanent: true, inject: errFault(kmsg.Produce, kerr.MessageTooLarge, -1, byAlerts)},
		{name: "alo/slow/produce", guarantee: alo, inject: slowProduce(3)},
	}
}

// TestBrokerFaults is the broker-error matrix (LIFELINE_SOAK set:
// ten times the faults and the customers): one instance processes a
// workload while the broker answers some of its requests with an error
// (or late). Whatever the error, the instance either recovers by itself
// or stops with an error, and a restart on the same state dir recovers;
// at the end the output topics, read with read_committed, hold exactly
// the offline replay's records (no duplicate, no loss; at_least_once may
// repeat records, never lose or reorder them), every customer's state
// equals the replay's, and no transaction is left open. Each case must
// have injected its fault at least once: a fault that never fires proves
// nothing.
func TestBrokerFaults(t *testing.T) {
	t.Parallel()
	for i, fc := range faultMatrix() {
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			testBrokerFault(t, fc, int64(100+i))
		})
	}
}

func testBrokerFault(t *testing.T, fc faultCase, seed int64) {
	const nparts = 2
	guarantee := fc.guarantee
	if guarantee == "" {
		guarantee = config.ExactlyOnce
	}
	c, addr := newCluster(t)
	cfg := testConfig(t, addr, "lifeline-faults", "faults-1", nparts, guarantee)
	cfg.Engine.MaxPollRecords = 100 // many transactions
	env := &faultEnv{t: t, c: c, addr: addr, cfg: cfg, txnID: cfg.Group + "-" + cfg.ClientID, dialer: faultDialer(nil), scale: 1}
	if os.Getenv("LIFELINE_SOAK") != "" {
		env.scale = 10
	}

	recs := journeys(t, journey.Config{Customers: 60 * env.scale, Days: 60, Seed: seed})
	half := len(recs) / 2

	var inj injected
	if fc.early {
		inj = fc.inject(env)
	}
	in := startInstance(t, cfg, kgo.Dialer(env.dialer.DialContext))
	prod := newClient(t, addr)
	if !fc.early {
		// A clean first half: the fault lands on a running instance.
		waitReady(t, nparts, in)
		produce(t, prod, cfg.Topics.Input, nparts, recs[:half])
		waitProcessed(t, endOffsets(nparts, recs[:half]), in)
		inj = fc.inject(env)
	} else {
		produce(t, prod, cfg.Topics.Input, nparts, recs[:half])
	}
	t.Cleanup(inj.remove) // before the cluster closes
	produce(t, prod, cfg.Topics.Input, nparts, recs[half:])
	ends := endOffsets(nparts, recs)

	// Process to the end, and until the fault has fired (a heartbeat may
	// come after the last batch), restarting the instance (on the same
	// state dir) whenever it stops by itself.
	start, restarts := time.Now(), 0
	for {
		var exited bool
		waitFor(t, waitLong*time.Duration(env.scale), "the instance to process every record, or to stop", func() (bool, string) {
			if in.stopped() {
				exited = true
				return true, ""
			}
			next := map[int32]int64{}
			for p, m := range in.rt.Metas() {
				next[p] = m.Next
			}
			state := fmt.Sprintf("at %v of %v; %d faults injected", next, ends, inj.hits())
			for p, e := range ends {
				if next[p] < e {
					return false, state
				}
			}
			return inj.hits() > 0, state
		})
		if !exited {
			break
		}
		if in.err == nil {
			t.Fatal("the instance stopped by itself without an error")
		}
		if restarts++; restarts > 3*env.scale {
			t.Fatalf("the instance stopped %d times; last: %v", restarts, in.err)
		}
		if fc.permanent {
			if !errors.Is(in.err, kerr.MessageTooLarge) {
				t.Errorf("the instance stopped with %v; want the broker's error", in.err)
			}
			inj.remove()
		}
		t.Logf("the instance stopped: %v; restarting it on its state dir", in.err)
		in.stop(t)
		in = startInstance(t, cfg, kgo.Dialer(env.dialer.DialContext))
	}
	hits := inj.hits()
	inj.remove()
	if hits == 0 {
		t.Fatal("the fault was never injected")
	}

	want, offline := replayOffline(t, recs, nparts, cfg.Engine.AllowedLateness)
	compareStates(t, recs, nparts, offline, in.eng)
	got := outputsOf(t, cfg, readAll(t, addr, cfg.Topics.Alerts, cfg.Topics.Stages, cfg.Topics.Health))
	dups := 0
	if guarantee == config.AtLeastOnce {
		want, _ = dedup(want)
		got, dups = dedup(got)
	}
	compareOutputs(t, want, got)
	if guarantee == config.ExactlyOnce {
		compareAlerts(t, want, got)
		requireNoOpenTransaction(t, addr)
	}
	t.Logf("%d records, %d faults injected, %d restarts, %d repeated outputs (at_least_once), %v",
		len(recs), hits, restarts, dups, time.Since(start).Round(time.Millisecond))
}

// TestZombieSameTransactionalID starts a second instance with the same
// group and client_id as a running one (a copy started by mistake, or a
// restart while the old process still lives): both have the same
// transactional id. The newer one initialises its producer at start, which
// fences the older one: its next transaction fails with PRODUCER_FENCED or
// INVALID_PRODUCER_EPOCH, nothing of it is committed, and it stops with an
// error that names the transactional id. The survivor takes its
// partitions over; the outputs hold the offline replay's records exactly
// once.
func TestZombieSameTransactionalID(t *testing.T) {
	t.Parallel()
	const nparts = 4
	_, addr := newCluster(t)
	cfgA := testConfig(t, addr, "lifeline-twins", "twin", nparts, config.ExactlyOnce)
	cfgA.Engine.MaxPollRecords = 100
	cfgB := cfgA
	cfgB.StateDir = t.TempDir() // another machine: the same identity, its own disk
	txnID := cfgA.Group + "-" + cfgA.ClientID

	recs := journeys(t, journey.Config{Customers: 80, Days: 60, Seed: 21})
	phases := splitDays(recs, 30)
	prod := newClient(t, addr)

	a := startInstance(t, cfgA)
	waitReady(t, nparts, a)
	produce(t, prod, cfgA.Topics.Input, nparts, phases[0])
	waitProcessed(t, endOffsets(nparts, phases[0]), a)
	aCommitted := counter(t, a.reg, "lifeline_batches_total", map[string]string{"result": "committed"})

	b := startInstance(t, cfgB)
	waitFor(t, waitLong, "the twin to join the group", func() (bool, string) {
		return len(b.rt.Partitions()) > 0, fmt.Sprint(b.rt.Partitions())
	})
	produce(t, prod, cfgA.Topics.Input, nparts, phases[1])
	recs = joinPhases(phases)
	ends := endOffsets(nparts, recs)
	waitFor(t, waitLong, "the older twin to be fenced and stop", func() (bool, string) {
		return a.stopped(), fmt.Sprint(a.rt.Metas())
	})
	switch {
	case a.err == nil:
		t.Fatal("the older twin stopped without an error")
	case !errors.Is(a.err, kerr.ProducerFenced) && !errors.Is(a.err, kerr.InvalidProducerEpoch):
		t.Fatalf("the older twin stopped with %v; want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", a.err)
	case !strings.Contains(a.err.Error(), txnID):
		t.Errorf("the older twin's error does not name the transactional id %q: %v", txnID, a.err)
	}
	t.Logf("the older twin stopped: %v", a.err)
	after := counter(t, a.reg, "lifeline_batches_total", map[string]string{"result": "committed"})
	t.Logf("the older twin committed %v batches before the twin started, none of phase 2 (%v)", aCommitted, after-aCommitted)
	if after != aCommitted {
		t.Errorf("the older twin committed %v batches after the newer one started", after-aCommitted)
	}

	waitReady(t, nparts, b)
	waitProcessed(t, ends, b)
	compareWithReplay(t, addr, cfgA, recs, nparts, b.eng)
	requireNoOpenTransaction(t, addr)
}

// TestPausedInstanceAfterTakeover freezes an instance (every connection
// held, as in a long GC pause or a frozen VM) in the middle of committing
// a batch, past its session timeout, while another instance takes its
// partitions over and processes the rest of the input; then un-freezes
// it. Its late transaction must not commit: the group has moved on, and
// the broker has timed the transaction out. At the end the outputs hold
// the offline replay's records exactly once.
//
// "before-heartbeat" freezes it as its TxnOffsetCommit reaches the broker
// (the offsets are in the transaction; the heartbeat that would allow the
// commit is not sent); "at-end-txn" as its EndTxn(commit) reaches the
// broker, which holds it until the freeze ends: a late commit.
func TestPausedInstanceAfterTakeover(t *testing.T) {
	t.Parallel()
	for _, at := range []kmsg.Key{kmsg.TxnOffsetCommit, kmsg.EndTxn} {
		name := "before-heartbeat"
		if at == kmsg.EndTxn {
			name = "at-end-txn"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testPausedInstance(t, at)
		})
	}
}

func testPausedInstance(t *testing.T, at kmsg.Key) {
	const nparts = 2
	c, addr := newCluster(t, kfake.GroupMinSessionTimeout(time.Second))
	cfgA := testConfig(t, addr, "lifeline-paused", "paused-a", nparts, config.ExactlyOnce)
	cfgB := testConfig(t, addr, "lifeline-paused", "paused-b", nparts, config.ExactlyOnce)
	for _, cfg := range []*config.Config{&cfgA, &cfgB} {
		cfg.Engine.MaxPollRecords = 100
		// The frozen instance's transaction holds its partitions' offsets
		// (and the changelog) until the broker times it out.
		cfg.Engine.TransactionTimeout = config.Duration(5 * time.Second)
	}
	txnA := cfgA.Group + "-" + cfgA.ClientID
	group := []kgo.Opt{kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond), kgo.RebalanceTimeout(3 * time.Second)}
	dialer := faultDialer(nil)
	// No request of a times out while it is frozen: it learns what
	// happened only from the broker's answers once it resumes.
	optsA := append([]kgo.Opt{kgo.Dialer(dialer.DialContext), kgo.RequestTimeoutOverhead(time.Minute)}, group...)

	recs := journeys(t, journey.Config{Customers: 80, Days: 60, Seed: 31})
	phases := splitDays(recs, 20, 30)
	prod := newClient(t, addr)

	a := startInstance(t, cfgA, optsA...)
	t.Cleanup(dialer.Thaw) // before a stops
	waitReady(t, nparts, a)
	produce(t, prod, cfgA.Topics.Input, nparts, phases[0])
	waitProcessed(t, endOffsets(nparts, phases[0]), a)

	var (
		frozen   = make(chan struct{})
		thawed   = make(chan struct{})
		fired    atomic.Bool
		thawOnce sync.Once
	)
	thaw := func() {
		thawOnce.Do(func() {
			close(thawed)
			dialer.Thaw()
		})
	}
	t.Cleanup(thaw)
	c.ControlKey(int16(at), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if fired.Load() {
			return nil, nil, false // the control is dropped
		}
		c.KeepControl()
		switch r := req.(type) {
		case *kmsg.TxnOffsetCommitRequest:
			if r.TransactionalID != txnA {
				return nil, nil, false
			}
		case *kmsg.EndTxnRequest:
			if r.TransactionalID != txnA || !r.Commit {
				return nil, nil, false
			}
		}
		fired.Store(true)
		dialer.Freeze()
		close(frozen)
		if at == kmsg.EndTxn {
			// The request is on its way: it lands when a resumes.
			c.SleepControl(func() { <-thawed })
		}
		return nil, nil, false
	})
	produce(t, prod, cfgA.Topics.Input, nparts, phases[1])
	select {
	case <-frozen:
	case <-time.After(waitLong):
		t.Fatal("instance a never committed a batch of phase 2")
	}
	committed := func(in *instance, result string) float64 {
		return counter(t, in.reg, "lifeline_batches_total", map[string]string{"result": result})
	}
	frozenAt := time.Now()
	aCommitted, aAborted := committed(a, "committed"), committed(a, "aborted")

	// b takes everything over while a is frozen, and processes the rest.
	b := startInstance(t, cfgB, group...)
	produce(t, prod, cfgA.Topics.Input, nparts, phases[2])
	recs = joinPhases(phases)
	ends := endOffsets(nparts, recs)
	waitFor(t, waitLong, "instance b to take every partition over", func() (bool, string) {
		ready, why := b.rt.Ready()
		return ready && len(b.rt.Partitions()) == nparts, why
	})
	waitProcessed(t, ends, b)
	// b read past a's frozen batch, so the broker has ended a's
	// transaction; a sent no EndTxn (or the broker holds it unanswered),
	// so the broker timed it out and aborted it: a's late EndTxn cannot
	// commit it. (kfake reports an ended transaction as Empty.)
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	txns, err := kadm.NewClient(newClient(t, addr)).DescribeTransactions(ctx, txnA)
	if err != nil {
		t.Fatal(err)
	}
	if st := txns[txnA].State; st == "Ongoing" || st == "PrepareCommit" || st == "CompleteCommit" {
		t.Errorf("instance a's transaction is %q while a is frozen and b has read past it; want it aborted by the broker", st)
	} else {
		t.Logf("instance a's transaction while a is frozen: %s", st)
	}

	// a resumes: its late transaction fails, and it commits nothing more
	// (it is stopped as soon as that batch has ended, so that whatever it
	// does next cannot be mistaken for the late commit).
	thaw()
	waitFor(t, waitLong, "instance a's late batch to end", func() (bool, string) {
		return a.stopped() || committed(a, "aborted") > aAborted || committed(a, "committed") > aCommitted, ""
	})
	if late := committed(a, "committed") - aCommitted; late > 0 {
		t.Errorf("instance a committed %v batches after it resumed", late)
	}
	if a.stopped() {
		t.Logf("instance a stopped after resuming: %v", a.err)
	} else {
		t.Logf("instance a aborted its late batch and went on")
	}
	a.stop(t)
	t.Logf("instance a was frozen for about %v", time.Since(frozenAt).Round(time.Second))

	waitReady(t, nparts, b)
	waitProcessed(t, ends, b)
	compareWithReplay(t, addr, cfgA, recs, nparts, b.eng)
	requireNoOpenTransaction(t, addr)
}
