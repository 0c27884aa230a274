package kafka_test

// Machinery of the broker-fault tests: faults that count what they did,
// a control that slows answers down, and the checks a user would make
// after the faults (outputs against the offline replay, no transaction
// left open).

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lifeline-hq/lifeline/internal/faultnet"
)

// injected counts the requests a fault case answered with its error (or
// slowed down), and removes its faults and controls.
type injected struct {
	hits   func() int
	remove func()
}

// faulted installs kfake faults and counts their hits.
func faulted(c *kfake.Cluster, fs ...kfake.Fault) injected {
	h := c.Fault(fs...)
	return injected{hits: h.Hits, remove: h.Remove}
}

// slowed installs a control that holds the broker's answer to the first n
// requests of key that match for 1, 2, 3, 1, ... seconds each (the broker
// goes on serving other requests meanwhile), then answers as usual.
func slowed(c *kfake.Cluster, key kmsg.Key, n int, match func(kmsg.Request) bool) injected {
	var (
		hits atomic.Int32
		mu   sync.Mutex
		done bool
		stop = make(chan struct{})
	)
	c.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		over := done
		mu.Unlock()
		if over {
			return nil, nil, false // not kept: the control is dropped
		}
		c.KeepControl()
		if !match(req) || int(hits.Load()) >= n {
			return nil, nil, false
		}
		d := time.Duration(hits.Add(1)%3+1) * time.Second
		c.SleepControl(func() {
			select {
			case <-time.After(d):
			case <-stop:
			}
		})
		return nil, nil, false
	})
	return injected{
		hits: func() int { return int(hits.Load()) },
		remove: func() {
			mu.Lock()
			defer mu.Unlock()
			if !done {
				done = true
				close(stop)
			}
		},
	}
}

// topicID looks a topic's id up, for requests that name topics by id.
func topicID(t *testing.T, addr, topic string) [16]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	md, err := kadm.NewClient(newClient(t, addr)).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return md.Topics[topic].ID
}

// fetchesTopic reports whether a fetch request reads topic.
func fetchesTopic(req kmsg.Request, topic string, id [16]byte) bool {
	f, ok := req.(*kmsg.FetchRequest)
	if !ok {
		return false
	}
	for _, ft := range f.Topics {
		if ft.Topic == topic || ft.TopicID == id {
			return true
		}
	}
	return false
}

// requireNoOpenTransaction fails the test if the broker has a transaction
// that is not complete: its records would hold read_committed readers
// back (and its offsets a new owner) until the broker times it out.
func requireNoOpenTransaction(t *testing.T, addr string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	waitFor(t, waitShort, "no transaction to be open", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing", "PrepareCommit", "PrepareAbort", "PrepareEpochFence"})
		if err != nil {
			return false, err.Error()
		}
		var open []string
		for _, tx := range listed.Sorted() {
			open = append(open, fmt.Sprintf("%s (%s)", tx.TxnID, tx.State))
		}
		return len(open) == 0, strings.Join(open, ", ")
	})
}

// dedup drops every repeat of a record already seen in the same
// sequence: at_least_once may write a batch's outputs twice (with the
// same ids), never lose or reorder them.
func dedup(o outputs) (outputs, int) {
	out, dups := outputs{}, 0
	for k, vs := range o {
		seen := map[string]bool{}
		for _, v := range vs {
			if seen[v] {
				dups++
				continue
			}
			seen[v] = true
			out[k] = append(out[k], v)
		}
	}
	return out, dups
}

// faultDialer is an instance's dialer in the fault tests: loopback with
// net.Dialer, through a faultnet.Dialer that a test may cut, freeze or
// kill, and whose connections live lives when it is not nil.
func faultDialer(lives *faultnet.Lives) *faultnet.Dialer {
	return &faultnet.Dialer{Net: net.Dialer{Timeout: 5 * time.Second}, Lives: lives}
}
