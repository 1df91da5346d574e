package pgtest_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/convoflow/convoflow/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("connect %s: %v", dsn, err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func queryBool(tb testing.TB, conn *pgx.Conn, sql string, args ...any) bool {
	tb.Helper()
	var b bool
	if err := conn.QueryRow(tb.Context(), sql, args...).Scan(&b); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return b
}

// dsnParts returns the database and search_path a DSN names.
func dsnParts(tb testing.TB, dsn string) (db, searchPath string) {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/"), u.Query().Get("search_path")
}

func TestNewDatabase(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("create_and_use", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		name, _ = dsnParts(t, dsn)
		if !strings.HasPrefix(name, "t_") {
			t.Errorf("database %q, want a t_ prefix", name)
		}
		conn := connect(t, dsn)
		var current string
		if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&current); err != nil {
			t.Fatal(err)
		}
		if current != name {
			t.Errorf("current_database() = %q, want %q", current, name)
		}
		if _, err := conn.Exec(t.Context(), "CREATE TABLE widgets (id int PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		// A second connection left open: the drop must force it closed.
		connect(t, dsn)
	})
	admin := connect(t, pgtest.Shared(t).DSN(""))
	if queryBool(t, admin, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name) {
		t.Errorf("database %s still exists after cleanup", name)
	}
}

func TestNewDatabase_distinct(t *testing.T) {
	t.Parallel()
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two calls returned the same DSN %s", a)
	}
	if _, err := connect(t, a).Exec(t.Context(), "CREATE TABLE widgets (id int)"); err != nil {
		t.Fatal(err)
	}
	if queryBool(t, connect(t, b), "SELECT to_regclass('widgets') IS NOT NULL") {
		t.Error("table created in one database is visible in another")
	}
}

func TestNewSchema(t *testing.T) {
	t.Parallel()
	var db, name string
	t.Run("isolation", func(t *testing.T) {
		dsnA, dsnB := pgtest.NewSchema(t), pgtest.NewSchema(t)
		var nameB string
		db, name = dsnParts(t, dsnA)
		_, nameB = dsnParts(t, dsnB)
		if name == nameB || !strings.HasPrefix(name, "t_") {
			t.Fatalf("schemas %q and %q, want distinct t_ names", name, nameB)
		}
		a, b := connect(t, dsnA), connect(t, dsnB)
		var current string
		if err := a.QueryRow(t.Context(), "SELECT current_schema()").Scan(&current); err != nil {
			t.Fatal(err)
		}
		if current != name {
			t.Errorf("current_schema() = %q, want %q", current, name)
		}
		if _, err := a.Exec(t.Context(), "CREATE TABLE widgets (id int PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		if !queryBool(t, a, "SELECT to_regclass($1) IS NOT NULL", name+".widgets") {
			t.Errorf("unqualified CREATE TABLE did not land in schema %s", name)
		}
		_, err := b.Exec(t.Context(), "SELECT * FROM widgets")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42P01" { // undefined_table
			t.Errorf("SELECT from another schema's table: err = %v, want undefined_table", err)
		}
	})
	c := pgtest.Shared(t)
	u, err := url.Parse(c.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	conn := connect(t, u.String())
	if queryBool(t, conn, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name) {
		t.Errorf("schema %s still exists after cleanup", name)
	}
}

func TestStart_password(t *testing.T) {
	t.Parallel()
	addrs := []string{"127.0.0.1"}
	extra := nonLoopbackIPv4()
	if extra != "" {
		addrs = append(addrs, extra)
	}
	c := pgtest.Start(t, pgtest.Options{ListenAddresses: addrs, Password: true})
	if c == pgtest.Shared(t) || c.Port() == pgtest.Shared(t).Port() {
		t.Fatal("Start returned the shared cluster")
	}
	for _, host := range addrs {
		t.Run("host_"+strings.ReplaceAll(host, ".", "_"), func(t *testing.T) {
			dsn := c.DSN(host)
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := u.User.Password(); !ok || u.Hostname() != host {
				t.Fatalf("DSN %s lacks the password or host %s", dsn, host)
			}
			var one int
			if err := connect(t, dsn).QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil {
				t.Fatal(err)
			}
			for _, user := range []*url.Userinfo{url.User("postgres"), url.UserPassword("postgres", "wrong")} {
				u.User = user
				conn, err := pgx.Connect(t.Context(), u.String())
				var pgErr *pgconn.PgError
				if err == nil {
					_ = conn.Close(t.Context())
				}
				if !errors.As(err, &pgErr) || pgErr.Code != "28P01" { // invalid_password
					t.Errorf("connect as %s: err = %v, want invalid_password", user, err)
				}
			}
		})
	}
	t.Run("new_database", func(t *testing.T) {
		dsn := c.NewDatabase(t)
		if _, ok := mustParse(t, dsn).User.Password(); !ok {
			t.Errorf("NewDatabase DSN %s lacks the password", dsn)
		}
		connect(t, dsn)
	})
	t.Run("stop", func(t *testing.T) {
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := c.Stop(); err != nil {
			t.Errorf("second Stop: %v", err)
		}
		conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", mustParse(t, c.DSN("")).Port()))
		if err == nil {
			_ = conn.Close()
			t.Error("server still accepts connections after Stop")
		}
	})
}

func TestStart_settings(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{Settings: map[string]string{"fsync": "off"}})
	var fsync string
	if err := connect(t, c.DSN("")).QueryRow(t.Context(), "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	if fsync != "off" {
		t.Errorf("fsync = %s, want off", fsync)
	}
	// The default is durable: benchmarks on the shared cluster measure
	// real commits.
	if err := connect(t, pgtest.Shared(t).DSN("")).QueryRow(t.Context(), "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" {
		t.Errorf("shared cluster fsync = %s, want on", fsync)
	}
}

func mustParse(tb testing.TB, dsn string) *url.URL {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// nonLoopbackIPv4 returns an address of this machine other than loopback
// (a Docker bridge, say), or "" if there is none.
func nonLoopbackIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}
