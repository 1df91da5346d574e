//go:build unix

package engine

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used (user + system, all
// threads). Benchmarks report work per CPU second besides per wall second:
// the machine is shared, and wall time then measures the neighbours too.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
