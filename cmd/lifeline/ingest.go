package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/httpapi"
)

// ingestCmd serves only the HTTP ingest listener: webhooks in, records to
// the input topic, no engine (for a deployment that keeps the listener
// apart from the processing instances).
type ingestCmd struct {
	Config   string   `help:"Configuration file (see README.md, Configuration and HTTP ingest); LIFELINE_* variables override its keys." placeholder:"FILE" short:"c"`
	Addr     string   `help:"Ingest listen address (overrides ingest.http.addr)." placeholder:"ADDR"`
	Brokers  []string `help:"Seed brokers (overrides brokers)." placeholder:"HOST:PORT"`
	HTTP     string   `help:"Address of /metrics and /healthz (overrides http)." placeholder:"ADDR"`
	LogLevel string   `help:"Log level: debug, info, warn, error (overrides log.level)." placeholder:"LEVEL"`
}

func (c *ingestCmd) Run(e *env) error {
	cfg, err := config.Read(c.Config, os.Environ())
	if err != nil {
		return err
	}
	if c.Addr != "" {
		cfg.Ingest.HTTP.Addr = c.Addr
	}
	if len(c.Brokers) > 0 {
		cfg.Brokers = c.Brokers
	}
	if c.HTTP != "" {
		cfg.HTTP = c.HTTP
	}
	if c.LogLevel != "" {
		cfg.Log.Level = c.LogLevel
	}
	if cfg.Ingest.HTTP.Addr == "" {
		return errors.New("ingest.http.addr is not set: nothing to serve (set it in the config, LIFELINE_INGEST_HTTP_ADDR or --addr)")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := newLogger(e.stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	mln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http %s: %w", cfg.HTTP, err)
	}
	defer mln.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, srv, err := newIngest(&cfg, reg, log, nil)
	if err != nil {
		return err
	}
	defer ln.Close()
	defer srv.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := httpapi.Serve(ctx, mln, mux); err != nil {
			errs <- fmt.Errorf("http %s: %w", mln.Addr(), err)
			cancel()
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Str("topic", cfg.Topics.Input).Strs("brokers", cfg.Brokers).
		Str("http", mln.Addr().String()).Msg("lifeline ingest listening")
	if err := srv.Serve(ctx, ln); err != nil {
		return fmt.Errorf("ingest.http.addr %s: %w", ln.Addr(), err)
	}
	cancel()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	log.Info().Msg("lifeline ingest stopped")
	return nil
}
