package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/httpapi"
	"github.com/lifeline-hq/lifeline/connectors/sink"
)

// sinkCmd runs only the sinks: alerts from the alerts topic to webhooks
// and Slack, no engine (a process scaled apart from the engine's).
type sinkCmd struct {
	Config   string   `help:"Configuration file (see README.md, Configuration and Delivering alerts); LIFELINE_* variables override its keys." placeholder:"FILE" short:"c"`
	Only     []string `help:"Run only these sinks of the sinks: list (default: all)." placeholder:"NAME" name:"only"`
	Brokers  []string `help:"Seed brokers (overrides brokers)." placeholder:"HOST:PORT"`
	HTTP     string   `help:"Address of /metrics and /healthz (overrides http)." placeholder:"ADDR"`
	LogLevel string   `help:"Log level: debug, info, warn, error (overrides log.level)." placeholder:"LEVEL"`
}

func (c *sinkCmd) Run(e *env) error {
	cfg, err := config.Read(c.Config, os.Environ())
	if err != nil {
		return err
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
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(c.Only) > 0 {
		var keep []config.Sink
		for _, name := range c.Only {
			i := slices.IndexFunc(cfg.Sinks, func(s config.Sink) bool { return s.Name == name })
			if i < 0 {
				return fmt.Errorf("--only %s: no sink of that name in the sinks: list", name)
			}
			keep = append(keep, cfg.Sinks[i])
		}
		cfg.Sinks = keep
	}
	if len(cfg.Sinks) == 0 {
		return errors.New("no sinks configured: nothing to deliver (add a sinks: list; see README.md, Delivering alerts)")
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

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	wait, err := startSinks(ctx, &cfg, reg, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	var wg sync.WaitGroup
	wg.Add(1)
	var httpErr error
	go func() {
		defer wg.Done()
		if err := httpapi.Serve(ctx, mln, mux); err != nil {
			httpErr = fmt.Errorf("http %s: %w", mln.Addr(), err)
			cancel()
		}
	}()
	log.Info().Str("http", mln.Addr().String()).Int("sinks", len(cfg.Sinks)).Msg("lifeline sink running")
	<-ctx.Done()
	wait()
	wg.Wait()
	if httpErr != nil {
		return httpErr
	}
	log.Info().Msg("lifeline sink stopped")
	return nil
}

// startSinks connects cfg's sinks (metrics on reg), checks each can start
// (its dead-letter topic), then runs them until ctx ends; the returned
// wait blocks until they have committed and left their groups. None
// configured: nothing runs.
func startSinks(ctx context.Context, cfg *config.Config, reg prometheus.Registerer, log zerolog.Logger) (wait func(), err error) {
	if len(cfg.Sinks) == 0 {
		return func() {}, nil
	}
	m := sink.NewMetrics(reg)
	var sinks []*sink.Sink
	closeAll := func() {
		for _, s := range sinks {
			s.Close()
		}
	}
	for _, sc := range cfg.Sinks {
		s, err := sink.New(cfg, sc, sink.Options{Logger: log, Metrics: m})
		if err != nil {
			closeAll()
			return nil, err
		}
		sinks = append(sinks, s)
		if err := s.Prepare(ctx); err != nil {
			closeAll()
			return nil, err
		}
	}
	var wg sync.WaitGroup
	for _, s := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			if err := s.Run(ctx); err != nil {
				log.Error().Err(err).Str("sink", s.Name()).Msg("sink stopped")
			}
		}()
	}
	return wg.Wait, nil
}
