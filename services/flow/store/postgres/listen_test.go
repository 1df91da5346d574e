package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/convoflow/convoflow/internal/pgtest"
)

// listen runs s.Listen until the test ends and returns what it receives.
func listen(t *testing.T, s *Store) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 1024)
	done := make(chan error, 1)
	go func() { done <- s.Listen(ctx, func(conv string) { got <- conv }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen returned %v, want context.Canceled", err)
		}
	})
	return got
}

// awaitAnnouncement notifies conv until got delivers it, and returns the
// other announcements got delivered meanwhile.
func awaitAnnouncement(t *testing.T, s *Store, got <-chan string, conv string) (others []string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if err := s.Notify(t.Context(), conv); err != nil {
			t.Fatal(err)
		}
		wait := time.After(100 * time.Millisecond)
	drain:
		for {
			select {
			case c := <-got:
				if c == conv {
					return others
				}
				others = append(others, c)
			case <-wait:
				break drain
			case <-deadline:
				t.Fatalf("announcement of %s not received within 20 s", conv)
			}
		}
	}
}

// listenerPID returns the backend of the store's LISTEN session.
func listenerPID(t *testing.T, s *Store) int32 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var pid int32
		err := s.pool.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity WHERE query = $1 AND datname = current_database()`,
			listenStatement(s.channel)).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no LISTEN session found: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestListenSurvivesKilledConnection terminates the backend Listen uses:
// Listen reconnects and delivers again.
func TestListenSurvivesKilledConnection(t *testing.T) {
	t.Parallel()
	s := openTest(t, pgtest.NewSchema(t), Options{})
	got := listen(t, s)
	awaitAnnouncement(t, s, got, "CH-before")
	pid := listenerPID(t, s)
	var killed bool
	if err := s.pool.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, killed, err)
	}
	awaitAnnouncement(t, s, got, "CH-after")
	if again := listenerPID(t, s); again == pid {
		t.Errorf("LISTEN session still on backend %d", pid)
	}
}

// TestListenPerSchema checks that stores in different schemas of a database
// do not hear each other's announcements.
func TestListenPerSchema(t *testing.T) {
	t.Parallel()
	a := openTest(t, pgtest.NewSchema(t), Options{})
	b := openTest(t, pgtest.NewSchema(t), Options{})
	if a.channel == b.channel {
		t.Fatalf("both schemas use channel %q", a.channel)
	}
	gotA, gotB := listen(t, a), listen(t, b)
	// Both listen once each has heard itself; then a announces again.
	awaitAnnouncement(t, b, gotB, "CH-b")
	awaitAnnouncement(t, a, gotA, "CH-a")
	awaitAnnouncement(t, a, gotA, "CH-a2")
	heard := awaitAnnouncement(t, b, gotB, "CH-b2")
	for _, c := range heard {
		if c != "CH-b" {
			t.Errorf("b heard %q, announced in a's schema", c)
		}
	}
}

// TestListenEndsWithClose checks that closing the store ends Listen.
func TestListenEndsWithClose(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.NewSchema(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Listen(context.Background(), func(string) {}) }()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("Listen after Close = %v, want the store's closing", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not end with Close")
	}
}
