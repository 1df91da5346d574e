package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache keeps one prepared statement per query string. Parsing and
// planning dominate the cost of the store's small statements (a third of
// the hot path's CPU before the cache), and the set of query strings is
// small and fixed, so the cache needs no eviction.
type stmtCache struct {
	prepare func(ctx context.Context, query string) (*sql.Stmt, error)
	// direct runs a query unprepared; QueryRowContext falls back to it
	// when preparing fails, so the error surfaces through *sql.Row.
	direct interface {
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(prepare func(context.Context, string) (*sql.Stmt, error), direct interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) *stmtCache {
	return &stmtCache{prepare: prepare, direct: direct, m: map[string]*sql.Stmt{}}
}

func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	// Prepare without the lock: preparing on the read pool may wait for a
	// connection, and other queries must not wait for that.
	st, err := c.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		// Another caller prepared it meanwhile; keep one.
		st.Close()
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// cachedDB is a dbtx running every query as a cached prepared statement.
// With detach set, statements ignore the caller's cancellation (see
// group_commit.go for why shared transactions need that).
type cachedDB struct {
	cache  *stmtCache
	detach bool
}

func (d cachedDB) ctx(ctx context.Context) context.Context {
	if d.detach {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (d cachedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = d.ctx(ctx)
	st, err := d.cache.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (d cachedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = d.ctx(ctx)
	st, err := d.cache.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (d cachedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = d.ctx(ctx)
	st, err := d.cache.stmt(ctx, query)
	if err != nil {
		return d.cache.direct.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
