package flow

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
)

func TestToConnectError(t *testing.T) {
	t.Parallel()
	const sid = "FN0123456789abcdef0123456789abcdef"
	tests := []struct {
		name    string
		err     error
		code    connect.Code
		message string
		details int
	}{
		{"nil", nil, 0, "", 0},
		{"not_found", fmt.Errorf("execution %s: %w", sid, store.ErrNotFound), connect.CodeNotFound, "execution " + sid + ": not found", 0},
		{"validation", &engine.ValidationError{Problems: []engine.Problem{{PropertyPath: "#/states", Message: "bad", Code: 81022}}}, connect.CodeInvalidArgument, "", 1},
		{"unparsable", fmt.Errorf("parse: %w", engine.ErrInvalidDefinition), connect.CodeInvalidArgument, "parse: invalid flow definition", 1},
		{"active_execution", fmt.Errorf("create: %w", &store.ActiveExecutionError{FlowSID: "FW1", ExecutionSID: sid}), connect.CodeAlreadyExists, "", 1},
		{"already_ended", fmt.Errorf("end %s: %w", sid, runner.ErrAlreadyEnded), connect.CodeFailedPrecondition, "end " + sid + ": execution has already ended", 0},
		{"bad_request", badRequest("page_size must not be negative"), connect.CodeInvalidArgument, "page_size must not be negative", 0},
		{"store_invalid", fmt.Errorf("token: %w", store.ErrInvalidArgument), connect.CodeInvalidArgument, "token: invalid argument", 0},
		{"conflict", fmt.Errorf("update: %w", store.ErrConflict), connect.CodeAborted, "update: conflict", 0},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), connect.CodeCanceled, "x: context canceled", 0},
		{"deadline", context.DeadlineExceeded, connect.CodeDeadlineExceeded, "context deadline exceeded", 0},
		{"connect_error_kept", connect.NewError(connect.CodeUnavailable, errors.New("later")), connect.CodeUnavailable, "later", 0},
		// Anything else is Internal, and its text (paths, SQL) stays in the log.
		{"internal", errors.New("sqlite: disk I/O error at /var/lib/flow.db"), connect.CodeInternal, "internal error", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := toConnectError(t.Context(), testLogger(t), tt.err)
			if tt.err == nil {
				if got != nil {
					t.Fatalf("toConnectError(nil) = %v", got)
				}
				return
			}
			var cerr *connect.Error
			if !errors.As(got, &cerr) {
				t.Fatalf("%v is not a *connect.Error", got)
			}
			if cerr.Code() != tt.code {
				t.Errorf("code %v, want %v", cerr.Code(), tt.code)
			}
			if tt.message != "" && cerr.Message() != tt.message {
				t.Errorf("message %q, want %q", cerr.Message(), tt.message)
			}
			if len(cerr.Details()) != tt.details {
				t.Errorf("%d details, want %d", len(cerr.Details()), tt.details)
			}
			for _, d := range cerr.Details() {
				v, err := d.Value()
				if err != nil {
					t.Fatal(err)
				}
				if c, ok := v.(*flowv1.ExecutionConflict); ok && c.GetConflictingExecutionSid() != sid {
					t.Errorf("conflict detail %v, want %s", c, sid)
				}
			}
		})
	}
}
