package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/lifeline-hq/lifeline/config"
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

// Help lists the environment variables under the flags of `run --help`.
func (c *runCmd) Help() string {
	vars := config.EnvVars()
	keys := make([]string, 0, len(vars))
	width := 0
	for name := range vars {
		keys = append(keys, name)
		width = max(width, len(name))
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("Precedence: flags over LIFELINE_* variables over the file over the defaults.\n\nEnvironment (lists are comma-separated):\n")
	for _, name := range keys {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, name, vars[name])
	}
	return b.String()
}

func (c *runCmd) Run(e *env) error {
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
	failpoint, kafkaOpts, err := faultInjection(os.Environ(), e.stderr)
	if err != nil {
		return err
	}
	n, err := newNode(nodeOptions{cfg: cfg, pack: pack, log: log, failpoint: failpoint, kafkaOpts: kafkaOpts})
	if err != nil {
		return err
	}
	defer n.close()
	// The sinks: list delivers alerts from this process too (their own
	// consumer groups; `lifeline sink` runs them apart).
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	waitSinks, err := startSinks(ctx, &cfg, n.reg, log)
	if err != nil {
		return err
	}
	defer waitSinks()
	defer cancel()
	return n.run(ctx)
}
