//go:build !unix

package runner_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
