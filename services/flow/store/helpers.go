package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The helpers below keep validation and encodings identical across
// implementations, so the conformance suite sees the same behaviour from
// each of them.

// CheckSID returns an ErrInvalidArgument error unless sid is prefix followed
// by 32 hexadecimal digits, the shape of Twilio SIDs.
func CheckSID(what, prefix, sid string) error {
	if len(sid) != 34 || !strings.HasPrefix(sid, prefix) {
		return fmt.Errorf("%s SID %q: want %s followed by 32 hex digits: %w", what, sid, prefix, ErrInvalidArgument)
	}
	for _, c := range sid[2:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return fmt.Errorf("%s SID %q: want %s followed by 32 hex digits: %w", what, sid, prefix, ErrInvalidArgument)
		}
	}
	return nil
}

// CheckJSON returns an ErrInvalidArgument error when raw is neither empty
// nor valid JSON in UTF-8. encoding/json accepts invalid UTF-8 inside
// strings; a store's text columns do not all do (see CheckText). Valid
// JSON holds no NUL byte.
func CheckJSON(what string, raw json.RawMessage) error {
	if len(raw) > 0 && !json.Valid(raw) {
		return fmt.Errorf("%s is not valid JSON: %w", what, ErrInvalidArgument)
	}
	if !utf8.Valid(raw) {
		return fmt.Errorf("%s is not valid UTF-8: %w", what, ErrInvalidArgument)
	}
	return nil
}

// TimeToMicros is how implementations store times: UTC microseconds since
// the Unix epoch. Finer precision is truncated. The zero time maps to 0.
func TimeToMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// MicrosToTime reverses TimeToMicros, in UTC; 0 maps to the zero time.
func MicrosToTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// Normalize returns t as the store returns it: UTC, microsecond precision.
func Normalize(t time.Time) time.Time { return MicrosToTime(TimeToMicros(t)) }

// PageSize applies DefaultPageSize and MaxPageSize to a requested size.
func PageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("page size %d is negative: %w", n, ErrInvalidArgument)
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}

// pageTokenVersion and the list name tag tokens, so a token of one
// list passed to another is rejected rather than silently misread.
const pageTokenVersion = "v1"

// EncodePageToken makes an opaque token for list after the row with the
// given position (an implementation's keyset cursor).
func EncodePageToken(list string, after int64) string {
	s := pageTokenVersion + ":" + list + ":" + strconv.FormatInt(after, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// DecodePageToken returns the position a token of list encodes; the empty
// token decodes to ok = false.
func DecodePageToken(list, token string) (after int64, ok bool, err error) {
	if token == "" {
		return 0, false, nil
	}
	bad := fmt.Errorf("page token %q is not one this list issued: %w", token, ErrInvalidArgument)
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, false, bad
	}
	rest, found := strings.CutPrefix(string(b), pageTokenVersion+":"+list+":")
	if !found {
		return 0, false, bad
	}
	after, err = strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return 0, false, bad
	}
	return after, true, nil
}

// The RunX functions below are the deferred writes of [Tx] run at once on
// tx, for stores that gain nothing from holding them back (SQLite, which
// has no round trips). The store must still fail the transaction when one
// of them fails (see [Tx]).

// RunAppendSteps runs AppendStepsLater at once.
func RunAppendSteps(ctx context.Context, tx Tx, steps []Step) error {
	for i := range steps {
		s, err := tx.AppendStep(ctx, steps[i])
		if err != nil {
			return err
		}
		steps[i] = s
	}
	return nil
}

// RunWithResult runs a deferred write that reports one value at once: it
// calls write and, when it succeeds, stores its result in out.
func RunWithResult[T any](out *T, write func() (T, error)) error {
	v, err := write()
	if err != nil {
		return err
	}
	*out = v
	return nil
}

// RunSettleLease runs SettleLeaseLater at once.
// It does not look after the commit: PendingAfter is Released.
func RunSettleLease(ctx context.Context, tx Tx, name, owner, conversationSID string, now time.Time, ttl time.Duration, settled *LeaseSettlement) error {
	r, err := tx.SettleLease(ctx, name, owner, conversationSID, now, ttl)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLeaseLost, err)
	}
	*settled = LeaseSettlement{Released: r, PendingAfter: r}
	return nil
}

// RunAcquireLease runs AcquireLeaseLater at once.
func RunAcquireLease(ctx context.Context, tx Tx, name, owner string, now time.Time, ttl time.Duration, lease *Lease) error {
	l, err := tx.AcquireLease(ctx, name, owner, now, ttl)
	var held *LeaseHeldError
	if errors.As(err, &held) {
		*lease = Lease{}
		return nil
	}
	if err != nil {
		return err
	}
	*lease = l
	return nil
}

// LaterOutsideTx gives a Store the deferred writes of [Tx] outside InTx,
// where each runs at once as a transaction of its own. A store embeds it
// with InTx set to its own InTx.
type LaterOutsideTx struct {
	InTx func(ctx context.Context, fn func(tx Tx) error) error
}

// CreateExecutionLater implements [Tx].
func (l LaterOutsideTx) CreateExecutionLater(ctx context.Context, e Execution, out *Execution) error {
	return l.InTx(ctx, func(tx Tx) error { return tx.CreateExecutionLater(ctx, e, out) })
}

// UpdateExecutionLater implements [Tx].
func (l LaterOutsideTx) UpdateExecutionLater(ctx context.Context, u ExecutionUpdate, out *Execution) error {
	return l.InTx(ctx, func(tx Tx) error { return tx.UpdateExecutionLater(ctx, u, out) })
}

// AppendStepsLater implements [Tx].
func (l LaterOutsideTx) AppendStepsLater(ctx context.Context, steps []Step) error {
	return l.InTx(ctx, func(tx Tx) error { return tx.AppendStepsLater(ctx, steps) })
}

// MarkEventDoneLater implements [Tx].
func (l LaterOutsideTx) MarkEventDoneLater(ctx context.Context, id int64, outcome json.RawMessage, doneTime time.Time) error {
	return l.InTx(ctx, func(tx Tx) error { return tx.MarkEventDoneLater(ctx, id, outcome, doneTime) })
}

// SettleLeaseLater implements [Tx].
func (l LaterOutsideTx) SettleLeaseLater(ctx context.Context, name, owner, conversationSID string, now time.Time, ttl time.Duration, settled *LeaseSettlement) error {
	return l.InTx(ctx, func(tx Tx) error {
		return tx.SettleLeaseLater(ctx, name, owner, conversationSID, now, ttl, settled)
	})
}

// ScheduleTimerLater implements [Tx].
func (l LaterOutsideTx) ScheduleTimerLater(ctx context.Context, t Timer) error {
	return l.InTx(ctx, func(tx Tx) error { return tx.ScheduleTimerLater(ctx, t) })
}

// CancelTimersLater implements [Tx].
func (l LaterOutsideTx) CancelTimersLater(ctx context.Context, executionSID, kind string) error {
	return l.InTx(ctx, func(tx Tx) error { return tx.CancelTimersLater(ctx, executionSID, kind) })
}

// AcquireLeaseLater implements [Tx].
func (l LaterOutsideTx) AcquireLeaseLater(ctx context.Context, name, owner string, now time.Time, ttl time.Duration, lease *Lease) error {
	return l.InTx(ctx, func(tx Tx) error { return tx.AcquireLeaseLater(ctx, name, owner, now, ttl, lease) })
}
