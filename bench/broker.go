package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startBroker runs a kfake broker in a child process (this binary with
// -broker) and returns its address. A separate process keeps the broker's
// heap and garbage collection out of the engine's, as on any deployment;
// the two still share the machine's cores.
//
// procs is the broker's GOMAXPROCS. kfake serves every request from one
// goroutine, so more processors only add runnable threads that contend with
// the engine's for the machine's cores (and lengthen the scheduler's tail).
func startBroker(ctx context.Context, procs int) (addr string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("broker process: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-broker")
	cmd.Stderr = os.Stderr
	if procs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, fmt.Errorf("broker process: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, fmt.Errorf("broker process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("broker process: %w", err)
	}
	stop = func() {
		_ = stdin.Close() // the child exits when its stdin closes
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("broker process: reading its address: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// serveBroker is the child's side of startBroker: a one-broker kfake
// cluster on loopback, its address on stdout, until stdin closes.
//
// kfake keeps each log segment in one in-memory file that grows by
// doubling and copying; at its default segment size (100 MiB) each
// doubling stalls the whole broker for 60–100 ms, which a broker writing
// to the page cache does not do. Segments of 8 MiB keep those copies
// short.
func serveBroker() error {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.BrokerConfigs(map[string]string{
		"log.segment.bytes": strconv.Itoa(8 << 20),
	}))
	if err != nil {
		return err
	}
	defer cluster.Close()
	fmt.Println(cluster.ListenAddrs()[0])
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
