//go:build !unix

package engine

import "time"

// processCPU is not measured outside unix; the per-CPU-second metric is
// then omitted.
func processCPU() time.Duration { return 0 }
