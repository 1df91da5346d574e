package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBadStoreExitsWithOneLine runs the binary as an operator would with a
// --db it cannot use: it must exit non-zero at once with one clear line
// that shows no password, and create nothing on disk.
func TestBadStoreExitsWithOneLine(t *testing.T) {
	bin := flowserviceBinary(t)
	for _, tc := range []struct {
		name, db, want string
	}{
		{"mysql", "mysql://x", `"mysql" is not a store this service knows`},
		{"empty", "", "--db is empty"},
		{"unreachable_postgres", "postgres://flow:s3cret-pw@127.0.0.1:1/convoflow?sslmode=disable&connect_timeout=2", "127.0.0.1"},
		{"postgres_scheme_without_slashes", "postgres:convoflow", `"postgres" is not a store`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(bin, "--db", tc.db, "--listen", "127.0.0.1:0",
				"--account-sid", "AC00000000000000000000000000000000", "--auth-token", "tok")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "FLOWSERVICE_LOG_LEVEL=error")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit: %v, want a non-zero exit status; stderr:\n%s", err, stderr.String())
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("took %v to give up", took)
			}
			out := strings.TrimSpace(stderr.String())
			if strings.Count(out, "\n") != 0 || !strings.HasPrefix(out, "flowservice: ") || !strings.Contains(out, tc.want) {
				t.Errorf("stderr = %q, want one line starting \"flowservice: \" and containing %q", out, tc.want)
			}
			if strings.Contains(out, "s3cret-pw") {
				t.Errorf("stderr shows the password: %q", out)
			}
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
				t.Errorf("the working directory holds %v (%v), want nothing created", entries, err)
			}
		})
	}
}
