package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
)

const (
	// EnvURL names the variable holding a superuser DSN of a server to use
	// instead of starting one, e.g.
	// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
	EnvURL = "CONVOFLOW_POSTGRES_URL"
	// EnvRequire names the variable that, set to 1 (as CI sets it), turns a
	// missing PostgreSQL into a failure instead of a skipped test.
	EnvRequire = "CONVOFLOW_REQUIRE_POSTGRES"
)

// installHint is appended to every "not available" message, so a skipped
// test says how to stop skipping.
const installHint = "install the server (Debian: apt-get install -y postgresql) or set " +
	EnvURL + " to a superuser DSN; " + EnvRequire + "=1 turns this skip into a failure"

// binaries is where one PostgreSQL installation's server programs live.
type binaries struct {
	initdb, postgres string
}

// osUser is the account initdb and the server run as when the test runs as
// root, because initdb refuses to run as root.
type osUser struct {
	name     string
	uid, gid uint32
}

// Available returns nil when this package can provide a server: EnvURL is
// set, or server binaries were found (and, as root, a postgres OS user to
// run them as). Otherwise its error says what is missing and how to get it.
// It does not start anything, so a successful start is still not certain.
func Available() error {
	if os.Getenv(EnvURL) != "" {
		return nil
	}
	if _, err := findBinaries(); err != nil {
		return err
	}
	_, err := serverUser()
	return err
}

// debianGlob matches Debian's per-major server directories; a variable so
// a test can simulate a machine without them.
var debianGlob = "/usr/lib/postgresql/*/bin"

// findBinaries looks on PATH first, so a CI machine can choose a version,
// then in Debian's per-major directories, newest major first.
func findBinaries() (binaries, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		// initdb runs the postgres binary next to its resolved path (Debian
		// links /usr/local/bin/initdb to /usr/lib/postgresql/15/bin), so the
		// server must come from there too, or the versions could differ.
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			if pg := filepath.Join(filepath.Dir(real), "postgres"); isExecutable(pg) {
				return binaries{initdb: initdb, postgres: pg}, nil
			}
		}
		if pg, err := exec.LookPath("postgres"); err == nil {
			return binaries{initdb: initdb, postgres: pg}, nil
		}
	}
	dirs, _ := filepath.Glob(debianGlob)
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		b := binaries{initdb: filepath.Join(d, "initdb"), postgres: filepath.Join(d, "postgres")}
		if isExecutable(b.initdb) && isExecutable(b.postgres) {
			return b, nil
		}
	}
	return binaries{}, errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; " + installHint)
}

// major reads the version out of /usr/lib/postgresql/<major>/bin; numeric,
// so that 9.6 sorts below 15.
func major(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// serverUser returns nil when the test may run the server as itself, and the
// postgres account when it runs as root.
func serverUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, but initdb refuses root and there is no postgres OS user to run it as (%v); %s", err, installHint)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: postgres OS user: %w", err)
	}
	return &osUser{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// require skips tb, or fails it when EnvRequire=1, if err (from Available)
// is not nil.
func require(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatal(err)
	}
	tb.Skip(err)
}

// The shared cluster: started on first use by any test in the binary and
// stopped by Main.
var shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// Shared returns the server every test of the binary shares: the one named
// by EnvURL, or a cluster started on first use with default [Options]. It
// skips tb when PostgreSQL is not available (fails it with EnvRequire=1) and
// fails it when a start was attempted and failed. Most tests want
// [NewDatabase] or [NewSchema] instead; Shared is for those that need the
// superuser DSN itself.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	require(tb, Available())
	shared.once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			shared.cluster, shared.err = external(u)
			return
		}
		shared.cluster, shared.err = start(Options{})
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.cluster
}

// Main runs the tests and then stops the shared cluster, if one was
// started, and removes its files. A package using this package must call it
// from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Without it the server still dies with the test binary (on Linux, through
// the parent-death signal) but is killed rather than shut down, and its
// temporary directory stays behind until a later run sweeps it.
func Main(m *testing.M) int {
	code := m.Run()
	if c := shared.cluster; c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stopping the shared cluster:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// NewDatabase creates an empty database on the shared server (see [Shared])
// and returns its superuser DSN; the database is dropped, with any
// connections still open to it, when tb's cleanup runs. Use it where a test
// needs a whole database, e.g. for several service replicas sharing one.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return Shared(tb).NewDatabase(tb)
}

// NewSchema creates an empty schema in one database of the shared server
// (see [Shared]) and returns a DSN whose connections use it as their only
// search_path; the schema is dropped with everything in it when tb's cleanup
// runs. It is much cheaper than [NewDatabase] (see the package
// documentation) and the right choice for suites that create many stores.
func NewSchema(tb testing.TB) string {
	tb.Helper()
	return Shared(tb).NewSchema(tb)
}
