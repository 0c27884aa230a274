package ingest_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/ingest"
)

// TestProduceFailsNever200: when the broker does not acknowledge, the
// caller gets a 5xx with Retry-After (so it retries), never a 200.
func TestProduceFailsNever200(t *testing.T) {
	quick := func(cfg *config.Config) {
		cfg.Ingest.HTTP.ProduceTimeout = config.Duration(2 * time.Second)
		cfg.Ingest.HTTP.WriteTimeout = config.Duration(5 * time.Second)
	}
	t.Run("broker refuses every produce", func(t *testing.T) {
		c, addr := newCluster(t)
		var refused sync.Once
		refusedAny := make(chan struct{})
		c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			r := req.(*kmsg.ProduceRequest)
			resp := r.ResponseKind().(*kmsg.ProduceResponse)
			for _, tp := range r.Topics {
				rt := kmsg.NewProduceResponseTopic()
				rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
				for _, p := range tp.Partitions {
					rp := kmsg.NewProduceResponseTopicPartition()
					rp.Partition = p.Partition
					rp.ErrorCode = kerr.NotEnoughReplicas.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			refused.Do(func() { close(refusedAny) })
			return resp, nil, true
		})
		cfg := testConfig(t, addr)
		quick(&cfg)
		l := startListener(t, cfg, ingest.Options{})
		client := &http.Client{Timeout: 30 * time.Second}
		start := time.Now()
		a := post(t, client, l.url, ingest.PathBatch, batchOf(batchMsg("m1", "ann"), batchMsg("m2", "bob")), basic(writeKey))
		took := time.Since(start)
		select {
		case <-refusedAny:
		default:
			t.Fatal("the broker saw no produce request")
		}
		if a.status != 503 || a.body["reason"] != "produce_failed" || a.header.Get("Retry-After") == "" {
			t.Fatalf("got %v (Retry-After %q), want 503 produce_failed with Retry-After", a, a.header.Get("Retry-After"))
		}
		if msg, _ := a.body["error"].(string); !strings.Contains(msg, "of the 2 records") {
			t.Errorf("error %q does not say how many records failed", msg)
		}
		if took > 8*time.Second {
			t.Errorf("answered after %s; ingest.http.produce_timeout is 2s", took)
		}
		if got := sum(t, l.reg, "lifeline_ingest_records_total"); got != 0 {
			t.Errorf("lifeline_ingest_records_total = %v after a refused produce", got)
		}
	})
	t.Run("broker gone", func(t *testing.T) {
		c, addr := newCluster(t)
		cfg := testConfig(t, addr)
		quick(&cfg)
		l := startListener(t, cfg, ingest.Options{})
		client := &http.Client{Timeout: 30 * time.Second}
		if a := post(t, client, l.url, ingest.PathTrack, track("m0", "ann"), basic(writeKey)); a.status != 200 {
			t.Fatalf("before the broker stops: %v", a)
		}
		c.Close()
		for i, id := range []string{"m1", "m2"} {
			if a := post(t, client, l.url, ingest.PathTrack, track(id, "ann"), basic(writeKey)); a.status != 503 {
				t.Errorf("request %d with the broker gone: got %v, want 503", i, a)
			}
		}
	})
}

// TestBufferedBytesBound: while the broker holds back its acknowledgements,
// requests beyond ingest.http.max_buffered_bytes get 503 with Retry-After
// at once; those within it get 200 once the broker acknowledges.
func TestBufferedBytesBound(t *testing.T) {
	c, addr := newCluster(t)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	cfg := testConfig(t, addr)
	cfg.Ingest.HTTP.MaxBufferedBytes = 1 << 20
	cfg.Ingest.HTTP.ProduceTimeout = config.Duration(20 * time.Second)
	cfg.Ingest.HTTP.WriteTimeout = config.Duration(30 * time.Second)
	l := startListener(t, cfg, ingest.Options{})
	client := &http.Client{Timeout: 60 * time.Second}

	// A batch of about 450 KB: two fit in 1 MiB, a third does not.
	pad := strings.Repeat("p", 30<<10)
	bigBatch := func(prefix string) []byte {
		var msgs []string
		for i := range 15 {
			msgs = append(msgs, `{"type":"track","event":"X","userId":"ann","messageId":"`+prefix+string(rune('a'+i))+`","timestamp":"2026-03-01T10:00:00Z","properties":{"pad":"`+pad+`"}}`)
		}
		return batchOf(msgs...)
	}
	held := make([]answer, 2)
	heldErr := make([]error, 2)
	var wg sync.WaitGroup
	for i := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held[i], heldErr[i] = tryPost(client, l.url, ingest.PathBatch, bigBatch(string(rune('A'+i))), basic(writeKey))
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for sum(t, l.reg, "lifeline_ingest_buffered_bytes") < 900<<10 {
		if time.Now().After(deadline) {
			free()
			t.Fatalf("the two held batches never filled the buffer (%v bytes)", sum(t, l.reg, "lifeline_ingest_buffered_bytes"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	a := post(t, client, l.url, ingest.PathBatch, bigBatch("C"), basic(writeKey))
	if a.status != 503 || a.body["reason"] != "busy" || a.header.Get("Retry-After") != "1" {
		t.Errorf("a third batch while two wait: got %v (Retry-After %q), want 503 busy, Retry-After 1", a, a.header.Get("Retry-After"))
	}
	free()
	wg.Wait()
	for i, h := range held {
		if heldErr[i] != nil {
			t.Errorf("held batch %d: %v", i, heldErr[i])
		} else if h.status != 200 {
			t.Errorf("held batch %d: got %v, want 200 once the broker acknowledged", i, h)
		}
	}
	if recs := readAll(t, addr, 30, time.Second); len(recs) != 30 {
		t.Errorf("%d records on the topic, want the 30 of the two accepted batches", len(recs))
	}
	if got := sum(t, l.reg, "lifeline_ingest_buffered_bytes"); got != 0 {
		t.Errorf("lifeline_ingest_buffered_bytes = %v after every request was answered", got)
	}
}

// TestShutdownDrains: when the run's context ends, a request waiting for
// the broker still gets its answer (200 once acknowledged) before Serve
// returns and the producer closes.
func TestShutdownDrains(t *testing.T) {
	c, addr := newCluster(t)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	l := startListener(t, testConfig(t, addr), ingest.Options{})
	client := &http.Client{Timeout: 30 * time.Second}
	var a answer
	var aerr error
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		a, aerr = tryPost(client, l.url, ingest.PathTrack, track("m1", "ann"), basic(writeKey))
	}()
	deadline := time.Now().Add(20 * time.Second)
	for sum(t, l.reg, "lifeline_ingest_buffered_bytes") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the producer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- l.stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) with a request waiting for the broker", err)
	case <-answered:
		t.Fatalf("answered %v before the broker acknowledged", a)
	case <-time.After(500 * time.Millisecond):
	}
	free()
	<-answered
	if aerr != nil || a.status != 200 {
		t.Fatalf("the request in flight at shutdown: %v %v, want 200", a, aerr)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if recs := readAll(t, addr, 1, time.Second); len(recs) != 1 {
		t.Errorf("%d records on the topic, want the 1 acknowledged", len(recs))
	}
}
