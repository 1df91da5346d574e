package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/convoflow/convoflow/services/flow/store"
)

func (q *queries) RecordSend(ctx context.Context, s store.Send) (store.Send, error) {
	if err := store.CheckNewSend(s); err != nil {
		return store.Send{}, err
	}
	created := q.stamp(s.CreateTime)
	for range maxRetries {
		// A taken key is DO NOTHING and a missing execution an empty
		// SELECT (FOR KEY SHARE as in CreateExecution): neither fails the
		// statement.
		tag, err := q.db.Exec(ctx, `INSERT INTO sends (key, execution_sid, result, create_time)
			SELECT $1, $2, $3, $4::timestamptz
			WHERE EXISTS (SELECT 1 FROM executions WHERE sid = $2 FOR KEY SHARE)
			ON CONFLICT (key) DO NOTHING`, s.Key, s.ExecutionSID, jsonArg(s.Result), created)
		if err != nil {
			return store.Send{}, sqlError(fmt.Sprintf("record send %q", s.Key), err)
		}
		if tag.RowsAffected() == 1 {
			s.Result = nilIfEmpty(s.Result)
			s.CreateTime = created
			return s, nil
		}
		var taken, execution bool
		if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sends WHERE key = $1),
				EXISTS (SELECT 1 FROM executions WHERE sid = $2)`, s.Key, s.ExecutionSID).Scan(&taken, &execution); err != nil {
			return store.Send{}, sqlError(fmt.Sprintf("record send %q", s.Key), err)
		}
		switch {
		case taken:
			return store.Send{}, fmt.Errorf("send %q: %w", s.Key, store.ErrAlreadyExists)
		case !execution:
			return store.Send{}, fmt.Errorf("execution %s: %w", s.ExecutionSID, store.ErrNotFound)
		}
		// The send in the way was deleted (with its execution) since: try
		// again.
	}
	return store.Send{}, errRetries(fmt.Sprintf("record send %q", s.Key))
}

func (q *queries) DeleteSends(ctx context.Context, keys []string) (int, error) {
	ok := keys[:0:0]
	for _, k := range keys {
		// Text PostgreSQL cannot hold is in no row.
		if textOK(k) {
			ok = append(ok, k)
		}
	}
	if len(ok) == 0 {
		return 0, nil
	}
	tag, err := q.db.Exec(ctx, `DELETE FROM sends WHERE key = ANY($1)`, ok)
	if err != nil {
		return 0, sqlError("delete sends", err)
	}
	return int(tag.RowsAffected()), nil
}

func (q *queries) GetSend(ctx context.Context, key string) (store.Send, error) {
	if !textOK(key) {
		return store.Send{}, fmt.Errorf("send %q: %w", key, store.ErrNotFound)
	}
	var s store.Send
	err := q.db.QueryRow(ctx, `SELECT key, execution_sid, result, create_time FROM sends WHERE key = $1`, key).
		Scan(&s.Key, &s.ExecutionSID, jsonCol{&s.Result}, timeCol{&s.CreateTime})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Send{}, fmt.Errorf("send %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return store.Send{}, sqlError(fmt.Sprintf("get send %q", key), err)
	}
	return s, nil
}
