package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/demo"
	"github.com/lifeline-hq/lifeline/connectors/metrics"
	"github.com/lifeline-hq/lifeline/connectors/rulefile"
	"github.com/lifeline-hq/lifeline/rules"
)

type demoCmd struct {
	Customers  int           `help:"Customers to simulate." default:"5000"`
	Days       int           `help:"Simulated days of journeys." default:"90"`
	Speed      float64       `help:"Simulated days per second of wall time." default:"1"`
	Seed       int64         `help:"Random seed of the journeys." default:"1"`
	Partitions int32         `help:"Partitions of the demo topics." default:"4"`
	Port       int           `help:"Broker port (default 9092, or a free one if taken)."`
	HTTP       string        `help:"HTTP listen address (a free port if taken)." default:"127.0.0.1:8080"`
	Rules      string        `help:"Rule pack file, hot-reloaded on change and SIGHUP (default: the embedded pack)." placeholder:"FILE" type:"existingfile"`
	State      string        `help:"State directory (default: a temporary one)." placeholder:"DIR"`
	Every      time.Duration `help:"Summary interval." default:"5s"`
	Duration   time.Duration `help:"Stop after this long (default: run until Ctrl-C)."`
	LogLevel   string        `help:"Log level: debug, info, warn, error." default:"warn"`
}

func (c *demoCmd) Run(e *env) error {
	log, err := newLogger(e.stderr, c.LogLevel, "auto")
	if err != nil {
		return err
	}
	pack, err := loadPack(e, c.Rules)
	if err != nil {
		return err
	}
	o := demo.Options{
		Customers: c.Customers, Days: c.Days, Seed: c.Seed, Speed: c.Speed, Partitions: c.Partitions,
		Port: c.Port, HTTP: c.HTTP, StateDir: c.State, Pack: pack, Every: c.Every, Duration: c.Duration,
		Out: e.stdout, Logger: log, Version: version,
	}
	if c.Rules != "" {
		o.Reload = func(ctx context.Context, set func(*rules.Pack), m *metrics.Metrics) {
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			w := &rulefile.Watcher{Path: c.Rules, Apply: set, Log: log, Metrics: m, Current: pack.Source}
			w.Run(ctx, hup)
		}
	}
	return demo.Run(e.ctx, o)
}
