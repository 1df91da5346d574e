package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnection backoff of Listen: it doubles from minListenBackoff after
// each failure up to maxListenBackoff, and starts over once a connection
// has listened.
const (
	minListenBackoff = 100 * time.Millisecond
	maxListenBackoff = 5 * time.Second
)

// errClosed ends Listen when the Store is closed under it.
var errClosed = errors.New("postgres: store closed")

// Listen implements [store.Listener] with LISTEN on the store's channel,
// on a connection of its own outside the pool (a LISTEN session must stay
// open, and would otherwise take a pooled connection for good). fn runs on
// Listen's goroutine, one announcement at a time; it should hand the work
// off rather than do it, since announcements wait for it.
//
// When the connection fails, Listen logs it (without secrets) and
// reconnects with a backoff of up to 5 s; announcements committed in
// between are lost, which is why listeners poll as well. Listen returns
// ctx's error when ctx ends, or an error when the Store is closed.
func (s *Store) Listen(parent context.Context, fn func(conversationSID string)) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	ended := func() error {
		if err := parent.Err(); err != nil {
			return err
		}
		return errClosed
	}
	backoff := minListenBackoff
	for {
		listened, err := s.listenOnce(ctx, fn)
		if ctx.Err() != nil {
			return ended()
		}
		if listened {
			backoff = minListenBackoff
		}
		s.log.Warn("postgres store: listening for announcements failed; reconnecting",
			"dsn", s.dsn, "channel", s.channel, "retry_in", backoff, "err", scrub(err.Error(), s.secrets))
		select {
		case <-ctx.Done():
			return ended()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxListenBackoff)
	}
}

// listenOnce connects, listens and delivers until the connection fails or
// ctx ends. listened reports whether LISTEN took effect.
func (s *Store) listenOnce(ctx context.Context, fn func(string)) (listened bool, err error) {
	connectCtx, cancel := context.WithTimeout(ctx, s.connConfig.ConnectTimeout)
	conn, err := pgx.ConnectConfig(connectCtx, s.connConfig.Copy())
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, listenStatement(s.channel)); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for notifications: %w", err)
		}
		fn(n.Payload)
	}
}
