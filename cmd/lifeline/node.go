package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/console"
	"github.com/lifeline-hq/lifeline/connectors/httpapi"
	"github.com/lifeline-hq/lifeline/connectors/ingest"
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
	ln  net.Listener // HTTP's, bound before anything else starts
	eng *engine.Engine
	reg *prometheus.Registry // Lifeline's own metrics and Pebble's
	// gather serves /metrics: reg, and the Kafka client's.
	gather prometheus.Gatherer
	m      *metrics.Metrics
	rt     *kafka.Runtime
	o      nodeOptions
	// ingestLn and ingest are the HTTP ingest listener, when
	// ingest.http.addr is set (nil otherwise).
	ingestLn net.Listener
	ingest   *ingest.Server
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
	// failpoint and kafkaOpts are the fault injection of a -tags
	// failpoints build (faults_on.go); nil otherwise.
	failpoint func(string)
	kafkaOpts []kgo.Opt
}

// newNode binds the HTTP address, opens the engine on cfg.StateDir and
// connects the runtime (which begins to join the group); run then runs it,
// and close, which the caller defers, releases it all, run or not.
func newNode(o nodeOptions) (*node, error) {
	ln, err := net.Listen("tcp", o.cfg.HTTP)
	if err != nil && o.anyPort {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", o.cfg.HTTP, err)
	}
	if err := os.MkdirAll(o.cfg.StateDir, 0o750); err != nil {
		ln.Close()
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	eopts := o.cfg.Engine.Options()
	// Every partition restores from the changelog: a corrupt store is
	// rebuilt from it rather than keeping the node down.
	eopts.RebuildCorrupt = true
	eng, err := engine.Open(o.cfg.StateDir, o.pack, eopts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if rb := eng.Rebuilt(); rb != nil {
		o.log.Error().Err(rb.Reason).Str("state_dir", o.cfg.StateDir).Str("set_aside", rb.Aside).
			Msg("the state store is corrupt: set aside for inspection; starting with an empty one, every partition restores from the changelog")
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, version)
	reg.MustRegister(metrics.NewPebbleCollector(eng.Metrics))
	m.SetPack(o.pack)
	km := metrics.NewKafka()
	rt, err := kafka.New(o.cfg, eng, kafka.Options{
		Logger:    o.log,
		Metrics:   m,
		Clock:     o.clock,
		ExtraOpts: append([]kgo.Opt{kgo.WithHooks(km.Hooks())}, o.kafkaOpts...),
		Failpoint: o.failpoint,
	})
	if err != nil {
		ln.Close()
		eng.Close()
		return nil, err
	}
	n := &node{ln: ln, eng: eng, reg: reg, gather: prometheus.Gatherers{reg, km}, m: m, rt: rt, o: o}
	if addr := o.cfg.Ingest.HTTP.Addr; addr != "" {
		n.ingestLn, n.ingest, err = newIngest(&o.cfg, reg, o.log, o.clock)
		if err != nil {
			n.close()
			return nil, err
		}
	}
	return n, nil
}

// newIngest binds ingest.http.addr and builds the ingest listener, its
// metrics on reg; clock (nil: time.Now) gives Segment messages their
// receivedAt, so that the demo's accelerated clock dates them too.
func newIngest(cfg *config.Config, reg prometheus.Registerer, log zerolog.Logger, clock func() time.Time) (net.Listener, *ingest.Server, error) {
	ln, err := net.Listen("tcp", cfg.Ingest.HTTP.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("ingest.http.addr %s: %w", cfg.Ingest.HTTP.Addr, err)
	}
	srv, err := ingest.New(cfg, ingest.Options{Registerer: reg, Logger: log, Clock: clock})
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return ln, srv, nil
}

// httpAddr is the address HTTP listens on.
func (n *node) httpAddr() string { return n.ln.Addr().String() }

// close leaves the group, stops the workers and closes the engine. The
// caller defers it, after anything of its own that uses the node.
func (n *node) close() {
	if n.ingest != nil {
		n.ingest.Close()
		n.ingestLn.Close()
	}
	n.rt.Close()
	n.ln.Close()
	if err := n.eng.Close(); err != nil {
		n.o.log.Error().Err(err).Msg("close the state store")
	}
}

// run serves HTTP, watches the rule pack (when it is a file) and runs the
// runtime until ctx ends or one of them fails, then stops them.
func (n *node) run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2) // HTTP's and ingest's: neither blocks

	// A customer lookup that finds nothing in this instance's partitions
	// asks api.peers (see README.md, API).
	peers, perr := httpapi.NewPeers(httpapi.PeersConfig{
		URLs: n.o.cfg.API.Peers, Timeout: n.o.cfg.API.PeerTimeout.Std(), Max: n.o.cfg.API.MaxPeers,
	})
	if perr != nil {
		return fmt.Errorf("api.peers: %w", perr)
	}
	defer peers.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := httpapi.Serve(ctx, n.ln, httpapi.Handler(n.rt, n.gather, n.o.log, httpapi.WithPeers(peers), httpapi.WithConsole(console.Handler()))); err != nil {
			errs <- fmt.Errorf("http %s: %w", n.httpAddr(), err)
			cancel()
		}
	}()

	if n.ingest != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.ingest.Serve(ctx, n.ingestLn); err != nil {
				errs <- fmt.Errorf("ingest.http.addr %s: %w", n.ingestLn.Addr(), err)
				cancel()
			}
		}()
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

	// A corrupt file found while running (by a read, or by a Pebble job
	// of its own) stops the node: the next start sees the engine's note,
	// sets the store aside and restores it from the changelog.
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-n.eng.Corrupted():
			cancel()
		}
	}()

	if n.ingest != nil {
		n.o.log.Info().Str("addr", n.ingestLn.Addr().String()).Str("topic", n.o.cfg.Topics.Input).Msg("ingest listening")
	}
	n.o.log.Info().Strs("brokers", n.o.cfg.Brokers).Str("group", n.o.cfg.Group).Str("guarantee", n.o.cfg.Guarantee).
		Str("http", n.httpAddr()).Strs("api_peers", n.o.cfg.API.Peers).Str("rules_version", n.o.pack.Version).Msg("lifeline starting")
	err := n.rt.Run(ctx)
	cancel()
	wg.Wait()
	if cerr := n.eng.Corruption(); cerr != nil {
		return fmt.Errorf("stopped: %w; the next start sets the store aside and restores it from the changelog", cerr)
	}
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
