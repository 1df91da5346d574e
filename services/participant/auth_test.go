//go:build unix

package participant_test

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/gen/convoflow/participant/v1/participantv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
)

// TestRun_apiKeysRotateOnSIGHUP rotates a key the way an operator does,
// through the environment and the keys file: the new key works and the old
// one stops working after SIGHUP, without a restart.
func TestRun_apiKeysRotateOnSIGHUP(t *testing.T) {
	t.Parallel()
	const oldKey, newKey = "old-key-0123456789abcdef", "new-key-0123456789abcdef"
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# participantservice\n"+oldKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := fakeEnv(startFake(t))
	env["PARTICIPANTSERVICE_API_KEYS_FILE"] = file
	url := "http://" + runProgram(t, nil, env)
	call := func(key string) connect.Code {
		var hc *http.Client = http.DefaultClient
		if key != "" {
			hc = &http.Client{Transport: apikey.RoundTripper(key, nil)}
		}
		_, err := participantv1connect.NewParticipantServiceClient(hc, url).ListAgents(t.Context(), &participantv1.ListAgentsRequest{})
		return connect.CodeOf(err)
	}
	ok := connect.Code(0)
	for key, want := range map[string]connect.Code{"": connect.CodeUnauthenticated, oldKey: ok, newKey: connect.CodeUnauthenticated} {
		// ListAgents without a roster is FailedPrecondition: past the key check.
		if got := call(key); (want == ok) != (got != connect.CodeUnauthenticated) {
			t.Errorf("before rotation, key %q: %v, want %v", key, got, want)
		}
	}
	if err := os.WriteFile(file, []byte(newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Run handles SIGHUP while it serves, so the signal does not end the
	// test binary.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for call(newKey) == connect.CodeUnauthenticated {
		if time.Now().After(deadline) {
			t.Fatal("the new key is still refused 10 s after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := call(oldKey); got != connect.CodeUnauthenticated {
		t.Errorf("after rotation the old key gets %v, want Unauthenticated", got)
	}
}
