package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/httpapi"
	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/connectors/rulefile"
	"github.com/lifeline-hq/lifeline/engine"
)

type runCmd struct {
	Config      string   `help:"Configuration file (see README.md, Configuration); LIFELINE_* variables override its keys." placeholder:"FILE" short:"c"`
	CheckConfig bool     `help:"Validate the configuration and the rule pack, then exit."`
	Brokers     []string `help:"Seed brokers (overrides brokers)." placeholder:"HOST:PORT"`
	HTTP        string   `help:"HTTP listen address (overrides http)." placeholder:"ADDR"`
	Rules       string   `help:"Rule pack file (overrides rules)." placeholder:"FILE"`
	StateDir    string   `help:"State directory (overrides state_dir)." placeholder:"DIR"`
	LogLevel    string   `help:"Log level: debug, info, warn, error (overrides log.level)." placeholder:"LEVEL"`
}

func (c *runCmd) Run(e *env) error {
	cfg, err := config.ReadConfig(c.Config, os.Environ())
	if err != nil {
		return err
	}
	if len(c.Brokers) > 0 {
		cfg.Brokers = c.Brokers
	}
	if c.HTTP != "" {
		cfg.HTTP = c.HTTP
	}
	if c.Rules != "" {
		cfg.Rules = c.Rules
	}
	if c.StateDir != "" {
		cfg.StateDir = c.StateDir
	}
	if c.LogLevel != "" {
		cfg.Log.Level = c.LogLevel
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	pack, err := loadPack(e, cfg.Rules)
	if err != nil {
		return err
	}
	if c.CheckConfig {
		fmt.Fprintf(e.stdout, "config ok: brokers %v, group %s, guarantee %s, input %s, rules %s\n",
			cfg.Brokers, cfg.Group, cfg.Guarantee, cfg.Topics.Input, pack.Version)
		return nil
	}
	log, err := newLogger(e.stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	eng, err := engine.Open(cfg.StateDir, pack, cfg.Engine.Options())
	if err != nil {
		return err
	}
	defer eng.Close()

	reg := prometheus.NewRegistry()
	m := metrics.New(reg, version)
	reg.MustRegister(metrics.NewPebbleCollector(eng.Metrics))
	m.SetPack(pack)
	kp := kprom.NewMetrics("lifeline_kafka", kprom.Registerer(reg), kprom.Gatherer(reg))
	rt, err := kafka.New(cfg, eng, kafka.Options{Logger: log, Metrics: m, ExtraOpts: []kgo.Opt{kgo.WithHooks(kp)}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	done := make(chan struct{})
	var httpErr error
	go func() {
		defer close(done)
		httpErr = httpapi.Serve(ctx, cfg.HTTP, httpapi.Handler(rt, reg, log), nil)
		if httpErr != nil {
			cancel()
		}
	}()
	if cfg.Rules != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		w := &rulefile.Watcher{Path: cfg.Rules, Apply: eng.SetPack, Log: log, Metrics: m, Current: pack.Source}
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			w.Run(ctx, hup)
		}()
		// Deferred after the engine's Close: runs first, so the watcher
		// is gone before the engine is.
		defer func() { cancel(); <-watched }()
	}
	log.Info().Strs("brokers", cfg.Brokers).Str("group", cfg.Group).Str("guarantee", cfg.Guarantee).Str("http", cfg.HTTP).Str("rules_version", pack.Version).Msg("lifeline starting")
	err = rt.Run(ctx)
	cancel()
	<-done
	if err == nil && httpErr != nil {
		err = fmt.Errorf("http %s: %w", cfg.HTTP, httpErr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info().Msg("lifeline stopped")
	return nil
}
