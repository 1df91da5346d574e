// Package pgtest gives tests a real PostgreSQL server without a network or
// a download.
//
// With CONVOFLOW_POSTGRES_URL set to a superuser DSN, that server is used.
// Otherwise the first test that asks starts a throwaway cluster from the
// server binaries on PATH or under /usr/lib/postgresql/<major>/bin (newest
// first): initdb into a temporary directory, then the postgres binary as a
// child process on a free loopback port, with its Unix socket in that
// directory. As root, both run as the postgres OS user, because initdb
// refuses root. Without binaries, tests skip with a message saying how to
// install them; CONVOFLOW_REQUIRE_POSTGRES=1 (as CI sets) makes that a
// failure.
//
// One cluster serves the whole test binary. Its package must stop it from
// TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Each test then takes an isolated database ([NewDatabase]) or schema
// ([NewSchema]), dropped in its cleanup. [Start] starts a separate cluster
// with options, e.g. listening on the Docker bridge with a password, for
// containers to reach.
//
// Cost on the project's 2-core AMD EPYC VM (PostgreSQL 15.18, fsync on;
// BenchmarkStart, BenchmarkNewDatabase, BenchmarkNewSchema, -benchtime
// 10x -count 2, 2026-12-06): a cluster of one's own, initdb to the first
// accepted connection and stop, 1.4–1.5 s; a database 73–146 ms to create
// (CREATE DATABASE copies the template); a schema 0.32 ms. Suites that
// create hundreds of stores should use schemas.
package pgtest
