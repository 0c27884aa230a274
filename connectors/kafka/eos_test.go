package kafka_test

// The exactly-once reference model, after Kafka Streams' StreamsEosTest and
// EosTestDriver and franz-go's TestTxnEtl: instances process a workload,
// then a verifier of its own reads every output topic with read_committed
// and requires it to equal the offline replay of the committed input. The
// fault tests (chaos_test.go) end with the same verification.

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
)

// TestExactlyOnceReference runs three instances in one group on a
// three-broker cluster over a workload produced in waves, each wave
// processed before the next arrives (so that the group's rebalances, the
// first transactions and the checkpoints all happen under load). The
// verifier then requires, from Kafka alone: the alert, stage and health
// topics equal the offline replay record for record, in each customer's
// order; every alert (id, status) exactly once; every undecodable input
// record in the dead-letter topic exactly once; the changelog, restored
// into an empty store, giving every customer the offline replay's state;
// and no transaction left open.
func TestExactlyOnceReference(t *testing.T) {
	t.Parallel()
	const nparts = 6
	_, addr := newCluster(t, kfake.NumBrokers(3))
	var cfgs []config.Config
	var ins []*instance
	for i := range 3 {
		cfg := testConfig(t, addr, "lifeline-eos", fmt.Sprintf("eos-%d", i), nparts, config.ExactlyOnce)
		cfg.Engine.MaxPollRecords = 200 // many transactions
		cfgs = append(cfgs, cfg)
		ins = append(ins, startInstance(t, cfg))
	}
	waitReady(t, nparts, ins...)

	recs := journeys(t, journey.Config{Customers: 200, Days: 60, Seed: 21, BadRate: 0.005})
	prod := newClient(t, addr)
	start := time.Now()
	var sent []inputRecord
	for _, wave := range waves(recs, 4) {
		produce(t, prod, cfgs[0].Topics.Input, nparts, wave)
		sent = append(sent, wave...)
		waitProcessed(t, endOffsets(nparts, sent), ins...)
	}
	took := time.Since(start)
	for _, in := range ins {
		in.stop(t)
		if in.err != nil {
			t.Errorf("%s: Run: %v", in.name, in.err)
		}
	}
	f := verifyExactlyOnce(t, addr, cfgs[0], sent, nparts)
	t.Logf("reference: %d events, 3 instances, 3 brokers, processed in %v; %s", len(sent), took.Round(time.Millisecond), f)
}

// waves splits a workload into n runs of consecutive days, in order.
func waves(recs []inputRecord, n int) [][]inputRecord {
	var last time.Time
	for _, r := range recs {
		if r.Time.After(last) {
			last = r.Time
		}
	}
	span := last.Sub(workloadStart)/time.Duration(n) + 1
	out := make([][]inputRecord, n)
	for _, r := range recs {
		i := min(max(int(r.Time.Sub(workloadStart)/span), 0), n-1)
		out[i] = append(out[i], r)
	}
	return out
}

// eosFigures is what the verifier counted.
type eosFigures struct {
	outputs, alerts, deadLetters, changelog, customers int
	duplicates, lost                                   int
}

func (f eosFigures) String() string {
	return fmt.Sprintf("verified %d output records (%d alerts), %d dead letters, %d changelog records (%d customers): %d duplicates, %d lost",
		f.outputs, f.alerts, f.deadLetters, f.changelog, f.customers, f.duplicates, f.lost)
}

// verifyExactlyOnce is the reference model's verifier. recs is the
// committed input, with the offsets Kafka gave it; the instances are
// stopped (or dead). It waits for every transaction to end (a crashed
// instance's by the broker's timeout), reads every output topic with
// read_committed, and fails the test on any difference from the offline
// replay.
func verifyExactlyOnce(t *testing.T, addr string, cfg config.Config, recs []inputRecord, nparts int32) eosFigures {
	t.Helper()
	waitNoOpenTransactions(t, addr)
	tp := &cfg.Topics
	out := readAll(t, addr, tp.Alerts, tp.Stages, tp.Health, tp.DeadLetters, tp.Changelog)
	var outs, dead, changelog []outputRecord
	for _, r := range out {
		switch r.Topic {
		case tp.DeadLetters:
			dead = append(dead, r)
		case tp.Changelog:
			changelog = append(changelog, r)
		default:
			outs = append(outs, r)
		}
	}
	want, offline := replayOffline(t, recs, nparts, cfg.Engine.AllowedLateness)
	got := outputsOf(t, cfg, outs)
	compareOutputs(t, want, got)

	var f eosFigures
	f.outputs, f.changelog = len(outs), len(changelog)
	// Every output record by value, whatever its kind: values carry the
	// customer, the event time and the cause, so a repeated value is a
	// duplicate delivery.
	f.duplicates, f.lost = multisetDiff(t, "output record", flatten(want), flatten(got))
	// Alerts by (alert_id, status), explicitly: the id is what alert
	// consumers deduplicate and page on.
	// (A subset of the records above: reported, not counted twice.)
	multisetDiff(t, "alert", alertIDs(t, want), alertIDs(t, got))
	f.alerts = len(alertIDs(t, got))
	if f.alerts == 0 {
		t.Error("no alert to compare: the workload is too small to prove anything about alerts")
	}
	dd, dl := compareDeadLetters(t, recs, dead)
	f.deadLetters = len(dead)
	f.duplicates += dd
	f.lost += dl
	f.customers = compareChangelog(t, recs, nparts, changelog, offline)
	return f
}

// waitNoOpenTransactions waits until the cluster lists no transaction in
// progress: after a clean stop there is none; a crashed instance's is
// aborted by the broker within its timeout.
func waitNoOpenTransactions(t *testing.T, addr string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	waitFor(t, waitLong, "every transaction to end", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		listed, err := adm.ListTransactions(ctx, nil, nil)
		if err != nil {
			return false, err.Error()
		}
		var open []string
		for _, l := range listed.Sorted() {
			switch l.State {
			case "Empty", "CompleteCommit", "CompleteAbort", "Dead":
			default:
				open = append(open, l.TxnID+" "+l.State)
			}
		}
		if len(listed) == 0 {
			return false, "no transaction listed at all (ListTransactions unsupported?)"
		}
		return len(open) == 0, strings.Join(open, ", ")
	})
}

// flatten lists every record of o.
func flatten(o outputs) []string {
	var all []string
	for _, vs := range o {
		all = append(all, vs...)
	}
	return all
}

// alertIDs lists the (alert_id, status) of every alert record of o.
func alertIDs(t *testing.T, o outputs) []string {
	t.Helper()
	var ids []string
	for k, vs := range o {
		if !strings.HasPrefix(k, "alert ") {
			continue
		}
		for _, v := range vs {
			id := jsonField(v, "alert_id")
			if id == "" {
				t.Fatalf("alert record without an alert_id: %s", v)
			}
			ids = append(ids, id+" "+jsonField(v, "status"))
		}
	}
	return ids
}

// multisetDiff counts the items got has more often than want (duplicates)
// and less often (lost), reporting the first few.
func multisetDiff(t *testing.T, what string, want, got []string) (dup, lost int) {
	t.Helper()
	n := map[string]int{}
	for _, w := range want {
		n[w]++
	}
	for _, g := range got {
		n[g]--
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch c := n[k]; {
		case c > 0:
			lost += c
			if lost <= 3 {
				t.Errorf("%s lost (%d fewer than the offline replay): %s", what, c, k)
			}
		case c < 0:
			dup -= c
			if dup <= 3 {
				t.Errorf("%s duplicated (%d more than the offline replay): %s", what, -c, k)
			}
		}
	}
	if dup > 0 || lost > 0 {
		t.Errorf("%ss: %d duplicated, %d lost, of %d", what, dup, lost, len(want))
	}
	return dup, lost
}

// compareDeadLetters requires every undecodable input record, and no
// other, in the dead-letter topic exactly once, value untouched, found by
// its Kafka Connect error headers.
func compareDeadLetters(t *testing.T, recs []inputRecord, dead []outputRecord) (dup, lost int) {
	t.Helper()
	cfg := config.Defaults()
	dec := decode.New(cfg.DecodeOptions())
	var ev engine.Event
	var want, got []string
	// In each partition's order: an event dated only by its record's
	// timestamp before any event of its partition was applied is refused
	// by the engine (engine.UndatedError) and dead-lettered too.
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b inputRecord) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	applied := map[int32]bool{}
	for _, r := range recs {
		var hs []decode.Header
		for _, h := range r.Headers {
			hs = append(hs, decode.Header{Key: h.Key, Value: h.Value})
		}
		// As the runtime decodes: with the record time as the last
		// fallback (produce stamps records with r.Time).
		var recordTime int64
		if !r.Time.IsZero() {
			recordTime = r.Time.UnixMilli()
		}
		if dec.DecodeAt(r.Value, hs, recordTime, &ev) != nil || ev.TimeFromRecord && !applied[r.Partition] {
			want = append(want, fmt.Sprintf("%d@%d %q", r.Partition, r.Offset, r.Value))
			continue
		}
		applied[r.Partition] = true
	}
	for _, d := range dead {
		h := map[string]string{}
		for _, x := range d.Headers {
			h[x.Key] = string(x.Value)
		}
		p, perr := strconv.Atoi(h["__connect.errors.partition"])
		o, oerr := strconv.ParseInt(h["__connect.errors.offset"], 10, 64)
		if perr != nil || oerr != nil {
			t.Errorf("dead letter %d@%d without its source partition and offset: %v", d.Partition, d.Offset, h)
			continue
		}
		got = append(got, fmt.Sprintf("%d@%d %q", p, o, d.Value))
	}
	if len(want) == 0 {
		t.Error("the workload has no undecodable record: dead letters go unverified")
	}
	return multisetDiff(t, "dead letter", want, got)
}

// compareChangelog restores the committed changelog, partition by
// partition in offset order, into an empty store, as a new owner would,
// and requires every customer's state and every partition's meta to
// equal the offline replay's. It returns the number of customers.
func compareChangelog(t *testing.T, recs []inputRecord, nparts int32, changelog []outputRecord, offline *engine.Engine) int {
	t.Helper()
	restored, err := engine.Open(t.TempDir(), rules.Default(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	byPart := make([][]outputRecord, nparts)
	for _, r := range changelog {
		if r.Partition >= nparts {
			t.Fatalf("changelog record in partition %d of an input of %d", r.Partition, nparts)
		}
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	for p := range nparts {
		rs := byPart[p]
		sort.Slice(rs, func(i, j int) bool { return rs[i].Offset < rs[j].Offset })
		part, err := restored.Partition(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if err := part.Restore(r.Key, r.Value); err != nil {
				t.Fatalf("changelog %d@%d: %v", p, r.Offset, err)
			}
		}
		var next int64
		if len(rs) > 0 {
			next = rs[len(rs)-1].Offset + 1
		}
		if err := part.CommitRestore(next, 0); err != nil {
			t.Fatal(err)
		}
		restored.Release(part)
		got, _, err := restored.StoredMeta(p)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := offline.StoredMeta(p)
		if err != nil {
			t.Fatal(err)
		}
		got.ChangelogNext, want.ChangelogNext = 0, 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("partition %d meta restored from the changelog:\n got %+v\nwant %+v", p, got, want)
		}
	}
	compareStates(t, recs, nparts, offline, restored)
	customers := map[string]bool{}
	for _, r := range recs {
		if r.Key != "" {
			customers[r.Key] = true
		}
	}
	return len(customers)
}
