package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"github.com/convoflow/convoflow/services/flow/store"
	"github.com/convoflow/convoflow/services/flow/store/postgres"
	"github.com/convoflow/convoflow/services/flow/store/sqlite"
)

// storeKind is the store --db selects.
type storeKind int

const (
	storeSQLite storeKind = iota + 1
	storePostgres
)

// schemeRE matches what looks like a URL scheme: "mysql:" in
// mysql://…, or "file:" in SQLite's own URI form.
var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// storeKindOf classifies --db: a postgres:// or postgresql:// URL selects
// PostgreSQL; anything else that looks like a URL or an SQLite URI is
// refused rather than taken for a file name (flowservice once created a
// directory named "postgres:" for a PostgreSQL URL); the rest is an SQLite
// file path. Errors never show a password.
func storeKindOf(db string) (storeKind, error) {
	const accepted = "want a postgres:// or postgresql:// URL (PostgreSQL) or an SQLite file path such as ./.data/flowservice.db"
	switch {
	case strings.TrimSpace(db) == "":
		return 0, errors.New("--db is empty: " + accepted)
	case hasScheme(db, "postgres"), hasScheme(db, "postgresql"):
		return storePostgres, nil
	case schemeRE.MatchString(db):
		scheme, _, _ := strings.Cut(db, ":")
		return 0, fmt.Errorf("--db %s: %q is not a store this service knows: %s", redactDB(db), scheme, accepted)
	case db == ":memory:" || strings.HasPrefix(db, ":memory:"):
		return 0, fmt.Errorf("--db %s: an in-memory database would lose every acknowledged event on restart: %s", db, accepted)
	}
	return storeSQLite, nil
}

func hasScheme(db, scheme string) bool {
	return len(db) > len(scheme)+3 && strings.EqualFold(db[:len(scheme)+3], scheme+"://")
}

// redactDB shows --db without a password, for errors and logs: a
// PostgreSQL URL as the store describes it (secret parameters such as
// sslpassword masked too), another URL with net/url's Redacted and its
// password parameter masked, a file path as it is.
func redactDB(db string) string {
	switch {
	case hasScheme(db, "postgres"), hasScheme(db, "postgresql"):
		return postgres.DescribeDSN(db)
	case !schemeRE.MatchString(db):
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		scheme, _, _ := strings.Cut(db, ":")
		return scheme + "://…"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// openStore opens the store cfg.DB selects and applies its migrations. An
// unreachable PostgreSQL fails within the store's connect timeout, and
// nothing is created on disk for a PostgreSQL URL.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	kind, err := storeKindOf(cfg.DB)
	if err != nil {
		return nil, err
	}
	switch kind {
	case storePostgres:
		st, err := postgres.Open(ctx, cfg.DB, postgres.Options{MaxConns: cfg.DBMaxConns, StatementTimeout: cfg.DBStatementTimeout, Logger: log})
		if err != nil {
			// The store's errors name the database without its password.
			return nil, err
		}
		log.Info("store: PostgreSQL", "db", redactDB(cfg.DB))
		return st, nil
	default:
		st, err := sqlite.Open(ctx, cfg.DB, sqlite.Options{})
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", cfg.DB, err)
		}
		log.Info("store: SQLite", "db", cfg.DB)
		return st, nil
	}
}
