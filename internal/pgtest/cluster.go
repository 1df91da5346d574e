package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// superuser is the role initdb creates (-U) and every DSN names.
	superuser = "postgres"
	// schemaDatabase holds the schemas NewSchema creates.
	schemaDatabase = "pgtest_schemas"
	// dirPrefix names our temporary directories, so leftovers of killed
	// test binaries can be found and swept.
	dirPrefix = "convoflow-pgtest-"
	// ownerFile, inside such a directory, holds the pid of the test binary
	// that made it.
	ownerFile = "owner.pid"

	startTimeout = 30 * time.Second
	// stopGrace is how long a fast shutdown (SIGINT) may take before the
	// server is killed.
	stopGrace = 5 * time.Second
	// adminTimeout bounds every CREATE/DROP so a stuck cleanup fails the
	// test instead of hanging it until the go test timeout.
	adminTimeout = time.Minute
	// portAttempts is how often a start is retried when another process
	// took the port between choosing it and the server binding it.
	portAttempts = 3
)

// Options configure a cluster started by [Start]. The zero value is what
// the shared cluster uses: loopback only, no password.
type Options struct {
	// ListenAddresses are the TCP addresses the server listens on, as in
	// postgresql.conf's listen_addresses ("127.0.0.1", "172.17.0.1", "*").
	// Empty means 127.0.0.1.
	ListenAddresses []string
	// Password gives the postgres role a random password and requires it
	// (scram-sha-256) on every TCP connection, from any address; the DSNs
	// returned carry it. Without it only loopback clients are let in, with
	// no password, so a server listening on an address that containers
	// reach must set Password.
	Password bool
	// Settings are extra server parameters, passed as -c name=value, e.g.
	// {"fsync": "off"} where durability does not matter. fsync stays on by
	// default because benchmarks run on these clusters measure commits.
	Settings map[string]string
}

// Cluster is a PostgreSQL server: one this package started (see [Start]
// and [Shared]), or the server named by EnvURL.
type Cluster struct {
	base     url.URL // DSN template: scheme, user (and password), query
	host     string  // default host for DSN("")
	port     int
	adminDB  string // database the admin connections use
	external bool   // EnvURL's server: never stopped, its databases kept

	// Set only for clusters this package started.
	dir     string // temporary directory: data/, socket, log
	logPath string
	proc    *process

	mu          sync.Mutex
	admin       map[string]*pgx.Conn // one per database, used under mu
	schemaDBSet bool

	stopOnce sync.Once
	stopErr  error
}

// Start starts a cluster of its own for tb, e.g. one containers can reach,
// and stops it, removing its files, when tb's cleanup runs. It needs server
// binaries even when EnvURL is set, since an existing server cannot be
// given other addresses or a password. Without binaries tb is skipped (or
// fails when EnvRequire=1). Tests that only need a database use
// [NewDatabase] or [NewSchema] on the shared cluster instead.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	_, err := findBinaries()
	if err == nil {
		_, err = serverUser()
	}
	require(tb, err)
	c, err := start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return c
}

// DSN returns the superuser DSN of the cluster's "postgres" database (or,
// for EnvURL, of the database it names), with host as the address to
// connect to; "" means the default: loopback, or the first listen address
// if the server does not listen on loopback. Pass the address a client
// must use, e.g. the Docker host's name as seen from a container.
func (c *Cluster) DSN(host string) string {
	return c.dsn(host, c.adminDB, nil)
}

// Port returns the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// NewDatabase creates an empty database and returns its superuser DSN on
// the default host (see [Cluster.DSN]); tb's cleanup drops it, closing any
// connections still open to it (DROP DATABASE ... WITH (FORCE), which
// needs PostgreSQL 13 or later).
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := randomName()
	if err := c.exec(c.adminDB, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := c.exec(c.adminDB, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return c.dsn("", name, nil)
}

// NewSchema creates an empty schema in a database shared by all schemas of
// the cluster and returns a DSN on the default host whose search_path is
// that schema alone, so unqualified names resolve, and tables are created,
// there; tb's cleanup drops it with everything in it.
func (c *Cluster) NewSchema(tb testing.TB) string {
	tb.Helper()
	if err := c.ensureSchemaDatabase(); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", schemaDatabase, err)
	}
	name := randomName()
	if err := c.exec(schemaDatabase, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create schema %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := c.exec(schemaDatabase, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	// pgx sends query parameters it does not know as run-time parameters
	// in the startup message, so every connection, pooled or not, starts
	// with this search_path.
	return c.dsn("", schemaDatabase, url.Values{"search_path": {name}})
}

// Stop shuts the server down (a fast shutdown, then SIGKILL after a few
// seconds) and removes its files. It is safe to call more than once and
// does nothing for EnvURL's server. [Start] and [Main] call it.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	for db, conn := range c.admin {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = conn.Close(ctx)
		cancel()
		delete(c.admin, db)
	}
	c.mu.Unlock()
	if c.external {
		return nil
	}
	var errs []error
	select {
	case <-c.proc.done:
		// It died before we asked: report it with the log, which says why.
		errs = append(errs, fmt.Errorf("pgtest: server exited before Stop (%v); log:\n%s", c.proc.err, tail(c.logPath)))
	default:
		_ = c.proc.cmd.Process.Signal(os.Interrupt) // fast shutdown
		select {
		case <-c.proc.done:
		case <-time.After(stopGrace):
			_ = c.proc.cmd.Process.Kill()
			<-c.proc.done
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: %w", err))
	}
	return errors.Join(errs...)
}

// dsn builds a DSN for database db on host (default c.host) with extra
// query parameters.
func (c *Cluster) dsn(host, db string, extra url.Values) string {
	if host == "" {
		host = c.host
	}
	u := c.base
	u.Host = net.JoinHostPort(host, strconv.Itoa(c.port))
	u.Path = "/" + db
	q := u.Query()
	for k, v := range extra {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// adminConfig is how this package itself connects to db: over the Unix
// socket for its own clusters (trusted, and independent of the listen
// addresses), over EnvURL otherwise.
func (c *Cluster) adminConfig(db string) (*pgx.ConnConfig, error) {
	var dsn string
	if c.external {
		dsn = c.dsn("", db, nil)
	} else {
		dsn = fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", c.dir, c.port, superuser, db)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	// A DROP SCHEMA waiting on a lock some leaked connection holds would
	// otherwise hang the cleanup until the go test timeout.
	cfg.RuntimeParams["lock_timeout"] = "30s"
	return cfg, nil
}

// exec runs one statement on db through a cached admin connection.
func (c *Cluster) exec(db, sql string) error {
	return c.withAdmin(db, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql)
		return err
	})
}

// withAdmin runs fn with the admin connection to db. Calls are serialised:
// a pgx.Conn is not safe for concurrent use, and one connection per
// database keeps parallel tests from using up max_connections.
func (c *Cluster) withAdmin(db string, fn func(context.Context, *pgx.Conn) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn := c.admin[db]
	if conn == nil {
		cfg, err := c.adminConfig(db)
		if err != nil {
			return err
		}
		if conn, err = pgx.ConnectConfig(ctx, cfg); err != nil {
			return err
		}
		if c.admin == nil {
			c.admin = make(map[string]*pgx.Conn)
		}
		c.admin[db] = conn
	}
	err := fn(ctx, conn)
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) {
		// Not an SQL error: the connection may be broken, so the next call
		// opens a new one.
		_ = conn.Close(ctx)
		delete(c.admin, db)
	}
	return err
}

// ensureSchemaDatabase creates the database NewSchema uses on first use.
// With EnvURL, several test binaries may race to create it, and none drops
// it, so "already exists" counts as success.
func (c *Cluster) ensureSchemaDatabase() error {
	c.mu.Lock()
	done := c.schemaDBSet
	c.mu.Unlock()
	if done {
		return nil
	}
	err := c.withAdmin(c.adminDB, func(ctx context.Context, conn *pgx.Conn) error {
		if c.schemaDBSet {
			return nil
		}
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", schemaDatabase).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{schemaDatabase}.Sanitize())
			var pgErr *pgconn.PgError
			if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database
				return err
			}
		}
		c.schemaDBSet = true
		return nil
	})
	return err
}

// external describes the server at EnvURL, checking that it answers.
func external(dsn string) (*Cluster, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" {
		return nil, fmt.Errorf("pgtest: %s must be a URL such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", EnvURL)
	}
	port := 5432
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("pgtest: %s: bad port %q", EnvURL, p)
		}
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = "postgres"
	}
	c := &Cluster{base: *u, host: u.Hostname(), port: port, adminDB: db, external: true}
	if err := c.exec(db, "SELECT 1"); err != nil {
		return nil, fmt.Errorf("pgtest: connect to %s: %w", EnvURL, err)
	}
	return c, nil
}

// start makes a temporary directory, runs initdb into it and starts the
// server on a free port.
func start(opts Options) (c *Cluster, err error) {
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	as, err := serverUser()
	if err != nil {
		return nil, err
	}
	sweep()

	addrs := opts.ListenAddresses
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1"}
	}
	// The directory holds the data, the log and the Unix socket (-k),
	// because the system socket directory is not writable by tests. Its
	// path must stay short: a socket path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := writeOwner(dir); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if as != nil {
		// MkdirTemp makes it 0700 and root's; the postgres user must be
		// able to reach it and write in it.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		if err := os.Chown(dir, int(as.uid), int(as.gid)); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		if err := checkTraversable(filepath.Dir(dir), as.name); err != nil {
			return nil, err
		}
	}

	c = &Cluster{
		base:    url.URL{Scheme: "postgres", User: url.User(superuser), RawQuery: "sslmode=disable"},
		host:    defaultHost(addrs),
		adminDB: "postgres",
		dir:     dir,
		logPath: filepath.Join(dir, "postgres.log"),
	}
	data := filepath.Join(dir, "data")
	if err := c.initdb(bins, as, data, opts.Password); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err = c.run(bins, as, data, addrs, opts.Settings)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == portAttempts {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if opts.Password {
		if err := c.setPassword(); err != nil {
			_ = c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// initdb creates the cluster: UTF-8 with the C locale so results do not
// depend on the machine's locales, and --no-sync because a throwaway
// cluster need not survive a power cut between initdb and the server start
// (the server itself keeps fsync on). It then replaces pg_hba.conf with
// the rules the options ask for.
func (c *Cluster) initdb(bins binaries, as *osUser, data string, password bool) error {
	cmd := exec.Command(bins.initdb, "-D", data, "-U", superuser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := c.spawn(cmd, as)
	if err == nil {
		<-p.done
		err = p.err
	}
	if err != nil {
		return fmt.Errorf("pgtest: %s: %w\n%s", bins.initdb, err, out.String())
	}
	hba := "local all all trust\n" +
		"host all all 127.0.0.1/32 trust\n" +
		"host all all ::1/128 trust\n"
	if password {
		// The local socket stays trusted for this package's own admin
		// connections; every TCP client, loopback included, must prove the
		// password, which is what a container test wants to exercise.
		hba = "local all all trust\n" +
			"host all all 0.0.0.0/0 scram-sha-256\n" +
			"host all all ::/0 scram-sha-256\n"
	}
	path := filepath.Join(data, "pg_hba.conf")
	if err := os.WriteFile(path, []byte(hba), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if as != nil {
		if err := os.Chown(path, int(as.uid), int(as.gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	return nil
}

// errPortTaken marks a start that failed only because the port was taken.
var errPortTaken = errors.New("port taken")

// run starts the postgres binary directly, not through pg_ctl, so that it
// is our child and dies with us (see sysProcAttr), and waits until it
// accepts connections.
func (c *Cluster) run(bins binaries, as *osUser, data string, addrs []string, settings map[string]string) error {
	port, err := freePort(addrs)
	if err != nil {
		return err
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", c.dir,
		"-c", "listen_addresses=" + strings.Join(addrs, ",")}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", k+"="+settings[k])
	}
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bins.postgres, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := c.spawn(cmd, as)
	if err != nil {
		return fmt.Errorf("pgtest: %s: %w", bins.postgres, err)
	}
	c.port, c.proc = port, p
	if err := c.waitReady(); err != nil {
		log := tail(c.logPath)
		if strings.Contains(log, "Address already in use") {
			err = errors.Join(errPortTaken, err)
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%w; log:\n%s", err, log)
	}
	// With several addresses the server starts even if some could not be
	// bound, which would leave containers unable to connect: fail instead.
	if log := tail(c.logPath); strings.Contains(log, "could not create listen socket") {
		_ = p.cmd.Process.Kill()
		<-p.done
		err := errors.New("pgtest: server could not listen on every address")
		if strings.Contains(log, "Address already in use") {
			err = errors.Join(errPortTaken, err)
		}
		return fmt.Errorf("%w; log:\n%s", err, log)
	}
	return nil
}

// waitReady polls with a real connection until the server accepts one,
// the server exits, or startTimeout passes.
func (c *Cluster) waitReady() error {
	cfg, err := c.adminConfig(c.adminDB)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-c.proc.done:
			return fmt.Errorf("pgtest: server exited during start-up (%v)", c.proc.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: server not accepting connections after %v: %w", startTimeout, err)
		}
	}
}

// setPassword gives the superuser a random password, stored as a SCRAM
// verifier whatever the server's password_encryption default (md5 before
// PostgreSQL 14).
func (c *Cluster) setPassword() error {
	pw := randomHex(16)
	err := c.withAdmin(c.adminDB, func(ctx context.Context, conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "SET password_encryption = 'scram-sha-256'"); err != nil {
			return err
		}
		// Utility statements take no bind parameters; the password is hex,
		// so it needs no quoting.
		_, err := conn.Exec(ctx, "ALTER ROLE "+superuser+" PASSWORD '"+pw+"'")
		return err
	})
	if err != nil {
		return fmt.Errorf("pgtest: set password: %w", err)
	}
	c.base.User = url.UserPassword(superuser, pw)
	return nil
}

// process is a started child and, once done is closed, its exit error.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// spawn starts cmd as as (nil: as ourselves) in c.dir, with the PG*
// variables of our environment removed so they cannot redirect it.
//
// The parent-death signal fires when the OS thread that forked the child
// exits, not the process, and the Go runtime may end a thread at any time.
// So the child is started from a goroutine locked to its thread, which
// stays blocked in Wait, keeping the thread alive, for the child's life.
func (c *Cluster) spawn(cmd *exec.Cmd, as *osUser) (*process, error) {
	attr, err := sysProcAttr(as)
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = attr
	// As root our working directory (the package) may be closed to the
	// postgres user, and initdb fails if it cannot read it.
	cmd.Dir = c.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the child
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// freePort finds a TCP port that every address in addrs can bind now. The
// server binds it a moment later, so another process may still take it;
// run reports that as errPortTaken and start retries.
func freePort(addrs []string) (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(bindHost(addrs[0]), "0"))
		if err != nil {
			return 0, fmt.Errorf("pgtest: listen on %s: %w", addrs[0], err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		ok := true
		for _, a := range addrs[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(bindHost(a), strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			_ = l.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("pgtest: no TCP port free on all of %v", addrs)
}

// bindHost maps listen_addresses' "*" (all interfaces) to Go's "".
func bindHost(addr string) string {
	if addr == "*" {
		return ""
	}
	return addr
}

// defaultHost is where clients on this machine connect by default.
func defaultHost(addrs []string) string {
	for _, a := range addrs {
		switch a {
		case "*", "0.0.0.0", "127.0.0.1", "localhost":
			return "127.0.0.1"
		case "::", "::1":
			return "::1"
		}
	}
	return addrs[0]
}

// checkTraversable fails when the postgres user could not reach our
// directory because some parent lacks the others' execute bit.
func checkTraversable(dir, user string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgtest: the %s user cannot traverse %s (mode %v); point TMPDIR elsewhere", user, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// sweep removes directories left by test binaries that died without
// stopping their cluster (killed, or no TestMain): their server died with
// them, but their files did not. Directories whose owner or server is
// still running are left alone.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		// Only a directory whose owner file names a dead process is a
		// leftover: without a readable owner it is still being created
		// (the file appears whole, by rename), or it is not ours.
		owner, ok := readPid(filepath.Join(d, ownerFile))
		if !ok || processAlive(owner) {
			continue
		}
		if pid, ok := readPid(filepath.Join(d, "data", "postmaster.pid")); ok && processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// readPid reads a pid from the first line of file.
func readPid(file string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return pid, err == nil && pid > 0
}

// writeOwner records this process as the directory's owner, atomically:
// another binary's sweep never sees a half-written owner file.
func writeOwner(dir string) error {
	tmp := filepath.Join(dir, ownerFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ownerFile))
}

// tail returns the end of the server log, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// randomName is a fresh database or schema name: t_ and 16 hex digits.
func randomName() string { return "t_" + randomHex(8) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
