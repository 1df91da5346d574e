//go:build !linux

package cputime

import (
	"errors"
	"time"
)

// OfProcess is only implemented on Linux, where /proc/PID/stat holds it.
func OfProcess(pid int) (time.Duration, error) {
	return 0, errors.New("cputime: another process's CPU time is only read on Linux")
}
