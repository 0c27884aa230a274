package httpapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// withPeers serves src (held: partition 0 of 2) asking peers.
func withPeers(t *testing.T, src *source, c PeersConfig) string {
	t.Helper()
	src.parts, src.held = 2, map[int32]bool{0: true}
	p, err := NewPeers(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	srv := httptest.NewServer(Handler(src, prometheus.NewRegistry(), zerolog.Nop(), WithPeers(p)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// peer is a fake peer holding partition 1, where no customer is; it
// counts the requests, and fails the test on one that is not scope=local.
func peer(t *testing.T, answer http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.URL.Query().Get("scope") != "local" || !strings.HasPrefix(r.URL.Path, "/v1/customers/") {
			t.Errorf("peer asked %s: want /v1/customers/{id}?scope=local", r.URL)
		}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func notHere(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, NotFound{Error: "no customer", Searched: []int32{1}, Partitions: 2})
}

// A peer that never answers holds the lookup no longer than the peer
// timeout: the answer is a 503 naming its partitions, and a customer held
// here is answered without asking.
func TestPeerThatHangsIsCutOff(t *testing.T) {
	srv, src := newServer(t)
	srv.Close()
	release := make(chan struct{})
	hang, asked := peer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before hang's Close, which waits for it
	const timeout = 200 * time.Millisecond
	url := withPeers(t, src, PeersConfig{URLs: []string{hang.URL}, Timeout: timeout})
	start := time.Now()
	var inc Incomplete
	code := get(t, url+"/v1/customers/nobody", &inc)
	took := time.Since(start)
	if code != http.StatusServiceUnavailable || !slices.Equal(inc.Unsearched, []int32{1}) || len(inc.Peers) != 1 || inc.Peers[0].Peer != hang.URL {
		t.Errorf("unknown customer, peer hanging: %d %+v; want 503 naming partition 1 and the peer", code, inc)
	}
	if took > timeout+time.Second {
		t.Errorf("the lookup took %v with a peer timeout of %v", took, timeout)
	}
	before := asked.Load()
	if code := get(t, url+"/v1/customers/ann", nil); code != http.StatusOK || asked.Load() != before {
		t.Errorf("ann, held here: status %d, peer asked %d times more; want 200 without asking", code, asked.Load()-before)
	}
}

// An answer longer than maxPeerBody is refused, not read.
func TestPeerAnswerTooLong(t *testing.T) {
	srv, src := newServer(t)
	srv.Close()
	big, _ := peer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"partition":1,"x":"` + strings.Repeat("a", 2*maxPeerBody) + `"}`))
	})
	url := withPeers(t, src, PeersConfig{URLs: []string{big.URL}})
	var inc Incomplete
	if code := get(t, url+"/v1/customers/nobody", &inc); code != http.StatusServiceUnavailable || len(inc.Peers) != 1 || !strings.Contains(inc.Peers[0].Error, "longer than") {
		t.Errorf("peer with a 2 MiB answer: %d %+v; want 503 saying the answer is too long", code, inc)
	}
}

// One lookup asks at most Max peers; the partitions those that answered
// searched count, so that the customer is 404 once all are searched.
func TestMaxPeers(t *testing.T) {
	srv, src := newServer(t)
	srv.Close()
	var urls []string
	var counts []*atomic.Int32
	for range 3 {
		p, n := peer(t, notHere)
		urls, counts = append(urls, p.URL), append(counts, n)
	}
	url := withPeers(t, src, PeersConfig{URLs: urls, Max: 2})
	var nf NotFound
	if code := get(t, url+"/v1/customers/nobody", &nf); code != http.StatusNotFound || !slices.Equal(nf.Searched, []int32{0, 1}) {
		t.Errorf("unknown customer, partition 1 searched by the peers: %d %+v; want 404", code, nf)
	}
	total := int32(0)
	for _, n := range counts {
		total += n.Load()
	}
	if total != 2 {
		t.Errorf("%d peers asked, want 2 (api.max_peers)", total)
	}
}

// ?scope=local answers from this instance's partitions only: a 404 saying
// which it searched and which it is restoring, never a 421 or a peer's
// answer.
func TestScopeLocal(t *testing.T) {
	srv, src := newServer(t)
	srv.Close()
	other, asked := peer(t, notHere)
	url := withPeers(t, src, PeersConfig{URLs: []string{other.URL}})
	src.parts, src.held = 3, map[int32]bool{0: true, 2: false}
	var nf NotFound
	if code := get(t, url+"/v1/customers/remote-1?scope=local", &nf); code != http.StatusNotFound ||
		!slices.Equal(nf.Searched, []int32{0}) || !slices.Equal(nf.Restoring, []int32{2}) || nf.Partitions != 3 || asked.Load() != 0 {
		t.Errorf("scope=local: %d %+v, peer asked %d times; want 404 searched [0], restoring [2], no peer asked", code, nf, asked.Load())
	}
}

func TestNewPeersRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"lifeline:8080", "ftp://lifeline:8080", "http://:8080"} {
		if _, err := NewPeers(PeersConfig{URLs: []string{u}}); err == nil || !strings.Contains(err.Error(), u) {
			t.Errorf("NewPeers(%q): %v; want an error naming it", u, err)
		}
	}
}
