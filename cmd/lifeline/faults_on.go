//go:build failpoints

package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lifeline-hq/lifeline/connectors/kafka"
	"github.com/lifeline-hq/lifeline/internal/faultnet"
)

// faultInjection reads the fault-injection variables of a -tags failpoints
// build (the tests' binary; the shipped one has none of this). They are
// not LIFELINE_* variables, which config.Read takes for config keys:
//
//	FAILPOINT=NAME[:N]  SIGKILL this process the Nth time (default the
//	                    first) the runtime reaches the named instant
//	                    (kafka.Failpoint*)
//	CHAOS_DIAL=MIN-MAX  cut every connection of the consuming and producing
//	                    client (not the restores' readers) after a random
//	                    life between MIN and MAX (e.g. 500ms-1500ms)
//	CHAOS_SEED=N        the chaos dialer's seed (default 1)
//
// Before a kill it writes "failpoint NAME: killing" to w (stderr), so that
// a test knows the instant was reached.
func faultInjection(environ []string, w io.Writer) (func(string), []kgo.Opt, error) {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var fp func(string)
	if spec := vars["FAILPOINT"]; spec != "" {
		name, nth, err := parseFailpoint(spec)
		if err != nil {
			return nil, nil, err
		}
		var hits atomic.Int64
		fp = func(at string) {
			if at != name || hits.Add(1) != nth {
				return
			}
			fmt.Fprintf(w, "failpoint %s: killing\n", name)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	var opts []kgo.Opt
	if spec := vars["CHAOS_DIAL"]; spec != "" {
		lo, hi, ok := strings.Cut(spec, "-")
		minLife, err1 := time.ParseDuration(lo)
		maxLife, err2 := time.ParseDuration(hi)
		if !ok || err1 != nil || err2 != nil || minLife <= 0 || maxLife < minLife {
			return nil, nil, fmt.Errorf("CHAOS_DIAL=%q: expected MIN-MAX durations, such as 500ms-1500ms", spec)
		}
		seed := uint64(1)
		if s := vars["CHAOS_SEED"]; s != "" {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("CHAOS_SEED=%q: expected a number", s)
			}
			seed = n
		}
		lives, err := faultnet.NewLives(minLife, maxLife, rand.NewPCG(seed, 0))
		if err != nil {
			return nil, nil, fmt.Errorf("CHAOS_DIAL=%q: %w", spec, err)
		}
		d := &faultnet.Dialer{Lives: lives}
		opts = append(opts, kgo.Dialer(d.DialContext))
	}
	return fp, opts, nil
}

func parseFailpoint(spec string) (string, int64, error) {
	name, n, hasN := strings.Cut(spec, ":")
	switch name {
	case kafka.FailpointProduced, kafka.FailpointCommitted, kafka.FailpointCheckpointed, kafka.FailpointRestoring:
	default:
		return "", 0, fmt.Errorf("FAILPOINT=%q: unknown failpoint %q (known: %s, %s, %s, %s)", spec, name,
			kafka.FailpointProduced, kafka.FailpointCommitted, kafka.FailpointCheckpointed, kafka.FailpointRestoring)
	}
	nth := int64(1)
	if hasN {
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil || v < 1 {
			return "", 0, fmt.Errorf("FAILPOINT=%q: expected NAME:N with N ≥ 1", spec)
		}
		nth = v
	}
	return name, nth, nil
}
