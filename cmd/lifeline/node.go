package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/httpapi"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/connectors/rulefile"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// node is one running Lifeline, as `run` and `demo` start it: the engine
// over its store, the Kafka runtime, the metrics (Lifeline's, Pebble's and
// the Kafka client's), the HTTP endpoints and the rule-pack watcher.
type node struct {
	eng *engine.Engine
	reg *prometheus.Registry // Lifeline's own metrics and Pebble's
	// gather serves /metrics: reg, and the Kafka client's.
	gather prometheus.Gatherer
	m      *metrics.Metrics
	rt     *kafka.Runtime
	o      nodeOptions
}

// nodeOptions are what differs between `run` and `demo`.
type nodeOptions struct {
	cfg  config.Config
	pack *rules.Pack
	log  zerolog.Logger
	// clock is the wall clock idle partitions follow (nil: time.Now; the
	// demo's is accelerated).
	clock func() time.Time
	// anyPort: when cfg.HTTP is taken, serve on any free port (the demo).
	anyPort bool
	// httpBound, if set, receives the address HTTP listens on.
	httpBound func(addr string)
}

// newNode opens the engine on cfg.StateDir and connects the runtime; run
// then runs it.
func newNode(o nodeOptions) (*node, error) {
	if err := os.MkdirAll(o.cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	eng, err := engine.Open(o.cfg.StateDir, o.pack, o.cfg.Engine.Options())
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, version)
	reg.MustRegister(metrics.NewPebbleCollector(eng.Metrics))
	m.SetPack(o.pack)
	km := metrics.NewKafka()
	rt, err := kafka.New(o.cfg, eng, kafka.Options{Logger: o.log, Metrics: m, Clock: o.clock, ExtraOpts: []kgo.Opt{kgo.WithHooks(km.Hooks())}})
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &node{eng: eng, reg: reg, gather: prometheus.Gatherers{reg, km}, m: m, rt: rt, o: o}, nil
}

// run serves HTTP, watches the rule pack (when it is a file) and runs the
// runtime until ctx ends or one of them fails; then it stops them all and
// closes the engine.
func (n *node) run(ctx context.Context) error {
	defer n.eng.Close()
	var wg sync.WaitGroup
	defer wg.Wait() // the goroutines are gone before the engine closes
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 1)

	handler := httpapi.Handler(n.rt, n.gather, n.o.log)
	bound := make(chan string, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := httpapi.Serve(ctx, n.o.cfg.HTTP, handler, bound)
		if err != nil && n.o.anyPort && ctx.Err() == nil {
			err = httpapi.Serve(ctx, "127.0.0.1:0", handler, bound)
		}
		if err != nil {
			errs <- fmt.Errorf("http %s: %w", n.o.cfg.HTTP, err)
			cancel()
		}
	}()
	select {
	case addr := <-bound:
		if n.o.httpBound != nil {
			n.o.httpBound(addr)
		}
	case err := <-errs:
		return err
	}

	if path := n.o.cfg.Rules; path != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		w := &rulefile.Watcher{Path: path, Apply: n.eng.SetPack, Log: n.o.log, Metrics: n.m, Current: n.o.pack.Source}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Run(ctx, hup)
		}()
	}

	n.o.log.Info().Strs("brokers", n.o.cfg.Brokers).Str("group", n.o.cfg.Group).Str("guarantee", n.o.cfg.Guarantee).
		Str("http", n.o.cfg.HTTP).Str("rules_version", n.o.pack.Version).Msg("lifeline starting")
	err := n.rt.Run(ctx)
	cancel()
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	n.o.log.Info().Msg("lifeline stopped")
	return nil
}
