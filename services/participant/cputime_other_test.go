//go:build !unix

package participant_test

import "time"

// processCPU is not measured outside unix; the per-RPC CPU metric is then
// omitted.
func processCPU() time.Duration { return 0 }
