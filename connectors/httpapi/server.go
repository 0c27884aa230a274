// Package httpapi serves Lifeline's HTTP endpoints: /metrics
// (Prometheus), /healthz, /readyz, and the JSON API a customer-success tool
// queries: GET /v1/customers/{id}, GET /v1/funnel and GET /v1/kpis.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
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
	// Locate finds a customer's partition and who holds it.
	Locate(ctx context.Context, customer string) (kafka.Location, error)
	// Lookup reads a customer's committed state from a local partition.
	Lookup(partition int32, customer string) (engine.State, bool, error)
	// Pack is the rule pack in force.
	Pack() *rules.Pack
	// Now is the engine's notion of now (Unix ms): the wall clock, or the
	// demo's accelerated clock.
	Now() int64
}

// Handler returns the HTTP handler for src; gatherer serves /metrics.
func Handler(src Source, gatherer prometheus.Gatherer, log zerolog.Logger) http.Handler {
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
	mux.HandleFunc("GET /v1/customers/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		loc, err := src.Locate(r.Context(), id)
		if err != nil {
			log.Warn().Err(err).Str("customer", id).Msg("locate customer")
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		switch {
		case loc.Restoring:
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, Misdirected{
				Error: "this instance holds the customer's partition and is restoring it; retry shortly", Partition: loc.Partition,
			})
			return
		case !loc.Local:
			// Another instance owns the partition: say which, so that
			// the caller (or a proxy) asks it.
			writeJSON(w, http.StatusMisdirectedRequest, Misdirected{
				Error: "customer is on a partition this instance does not own", Partition: loc.Partition, Owner: loc.Owner,
			})
			return
		}
		p := loc.Partition
		st, found, err := src.Lookup(p, id)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if !found {
			writeError(w, http.StatusNotFound, "no customer "+id)
			return
		}
		c := engine.Describe(src.Pack(), id, &st, src.Now())
		writeJSON(w, http.StatusOK, struct {
			engine.Customer
			Partition int32 `json:"partition"`
		}{c, p})
	})
	mux.HandleFunc("GET /v1/funnel", func(w http.ResponseWriter, r *http.Request) {
		t := engine.Totals(src.Metas())
		writeJSON(w, http.StatusOK, engine.FunnelOf(src.Pack(), t))
	})
	mux.HandleFunc("GET /v1/kpis", func(w http.ResponseWriter, r *http.Request) {
		t := engine.Totals(src.Metas())
		writeJSON(w, http.StatusOK, engine.KPIsOf(src.Pack(), t))
	})
	return mux
}

// Misdirected is the body of an answer about a customer this instance
// does not serve: 421 Misdirected Request when another group member holds
// its partition (Owner says which, when the group has assigned it), 503
// while this instance is restoring it.
type Misdirected struct {
	Error     string       `json:"error"`
	Partition int32        `json:"partition"`
	Owner     *kafka.Owner `json:"owner,omitempty"`
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
