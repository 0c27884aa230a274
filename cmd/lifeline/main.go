// Command lifeline is the Lifeline customer-health engine: a stream
// processor that turns customer touchpoint events into lifecycle stages,
// health scores and alerts. See README.md.
//
// This package parses flags and wires the parts; the logic lives in
// engine/, rules/ and connectors/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

type cli struct {
	Version kong.VersionFlag `help:"Print the version and exit."`

	Replay replayCmd  `cmd:"" help:"Run the engine offline over an NDJSON file of events; output records on stdout."`
	Gen    genCmd     `cmd:"" help:"Generate realistic customer journeys as Segment NDJSON."`
	Demo   demoCmd    `cmd:"" help:"Run everything on this machine: embedded broker, generated journeys, engine, HTTP."`
	Run    runCmd     `cmd:"" help:"Run the engine against Kafka (production)."`
	Ingest ingestCmd  `cmd:"" help:"Serve only the HTTP ingest listener (webhooks and Segment's HTTP API to the input topic)."`
	Sink   sinkCmd    `cmd:"" help:"Run only the sinks: deliver alerts to webhooks and Slack (the sinks: list)."`
	Rules  rulesCmd   `cmd:"" help:"Check and unit-test rule packs."`
	Ver    versionCmd `cmd:"" name:"version" help:"Print the version."`
}

// Help is shown under `lifeline --help`.
func (cli) Help() string {
	return "lifeline run reads lifeline.yaml and LIFELINE_* environment variables; lifeline run --help lists them. README.md is the guide."
}

// env carries what commands need from the process: streams and the
// signal-bound context. Nothing global.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// exitError carries an exit code without printing more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args until it is done or ctx ends (Ctrl-C,
// SIGTERM), and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("lifeline"),
		kong.Description("Real-time customer lifecycle, health and alert engine."),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitError{code}) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": "lifeline " + version},
	)
	if err != nil {
		fmt.Fprintf(stderr, "lifeline: %v\n", err)
		return 2
	}
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				ee, ok := r.(exitError)
				if !ok {
					panic(r)
				}
				code = ee.code
			}
		}()
		kctx, err := parser.Parse(args)
		if err != nil {
			fmt.Fprintf(stderr, "lifeline: %v (see lifeline --help)\n", err)
			code = 2
			return
		}
		e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
		if err := kctx.Run(e); err != nil {
			var ee exitError
			if errors.As(err, &ee) {
				code = ee.code
				return
			}
			fmt.Fprintf(stderr, "lifeline: %v\n", err)
			code = 1
		}
	}()
	return code
}

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	fmt.Fprintln(e.stdout, "lifeline", version)
	return nil
}
