//go:build unix

package cputime_test

import (
	"os"
	"runtime"
	"testing"
	"time"

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

func TestOfProcessMatchesProcess(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("OfProcess reads /proc")
	}
	x := 0
	for i := range 100_000_000 {
		x += i % 7
	}
	self := cputime.Process()
	got, err := cputime.OfProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts in 10 ms ticks and is read a moment later.
	if d := got - self; d < -50*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("OfProcess(self) = %v, Process() = %v (after busy work %d)", got, self, x)
	}
	if _, err := cputime.OfProcess(-1); err == nil {
		t.Fatal("OfProcess(-1) succeeded")
	}
}
