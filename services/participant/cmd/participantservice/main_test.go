//go:build unix

package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/internal/syncbuf"
)

// TestBinary_signals builds participantservice and runs it as an operator
// would: configured by environment variables, SIGHUP reloads the roster,
// SIGTERM shuts it down gracefully with exit status 0.
func TestBinary_signals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "participantservice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fake, err := conversations.NewServer(conversations.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	roster := filepath.Join(t.TempDir(), "agents.yaml")
	write := func(names ...string) {
		t.Helper()
		var b strings.Builder
		b.WriteString("agents:\n")
		for i, n := range names {
			b.WriteString("  - name: " + n + "\n    address: \"+1500555000" + string(rune('1'+i)) + "\"\n    capacity: 1\n")
		}
		if err := os.WriteFile(roster, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("alice")

	logs := &syncbuf.Buffer{}
	cmd := exec.Command(bin, "--roster-poll=1h") // only SIGHUP reloads
	cmd.Env = append(os.Environ(),
		"PARTICIPANTSERVICE_LISTEN=127.0.0.1:0",
		"PARTICIPANTSERVICE_CONVERSATIONS_URL="+fake.URL(),
		"PARTICIPANTSERVICE_ACCOUNT_SID="+fake.AccountSid(),
		"PARTICIPANTSERVICE_AUTH_TOKEN="+fake.AuthToken(),
		"PARTICIPANTSERVICE_DEFAULT_PROXY_ADDRESS=+15017122661",
		"PARTICIPANTSERVICE_AGENTS="+roster,
	)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // a no-op once it has exited
		<-exited
	})

	waitFor(t, logs, regexp.MustCompile(`listening on 127\.0\.0\.1:\d+`))
	write("alice", "bob")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, logs, regexp.MustCompile(`roster loaded.*agents=2`))

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("exit: %v\n%s", waitErr, logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", logs)
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Fatalf("no graceful stop in the log:\n%s", logs)
	}
}

func waitFor(t *testing.T, logs *syncbuf.Buffer, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !re.MatchString(logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("log never matched %s:\n%s", re, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
