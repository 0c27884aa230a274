//go:build unix

package engine_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) this process has used, all
// goroutines included (Pebble's flushes and compactions too). On a shared
// machine it measures the work done where wall time also measures the
// waiting for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
