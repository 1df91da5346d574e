//go:build unix

package cputime_test

import (
	"testing"

	"github.com/convoflow/convoflow/internal/cputime"
)

func TestProcessGrows(t *testing.T) {
	t.Parallel()
	before := cputime.Process()
	if before <= 0 {
		t.Fatalf("Process() = %v, want the CPU time used so far", before)
	}
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	if after := cputime.Process(); after <= before {
		t.Fatalf("Process() went from %v to %v after busy work (%d)", before, after, x)
	}
}
