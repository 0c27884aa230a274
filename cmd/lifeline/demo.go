package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/config"
	"github.com/lifeline-hq/lifeline/connectors/demo"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
)

type demoCmd struct {
	Customers  int             `help:"Customers to simulate." default:"5000"`
	Days       int             `help:"Simulated days of journeys." default:"90"`
	Speed      float64         `help:"Simulated days per second of wall time." default:"1"`
	Seed       int64           `help:"Random seed of the journeys." default:"1"`
	Partitions int32           `help:"Partitions of the demo topics." default:"4"`
	Port       int             `help:"Broker port (default 9092, or a free one if taken)."`
	HTTP       string          `help:"HTTP listen address (a free port if taken)." default:"127.0.0.1:8080" placeholder:"ADDR"`
	Rules      string          `help:"Rule pack file, hot-reloaded on change and SIGHUP (default: the embedded pack)." placeholder:"FILE" type:"existingfile"`
	StateDir   string          `help:"State directory (default: a temporary one, removed at exit)." placeholder:"DIR"`
	Every      config.Duration `help:"Summary interval." default:"5s"`
	Duration   config.Duration `help:"Stop after this long (default: run until Ctrl-C)." placeholder:"DURATION"`
	LogLevel   string          `help:"Log level: debug, info, warn, error." default:"warn" placeholder:"LEVEL"`
	Ingest     string          `help:"Also serve HTTP ingest (README.md, HTTP ingest) on this address, write key \"demo\"; events without a timestamp are dated by the demo's clock." placeholder:"ADDR"`

	State string `hidden:"" placeholder:"DIR"` // --state-dir's earlier name, still read (with a warning)
}

func (c *demoCmd) Run(e *env) error {
	if c.State != "" {
		fmt.Fprintln(e.stderr, "lifeline: --state is now --state-dir; the old name will go")
		if c.StateDir == "" {
			c.StateDir = c.State
		}
	}
	if c.Partitions <= 0 || c.Customers <= 0 || c.Days <= 0 || c.Speed <= 0 {
		return fmt.Errorf("--partitions, --customers, --days and --speed must be positive")
	}
	log, err := newLogger(e.stderr, c.LogLevel, "auto")
	if err != nil {
		return err
	}
	pack, err := loadPack(e, c.Rules)
	if err != nil {
		return err
	}
	ctx := e.ctx
	if c.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Duration.Std())
		defer cancel()
	}

	cfg := config.Defaults()
	cfg.Group = "lifeline-demo"
	cfg.ClientID = "lifeline-demo-1"
	cfg.HTTP = c.HTTP
	cfg.Rules = c.Rules
	cfg.Engine.IdleTimeout = config.Duration(2 * time.Second)
	cfg.Engine.MaxPollRecords = 2000
	// The console's customer timelines (off by default in run: it costs).
	cfg.Engine.TimelineRecords = 50
	cfg.CreateTopics = config.CreateTopics{Enabled: true, Partitions: c.Partitions, Replication: 1}
	if c.Ingest != "" {
		cfg.Ingest.HTTP.Addr = c.Ingest
		cfg.Ingest.HTTP.WriteKeys = []string{"demo"}
	}
	cluster, broker, err := demo.StartBroker(c.Port, c.Partitions, cfg.Topics)
	if err != nil {
		return err
	}
	defer cluster.Close()
	cfg.Brokers = []string{broker}
	cfg.StateDir = c.StateDir
	if cfg.StateDir == "" {
		tmp, err := os.MkdirTemp("", "lifeline-demo-")
		if err != nil {
			return fmt.Errorf("create a state directory: %w (pass --state-dir DIR)", err)
		}
		defer os.RemoveAll(tmp)
		cfg.StateDir = tmp
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	gen, err := journey.New(journey.Config{Customers: c.Customers, Days: c.Days, Seed: c.Seed})
	if err != nil {
		return err
	}
	clock := demo.NewClock(gen.Config().Start, c.Speed)
	pcl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerLinger(5*time.Millisecond), kgo.DefaultProduceTopic(cfg.Topics.Input))
	if err != nil {
		return fmt.Errorf("demo producer: %w", err)
	}
	defer pcl.Close()
	n, err := newNode(nodeOptions{cfg: cfg, pack: pack, log: log, clock: clock.Now, anyPort: true})
	if err != nil {
		return err
	}
	defer n.close() // after the demo's own goroutines, which read its metrics
	demo.Banner(e.stdout, broker, n.httpAddr(), cfg.Topics, c.Customers, c.Days, c.Speed, pack.Version)
	if n.ingest != nil {
		fmt.Fprintf(e.stdout, "HTTP ingest: curl -s -u demo: %s/v1/track -d '{\"userId\":\"cus_000001\",\"event\":\"NPS Responded\",\"properties\":{\"score\":3}}'\n", n.ingestLn.Addr())
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	var produced atomic.Int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		demo.Produce(ctx, gen, pcl, clock, &produced, log)
	}()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(max(c.Every.Std(), 100*time.Millisecond))
		defer tick.Stop()
		var lastEvents int64
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				events := engine.Totals(n.rt.Metas()).Events
				rate := float64(events-lastEvents) / time.Since(last).Seconds()
				lastEvents, last = events, time.Now()
				demo.Summary(e.stdout, n.rt, n.reg, clock, produced.Load(), rate)
			}
		}
	}()
	err = n.run(ctx)
	cancel()
	wg.Wait()
	fmt.Fprintln(e.stdout, "demo stopped")
	return err
}
