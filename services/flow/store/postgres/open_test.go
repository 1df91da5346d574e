package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/convoflow/convoflow/internal/pgtest"
	"github.com/convoflow/convoflow/services/flow/store"
)

const secret = "s3cret-pw"

// checkHidden fails unless err is one line without the password.
func checkHidden(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("Open succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, secret) || strings.Contains(msg, strings.ReplaceAll(secret, "-", "%2D")) {
		t.Errorf("error shows the password: %s", msg)
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	// Nor may anything the error wraps.
	for _, e := range unwrapAll(err) {
		if strings.Contains(e.Error(), secret) {
			t.Errorf("wrapped error %T shows the password: %s", e, e)
		}
	}
}

func unwrapAll(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		out = append(out, e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://user:" + secret + "@127.0.0.1:1/db?sslmode=disable",
		"host=127.0.0.1 port=1 user=user password=" + secret + " dbname=db sslmode=disable",
		"host=127.0.0.1 port=1 user=user password='" + secret + "' dbname=db",
		// Two hosts, so that pgx reports an error per host, on two lines.
		"postgres://user:" + secret + "@127.0.0.1:1,127.0.0.1:2/db",
	} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := Open(t.Context(), dsn, Options{ConnectTimeout: 3 * time.Second})
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("Open took %s, longer than the connect timeout", elapsed)
			}
			checkHidden(t, err)
			if !strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("error does not say which server: %v", err)
			}
		})
	}
}

// TestOpenConnectTimeout points Open at a server that accepts connections
// and never answers: Open must give up after the connect timeout.
func TestOpenConnectTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepted
	})
	port := ln.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name string
		dsn  string
		opts Options
	}{
		{"option", fmt.Sprintf("postgres://user:%s@127.0.0.1:%d/db?sslmode=disable", secret, port), Options{ConnectTimeout: 300 * time.Millisecond}},
		{"dsn", fmt.Sprintf("postgres://user:%s@127.0.0.1:%d/db?sslmode=disable&connect_timeout=1", secret, port), Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := Open(t.Context(), tc.dsn, tc.opts)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Open took %s against a silent server", elapsed)
			}
			checkHidden(t, err)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("error (not a deadline): %v", err)
			}
		})
	}
}

func TestOpenMalformedDSN(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://user:" + secret + "@localhost:badport/db",
		"postgres://user:" + secret + "@[::1/db",
		"postgres://user:" + secret + "@localhost/db?connect_timeout=abc",
		"postgres://user@localhost/db?password=" + secret + "&pool_max_conns=many",
		"postgresql://user:" + secret + "@localhost/db?sslmode=bogus",
		"host=localhost password=" + secret + " port=notanumber",
		"host=localhost password='" + secret,
		"host=localhost password=" + secret + " pool_max_conns=x",
		"host=localhost user=u password=" + secret + " sslmode=nope",
	} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			_, err := Open(t.Context(), dsn, Options{ConnectTimeout: time.Second})
			checkHidden(t, err)
			if !errors.Is(err, store.ErrInvalidArgument) {
				t.Errorf("Open(malformed) = %v, want ErrInvalidArgument", err)
			}
		})
	}
	_, err := Open(t.Context(), "postgres://localhost/db", Options{MaxConns: -1})
	if !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("negative MaxConns: %v, want ErrInvalidArgument", err)
	}
}

func TestDescribeDSN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://user:" + secret + "@db.example:5433/flows?sslmode=require", "postgres://user:xxxxx@db.example:5433/flows?sslmode=require"},
		{"postgres://user@db.example/flows?password=" + secret, "postgres://user@db.example/flows?password=xxxxx"},
		{"postgres://user:" + secret + "@[::1/db", "(malformed postgres URL)"},
		{"host=db.example port=5433 user=u password=" + secret + " dbname=flows sslmode=require", "host=db.example port=5433 dbname=flows user=u"},
		{"host=db.example password='a b " + secret + "' port=x", "host=db.example port=x"},
	} {
		if got := describeDSN(tc.dsn, nil); got != tc.want {
			t.Errorf("describeDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

// TestOptionsApplied checks the pool size and statement timeout a store
// gets from its options, from the DSN, and by default.
func TestOptionsApplied(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewSchema(t)
	for _, tc := range []struct {
		name        string
		dsn         string
		opts        Options
		maxConns    int32
		stmtTimeout string
	}{
		{"defaults", dsn, Options{}, int32(max(8, 4*runtime.GOMAXPROCS(0))), "30s"},
		{"options", dsn, Options{MaxConns: 3, StatementTimeout: 1500 * time.Millisecond}, 3, "1500ms"},
		{"dsn", withParam(t, withParam(t, dsn, "pool_max_conns", "5"), "statement_timeout", "7000"), Options{}, 5, "7s"},
		{"options_over_dsn", withParam(t, withParam(t, dsn, "pool_max_conns", "5"), "statement_timeout", "7000"),
			Options{MaxConns: 2, StatementTimeout: 2 * time.Second}, 2, "2s"},
		{"dsn_options", withParam(t, dsn, "options", "-c statement_timeout=8000"), Options{}, int32(max(8, 4*runtime.GOMAXPROCS(0))), "8s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openTest(t, tc.dsn, tc.opts)
			if got := s.pool.Config().MaxConns; got != tc.maxConns {
				t.Errorf("pool max conns = %d, want %d", got, tc.maxConns)
			}
			var got string
			if err := s.pool.QueryRow(t.Context(), `SHOW statement_timeout`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.stmtTimeout {
				t.Errorf("statement_timeout = %q, want %q", got, tc.stmtTimeout)
			}
		})
	}
}

// TestMillis checks that a positive timeout never becomes 0, which would
// disable statement_timeout.
func TestMillis(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{time.Microsecond: "1", 1500 * time.Millisecond: "1500", 30 * time.Second: "30000"} {
		if got := millis(d); got != want {
			t.Errorf("millis(%s) = %s, want %s", d, got, want)
		}
	}
}

// TestStatementTimeoutBoundsStatements checks that the timeout is in force:
// a statement running longer fails, as an error of the caller's call.
func TestStatementTimeoutBoundsStatements(t *testing.T) {
	t.Parallel()
	s := openTest(t, pgtest.NewSchema(t), Options{StatementTimeout: 300 * time.Millisecond})
	_, err := s.pool.Exec(t.Context(), `SELECT pg_sleep(3)`)
	if err == nil || !strings.Contains(err.Error(), "statement timeout") {
		t.Fatalf("pg_sleep(3) = %v, want a statement timeout", err)
	}
}

// TestPasswordHidden runs a server that requires passwords: a wrong one
// fails Open with the server's error and without the password, and a store
// opened with the right one logs its reconnections without it.
func TestPasswordHidden(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{Password: true})
	good, err := url.Parse(c.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	password, ok := good.User.Password()
	if !ok {
		t.Fatalf("cluster DSN has no password")
	}
	bad := *good
	bad.User = url.UserPassword(good.User.Username(), secret)
	_, err = Open(t.Context(), bad.String(), Options{ConnectTimeout: 5 * time.Second})
	checkHidden(t, err)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Errorf("Open with a wrong password = %v, want the server's invalid_password error", err)
	}

	var logs syncBuffer
	s := openTest(t, good.String(), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	got := listen(t, s)
	awaitAnnouncement(t, s, got, "CH-before")
	if _, err := s.pool.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, listenerPID(t, s)); err != nil {
		t.Fatal(err)
	}
	awaitAnnouncement(t, s, got, "CH-after")
	out := logs.String()
	if !strings.Contains(out, "reconnecting") {
		t.Errorf("no reconnection logged: %s", out)
	}
	if strings.Contains(out, password) {
		t.Errorf("log shows the password: %s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the store's and the test's
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
