// Package grpcurltest drives a running server with grpcurl -plaintext, the
// way operators explore convoflow's services: reflection alone must be enough
// to list, describe and call them. grpcurl is installed with
// `go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4`; where it
// is missing, tests skip, unless CONVOFLOW_REQUIRE_GRPCURL=1 (as CI sets),
// which makes its absence a failure instead of a silently skipped check.
package grpcurltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// EnvRequire names the variable that turns a missing grpcurl into a failure.
const EnvRequire = "CONVOFLOW_REQUIRE_GRPCURL"

// Path finds grpcurl on PATH, then where go install puts it
// ($(go env GOPATH)/bin). Without it the test skips, or fails when
// CONVOFLOW_REQUIRE_GRPCURL=1.
func Path(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "grpcurl")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	const msg = "grpcurl not found; install with go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// Args builds "-plaintext [-FLAG VALUE]... ADDR [VERB] [SYMBOL]" from args
// written as "[-FLAG VALUE]... [VERB] [SYMBOL]" (-d DATA, -H HEADER):
// grpcurl wants its flags before the address and the verb or method after
// it.
func Args(addr string, args ...string) []string {
	out := []string{"-plaintext"}
	for len(args) >= 2 && strings.HasPrefix(args[0], "-") {
		out = append(out, args[0], args[1])
		args = args[2:]
	}
	out = append(out, addr)
	return append(out, args...)
}

// Output runs grpcurl (found by Path) against addr and returns what it
// printed; ok is false when grpcurl exited non-zero (an RPC error, say).
func Output(tb testing.TB, grpcurl, addr string, args ...string) (out string, ok bool) {
	tb.Helper()
	full := Args(addr, args...)
	b, err := exec.CommandContext(tb.Context(), grpcurl, full...).CombinedOutput()
	return string(b), err == nil
}

// Case is one grpcurl invocation ("[-d DATA] [VERB] [SYMBOL]") and the
// strings its output must contain.
type Case struct {
	Name string
	Args []string
	Want []string
}

// Run runs each case against addr as a parallel subtest; a case fails when
// grpcurl exits non-zero or its output lacks a wanted string.
func Run(t *testing.T, grpcurl, addr string, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			out, ok := Output(t, grpcurl, addr, tc.Args...)
			if !ok {
				t.Fatalf("grpcurl %s failed:\n%s", strings.Join(Args(addr, tc.Args...), " "), out)
			}
			for _, w := range tc.Want {
				if !strings.Contains(out, w) {
					t.Errorf("grpcurl %s output lacks %q:\n%s", strings.Join(Args(addr, tc.Args...), " "), w, out)
				}
			}
		})
	}
}
