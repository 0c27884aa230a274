// Command bench is Lifeline's benchmark harness: `go run ./bench`. On
// bench/workload journeys with skewed activity it measures, and prints as a
// table, (1) engine throughput in process (decode to outputs, Pebble
// included), (2) end-to-end throughput through the Kafka protocol against
// a kfake broker on loopback, and event-to-output latency at a fixed
// offered rate, (3) bytes on disk and memory per customer, (4) restore time
// from the changelog, and (5) how (1) and (3) change with the number of
// customers. Each figure comes with a ceiling measured in the same run on
// the same data (raw decode, raw Pebble writes, raw consume), so results
// compare across noisy machines. bench/README.md explains the method and
// keeps the latest table.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-hq/lifeline/rules"
)

type options struct {
	scales      []int
	days        int
	e2eCusts    int
	e2eDays     int
	rate        int
	rateFor     time.Duration
	partitions  int
	maxPoll     int
	brokerProcs int
	skip        map[string]bool
	out         io.Writer
	// pack is the rule pack of the in-process runs (-rules; the
	// default pack when nil).
	pack *rules.Pack
}

func main() {
	var (
		scales  = flag.String("scales", "10000,100000,1000000", "customer counts for the in-process runs (-scales 10000000 -days 2 is the 10M sweep: ~16 min, ~11 GB)")
		days    = flag.Int("days", 7, "simulated days per customer in the in-process runs")
		e2eC    = flag.Int("e2e-customers", 20000, "customers of the end-to-end run")
		e2eD    = flag.Int("e2e-days", 30, "days of the end-to-end run")
		rate    = flag.Int("rate", 50000, "offered events/s of the latency run")
		rateFor = flag.Duration("rate-for", 10*time.Second, "length of the latency run")
		parts   = flag.Int("partitions", runtime.GOMAXPROCS(0), "partitions (parallelism) of the in-process and end-to-end runs")
		maxPoll = flag.Int("max-poll", 0, "engine.max_poll_records of the end-to-end runs (0: the default)")
		cpuProf = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
		memProf = flag.String("memprofile", "", "write an allocation profile of the whole run to this file")
		skip    = flag.String("skip", "", "comma-separated sections to skip: engine, e2e, latency, restore")
		bprocs  = flag.Int("broker-procs", 1, "GOMAXPROCS of the kfake broker process of the end-to-end runs (0: all cores)")
		rulesF  = flag.String("rules", "", "rule pack FILE of the in-process runs (default: the built-in pack), to measure what a pack costs")
		broker  = flag.Bool("broker", false, "run only a kfake broker, print its address, and serve until stdin closes (the harness starts itself so for the end-to-end runs)")
	)
	flag.Parse()
	if *broker {
		if err := serveBroker(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: broker:", err)
			os.Exit(1)
		}
		return
	}
	o := options{days: *days, e2eCusts: *e2eC, e2eDays: *e2eD, rate: *rate, rateFor: *rateFor, partitions: *parts, maxPoll: *maxPoll, brokerProcs: *bprocs, skip: map[string]bool{}, out: os.Stdout}
	for _, s := range strings.Split(*scales, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: -scales %q: expected comma-separated positive numbers\n", *scales)
			os.Exit(2)
		}
		o.scales = append(o.scales, n)
	}
	for _, s := range strings.Split(*skip, ",") {
		if s != "" {
			o.skip[s] = true
		}
	}
	if *rulesF != "" {
		data, err := os.ReadFile(*rulesF)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -rules:", err)
			os.Exit(2)
		}
		if o.pack, _, err = rules.Parse(*rulesF, data); err != nil {
			fmt.Fprintf(os.Stderr, "bench: -rules %s is not a valid pack (lifeline rules check %s says why): %v\n", *rulesF, *rulesF, err)
			os.Exit(2)
		}
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(o); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if *memProf != "" {
		if err := writeHeapProfile(*memProf); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

func run(o options) error {
	fmt.Fprintf(o.out, "# Lifeline benchmark, %s, %d cores (GOMAXPROCS %d), %s\n\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	if !o.skip["engine"] {
		fmt.Fprintf(o.out, "## (1, 3, 5) Engine in process: decode → state → rules → outputs, Pebble included (%d partitions, %d days of journeys)\n\n", o.partitions, o.days)
		fmt.Fprintln(o.out, "| customers | events | engine events/s | per core | raw decode events/s (ceiling) | engine/decode | raw Pebble writes/s (ceiling) | engine/Pebble | disk bytes/customer (sstables only) | heap bytes/customer | process RSS MB | allocs/event | state cache hits |")
		fmt.Fprintln(o.out, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, n := range o.scales {
			r, err := engineRun(n, o.days, o.partitions, o.pack)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.out, "| %s | %s | %s | %s | %s | %.2f | %s | %.2f | %.0f (%.0f) | %.0f | %.0f | %.1f | %.0f%% |\n",
				human(float64(n)), human(float64(r.events)), human(r.engineRate), human(r.engineRate/float64(o.partitions)),
				human(r.decodeRate), r.engineRate/r.decodeRate, human(r.pebbleRate), r.engineRate/r.pebbleRate,
				r.diskPerCustomer, r.tablePerCustomer, r.heapPerCustomer, r.rssMB, r.allocsPerEvent, 100*r.cacheHitRate)
			// Hand the run's memory back before the next one starts.
			debug.FreeOSMemory()
		}
		fmt.Fprintln(o.out)
	}
	if !o.skip["e2e"] {
		// The engine runs leave gigabytes for the runtime to hand back to
		// the system; done in the background it slowed the end-to-end
		// runs (latency p99 44-49 ms against 28-34 ms on their own).
		debug.FreeOSMemory()
		if err := e2eRun(o); err != nil {
			return err
		}
	}
	return nil
}

func human(f float64) string {
	switch {
	case f >= 1e6:
		return strconv.FormatFloat(f/1e6, 'f', 2, 64) + "M"
	case f >= 1e4:
		return strconv.FormatFloat(f/1e3, 'f', 0, 64) + "k"
	}
	return strconv.FormatFloat(f, 'f', 0, 64)
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
