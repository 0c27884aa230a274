// Package httpapi serves Lifeline's HTTP endpoints: /metrics
// (Prometheus), /healthz, /readyz, and the JSON API a customer-success tool
// queries: GET /v1/customers/{id}, GET /v1/funnel and GET /v1/kpis.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// Source is what the API reads: the runtime that owns the partitions.
type Source interface {
	// Ready reports whether every assigned partition is restored.
	Ready() (bool, string)
	// Metas returns the committed meta of every partition held here.
	Metas() map[int32]engine.Meta
	// Search looks a customer up in every partition held here.
	Search(ctx context.Context, customer string) (kafka.Search, error)
	// OwnerOf finds the group member that holds input partition p.
	OwnerOf(ctx context.Context, p int32) (kafka.Owner, bool)
	// Coverage says which input partitions are held here, restored or
	// being restored, and how many the input topic has.
	Coverage(ctx context.Context) (kafka.Coverage, error)
	// Scan calls fn with every customer's committed state in the
	// partitions held here and restored, and says which those were.
	Scan(ctx context.Context, fn func(p int32, customer string, st *engine.State) error) (kafka.Coverage, error)
	// Timeline reads a customer's last output records in partition p.
	Timeline(p int32, customer string) ([]json.RawMessage, bool, error)
	// Pack is the rule pack in force.
	Pack() *rules.Pack
	// Now is the engine's notion of now (Unix ms): the wall clock, or the
	// demo's accelerated clock.
	Now() int64
}

// HandlerOption changes what Handler serves.
type HandlerOption func(*api)

// WithPeers makes a customer lookup that finds nothing here ask peers (nil:
// none).
func WithPeers(p *Peers) HandlerOption { return func(a *api) { a.peers = p } }

// WithConsole serves the web console h at / (and its assets under
// /console/), with /ui redirecting to it (nil: no console, / is 404).
func WithConsole(h http.Handler) HandlerOption { return func(a *api) { a.console = h } }

// api is the state of the handler.
type api struct {
	src     Source
	log     zerolog.Logger
	peers   *Peers
	console http.Handler
}

// Handler returns the HTTP handler for src; gatherer serves /metrics.
func Handler(src Source, gatherer prometheus.Gatherer, log zerolog.Logger, opts ...HandlerOption) http.Handler {
	a := &api{src: src, log: log}
	for _, o := range opts {
		o(a)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := src.Ready()
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ready": ok, "reason": why})
	})
	mux.HandleFunc("GET /v1/customers/{id}", a.customer)
	mux.HandleFunc("GET /v1/customers/{id}/timeline", a.timeline)
	mux.HandleFunc("GET /v1/alerts", a.alerts)
	mux.HandleFunc("GET /v1/funnel", a.clusterAnswer("/v1/funnel", func(t engine.Meta) any { return engine.FunnelOf(src.Pack(), t) }))
	mux.HandleFunc("GET /v1/kpis", a.clusterAnswer("/v1/kpis", func(t engine.Meta) any {
		k := engine.KPIsOf(src.Pack(), t)
		return struct {
			engine.KPIs
			// Bands counts scored customers per health band.
			Bands map[string]int64 `json:"bands"`
		}{k, t.Bands}
	}))
	if a.console != nil {
		mux.Handle("GET /{$}", a.console)
		mux.Handle("GET /console/", a.console)
		mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
			// Relative, as sent (http.Redirect would make it absolute):
			// the console works behind any path prefix.
			w.Header().Set("Location", "./")
			w.WriteHeader(http.StatusFound)
		})
	}
	return mux
}

// Misdirected is the body of a 421 Misdirected Request: no peers are
// configured, the customer is not in a partition held here, and another
// group member holds the partition Kafka's default partitioner gives it
// (Owner says which, when the group has assigned it).
type Misdirected struct {
	Error     string       `json:"error"`
	Partition int32        `json:"partition"`
	Owner     *kafka.Owner `json:"owner,omitempty"`
}

// NotFound is the body of a 404: the customer is in none of the
// partitions searched, which are all of the input topic's unless the
// lookup was ?scope=local.
type NotFound struct {
	Error string `json:"error"`
	// Searched are the partitions searched (here, and by the peers).
	Searched []int32 `json:"searched"`
	// Restoring are partitions held here and being restored (scope=local).
	Restoring []int32 `json:"restoring,omitempty"`
	// Partitions is the input topic's partition count.
	Partitions int32 `json:"partitions"`
}

// Incomplete is the body of a 503 for a customer found in none of the
// partitions searched while some could not be searched: being restored
// (here or on a peer), held by a peer that did not answer, or by another
// instance with no peers configured.
type Incomplete struct {
	Error      string      `json:"error"`
	Partitions int32       `json:"partitions"`
	Searched   []int32     `json:"searched"`
	Unsearched []int32     `json:"unsearched"`
	Restoring  []int32     `json:"restoring,omitempty"`
	Peers      []PeerError `json:"peer_errors,omitempty"`
}

// customer answers GET /v1/customers/{id}. It searches the partitions held
// here; a customer not found in them is asked of the peers (unless the
// request is ?scope=local, as the peers' own requests are).
func (a *api) customer(w http.ResponseWriter, r *http.Request) {
	a.lookup(w, r, "", func(id string, s *kafka.Search) (any, error) {
		c := engine.Describe(a.src.Pack(), id, &s.State, a.src.Now())
		return struct {
			engine.Customer
			Partition int32 `json:"partition"`
		}{c, s.Partition}, nil
	})
}

// Timeline is the answer of GET /v1/customers/{id}/timeline.
type Timeline struct {
	ID        string `json:"customer_id"`
	Partition int32  `json:"partition"`
	// Records are the customer's last output records (stage, health,
	// alert), oldest first, as the instance holding its partition kept
	// them (engine.timeline_records); empty when it keeps none.
	Records []json.RawMessage `json:"records"`
}

// timeline answers GET /v1/customers/{id}/timeline: found as a customer
// is, its last output records.
func (a *api) timeline(w http.ResponseWriter, r *http.Request) {
	a.lookup(w, r, "/timeline", func(id string, s *kafka.Search) (any, error) {
		recs, _, err := a.src.Timeline(s.Partition, id)
		if recs == nil {
			recs = []json.RawMessage{}
		}
		return Timeline{ID: id, Partition: s.Partition, Records: recs}, err
	})
}

// lookup finds customer {id} and answers with what found makes of it:
// here, or from a peer asked GET /v1/customers/{id}{suffix}?scope=local;
// or 404, 421 or 503 when it is not found (see customer).
func (a *api) lookup(w http.ResponseWriter, r *http.Request, suffix string, found func(id string, s *kafka.Search) (any, error)) {
	id := r.PathValue("id")
	local := false
	switch scope := r.URL.Query().Get("scope"); scope {
	case "", "all":
	case "local":
		local = true
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("scope %q: expected local (this instance's partitions only) or all (the default)", scope))
		return
	}
	s, err := a.src.Search(r.Context(), id)
	if err != nil {
		a.log.Warn().Err(err).Str("customer", id).Msg("look a customer up")
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if s.Found {
		v, err := found(id, &s)
		if err != nil {
			a.log.Warn().Err(err).Str("customer", id).Msg("read a customer")
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, v)
		return
	}
	if local {
		writeJSON(w, http.StatusNotFound, NotFound{Error: "no customer " + id + " in this instance's partitions",
			Searched: nonNil(s.Searched), Restoring: s.Restoring, Partitions: s.Partitions})
		return
	}
	searched := map[int32]bool{}
	for _, p := range s.Searched {
		searched[p] = true
	}
	restoring := slices.Clone(s.Restoring)
	var peerErrs []PeerError
	if a.peers == nil {
		home := s.Home
		if !searched[home] && !slices.Contains(s.Restoring, home) {
			// Another instance holds the partition Kafka's default
			// partitioner gives the customer: say which, so that the
			// caller (or a proxy) asks it.
			m := Misdirected{Error: "customer is not in this instance's partitions; another instance holds the one Kafka's default partitioner gives it (set api.peers to have this instance ask the others)", Partition: home}
			if owner, ok := a.src.OwnerOf(r.Context(), home); ok {
				m.Owner = &owner
			}
			writeJSON(w, http.StatusMisdirectedRequest, m)
			return
		}
	} else if int(s.Partitions) > len(searched) {
		ans := a.peers.ask(r.Context(), id, suffix)
		if ans.found != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(ans.found)
			return
		}
		for _, p := range ans.searched {
			searched[p] = true
			// A peer that knows the input topic has grown.
			s.Partitions = max(s.Partitions, p+1)
		}
		restoring = append(restoring, ans.restoring...)
		peerErrs = ans.errs
		for _, e := range peerErrs {
			a.log.Debug().Str("peer", e.Peer).Str("error", e.Error).Str("customer", id).Msg("a peer could not be asked for a customer")
		}
	}
	all := make([]int32, 0, len(searched))
	var unsearched []int32
	for p := range s.Partitions {
		if searched[p] {
			all = append(all, p)
		} else {
			unsearched = append(unsearched, p)
		}
	}
	if len(unsearched) == 0 {
		writeJSON(w, http.StatusNotFound, NotFound{Error: "no customer " + id, Searched: all, Partitions: s.Partitions})
		return
	}
	slices.Sort(restoring)
	restoring = slices.Compact(restoring)
	var why string
	switch {
	case len(restoring) > 0 && len(peerErrs) == 0:
		why = "partitions being restored"
	case a.peers == nil:
		why = "partitions held by other instances (set api.peers to have this instance ask them)"
	default:
		why = "partitions being restored, or held by peers that did not answer (see peer_errors)"
	}
	w.Header().Set("Retry-After", "5")
	writeJSON(w, http.StatusServiceUnavailable, Incomplete{
		Error:      fmt.Sprintf("customer %s not found in the partitions searched; partitions %v could not be searched: %s; retry shortly", id, unsearched, why),
		Partitions: s.Partitions, Searched: all, Unsearched: unsearched, Restoring: restoring, Peers: peerErrs,
	})
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// The server's timeouts, by default. Lifeline's answers are small and
// quick (a /metrics scrape, one customer, the funnel): a client that takes
// longer to send its request or to read the answer is stuck or hostile,
// and holds a connection and a goroutine until the timeout frees them.
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to
	// the end of the answer: generous for the largest /metrics.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait
	// for its next request before the server closes it.
	DefaultIdleTimeout = 120 * time.Second
)

// Option changes how Serve serves.
type Option func(*http.Server)

// ReadTimeout sets the bound on reading a whole request (default
// DefaultReadTimeout).
func ReadTimeout(d time.Duration) Option { return func(s *http.Server) { s.ReadTimeout = d } }

// WriteTimeout sets the bound on answering a request (default
// DefaultWriteTimeout).
func WriteTimeout(d time.Duration) Option { return func(s *http.Server) { s.WriteTimeout = d } }

// IdleTimeout sets how long an idle keep-alive connection stays open
// (default DefaultIdleTimeout).
func IdleTimeout(d time.Duration) Option { return func(s *http.Server) { s.IdleTimeout = d } }

// Serve serves h on ln until ctx ends, then shuts down gracefully (within
// 3 seconds) and returns nil; it returns the error that stops it earlier.
// It closes ln. Every connection is bounded in time (the Default*Timeout
// constants, or opts).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opts ...Option) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
	}
	for _, o := range opts {
		o(srv)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
