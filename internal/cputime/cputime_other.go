//go:build !unix

package cputime

import "time"

// Process is not measured outside unix; it returns 0, and callers omit
// their per-CPU-second figures.
func Process() time.Duration { return 0 }
