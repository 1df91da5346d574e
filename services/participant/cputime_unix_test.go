//go:build unix

package participant_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used (user + system, all
// threads). The benchmark reports CPU per RPC besides RPCs per wall second:
// the machine is shared, and wall time then measures the neighbours too.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
