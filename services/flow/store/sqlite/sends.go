package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/convoflow/convoflow/services/flow/store"
)

func (q *queries) RecordSend(ctx context.Context, s store.Send) (store.Send, error) {
	if err := store.CheckNewSend(s); err != nil {
		return store.Send{}, err
	}
	created := q.stamp(s.CreateTime)
	_, err := q.db.ExecContext(ctx, `INSERT INTO sends (key, execution_sid, result, create_time) VALUES (?, ?, ?, ?)`,
		s.Key, s.ExecutionSID, transientArg(s.Result), created)
	switch {
	case isForeignKey(err):
		return store.Send{}, fmt.Errorf("execution %s: %w", s.ExecutionSID, store.ErrNotFound)
	case isUnique(err):
		return store.Send{}, fmt.Errorf("send %q: %w", s.Key, store.ErrAlreadyExists)
	case err != nil:
		return store.Send{}, fmt.Errorf("record send %q: %w", s.Key, err)
	}
	s.Result = nilIfEmpty(s.Result)
	s.CreateTime = store.MicrosToTime(created)
	return s, nil
}

func (q *queries) DeleteSends(ctx context.Context, keys []string) (int, error) {
	n := 0
	for _, k := range keys {
		res, err := q.db.ExecContext(ctx, `DELETE FROM sends WHERE key = ?`, k)
		if err != nil {
			return n, fmt.Errorf("delete send %q: %w", k, err)
		}
		d, err := res.RowsAffected()
		if err != nil {
			return n, fmt.Errorf("delete send %q: %w", k, err)
		}
		n += int(d)
	}
	return n, nil
}

func (q *queries) GetSend(ctx context.Context, key string) (store.Send, error) {
	var s store.Send
	err := q.db.QueryRowContext(ctx, `SELECT key, execution_sid, result, create_time FROM sends WHERE key = ?`, key).
		Scan(&s.Key, &s.ExecutionSID, jsonCol{&s.Result}, timeCol{&s.CreateTime})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Send{}, fmt.Errorf("send %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.Send{}, fmt.Errorf("get send %q: %w", key, err)
	}
	return s, nil
}
