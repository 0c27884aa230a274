package ingest_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/ingest"
)

// BenchmarkTrack: /v1/track calls over real HTTP from 32 concurrent
// clients, each answered after the broker (kfake on loopback) acknowledged
// it. What it measures is the listener's own cost per acknowledged call
// (auth, rewrite, decode, produce, wait), not a real broker's.
func BenchmarkTrack(b *testing.B) {
	benchTrack(b, func(i int64) (string, []byte) {
		return ingest.PathTrack, track(fmt.Sprintf("b-%d", i), fmt.Sprintf("cus_%d", i%1000))
	})
}

// BenchmarkBatch100: /v1/batch calls of 100 messages; ns/op is per batch.
func BenchmarkBatch100(b *testing.B) {
	benchTrack(b, func(i int64) (string, []byte) {
		msgs := make([]string, 100)
		for j := range msgs {
			msgs[j] = batchMsg(fmt.Sprintf("b-%d-%d", i, j), fmt.Sprintf("cus_%d", (i*100+int64(j))%1000))
		}
		return ingest.PathBatch, batchOf(msgs...)
	})
}

func benchTrack(b *testing.B, req func(i int64) (string, []byte)) {
	_, addr := newCluster(b)
	l := startListener(b, testConfig(b, addr), ingest.Options{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	var n atomic.Int64
	b.SetParallelism(16) // 16 per GOMAXPROCS
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			path, body := req(n.Add(1))
			a, err := tryPost(client, l.url, path, body, basic(writeKey))
			if err != nil || a.status != 200 {
				b.Errorf("%v %v", a, err)
				return
			}
		}
	})
}
