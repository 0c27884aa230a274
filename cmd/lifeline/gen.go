package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/lifeline-hq/lifeline/journey"
)

type genCmd struct {
	Customers int     `help:"Number of customers." default:"1000"`
	Days      int     `help:"Days of activity." default:"90"`
	Seed      int64   `help:"Random seed: the same flags give byte-identical output." default:"1"`
	Start     string  `help:"Event time of day 0 (RFC 3339)." default:"2026-01-01T00:00:00Z"`
	BadRate   float64 `help:"Fraction of deliberately bad records (0 for none)." default:"0.001"`
	Out       string  `help:"Write here instead of stdout." placeholder:"FILE" short:"o"`
}

func (c *genCmd) Run(e *env) error {
	start, err := time.Parse(time.RFC3339, c.Start)
	if err != nil {
		return fmt.Errorf("--start %q: expected an RFC 3339 time such as 2026-01-01T00:00:00Z", c.Start)
	}
	cfg := journey.Config{Customers: c.Customers, Days: c.Days, Seed: c.Seed, Start: start, BadRate: c.BadRate}
	if c.BadRate == 0 {
		cfg.BadRate = -1 // none
	}
	w := e.stdout
	if c.Out != "" {
		f, err := os.Create(c.Out)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	n, err := journey.Write(bw, cfg)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	fmt.Fprintf(e.stderr, "gen: %d events for %d customers over %d days\n", n, c.Customers, c.Days)
	return nil
}
