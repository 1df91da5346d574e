package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/runner"
	"github.com/convoflow/convoflow/services/flow/store"
)

// requestError is a problem with the request itself (a missing field, a bad
// enum value), found by the handler before any domain code runs.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

// badRequest makes a requestError; toConnectError maps it to
// InvalidArgument.
func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// toConnectError is the one place where domain errors become connect
// errors. Codes and details are part of the API (see the proto's package
// comment); anything unexpected is logged with its details and answered as
// a bare Internal, so that storage paths or SQL never reach a client.
func toConnectError(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var (
		cerr     *connect.Error
		reqErr   *requestError
		valErr   *engine.ValidationError
		activeEx *store.ActiveExecutionError
	)
	switch {
	case errors.As(err, &cerr):
		return cerr
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.As(err, &reqErr):
		return connect.NewError(connect.CodeInvalidArgument, reqErr)
	case errors.As(err, &valErr):
		return withDetail(connect.NewError(connect.CodeInvalidArgument, errors.New(valErr.Error())),
			validationDetail(valErr.Problems), log)
	case errors.Is(err, engine.ErrInvalidDefinition):
		// A definition that does not even parse as a Studio flow: one
		// problem about the whole document.
		return withDetail(connect.NewError(connect.CodeInvalidArgument, err),
			validationDetail([]engine.Problem{{PropertyPath: "#", Message: err.Error(), Code: engine.CodeInvalidDefinition}}), log)
	case errors.As(err, &activeEx):
		return withDetail(connect.NewError(connect.CodeAlreadyExists, activeEx),
			&flowv1.ExecutionConflict{ConflictingExecutionSid: activeEx.ExecutionSID}, log)
	case errors.Is(err, runner.ErrAlreadyEnded):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, store.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, store.ErrInvalidArgument):
		// The store refuses malformed SIDs and page tokens the handler
		// passes through unchanged: the caller's mistake.
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, store.ErrConflict):
		// A concurrent writer won (UpdateFlow's optimistic revision check
		// after its retries): the client may retry the whole call.
		return connect.NewError(connect.CodeAborted, err)
	default:
		log.ErrorContext(ctx, "internal error", "err", err)
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
}

// validationDetail turns engine problems into the ValidationErrors detail.
func validationDetail(problems []engine.Problem) *flowv1.ValidationErrors {
	return &flowv1.ValidationErrors{Problems: problemsToProto(problems)}
}

// withDetail attaches msg to cerr. Building a detail only fails for a
// message type missing from the registry, a programming error that is
// logged rather than hiding the error itself.
func withDetail(cerr *connect.Error, msg proto.Message, log *slog.Logger) *connect.Error {
	d, err := connect.NewErrorDetail(msg)
	if err != nil {
		log.Error("building error detail", "err", err)
		return cerr
	}
	cerr.AddDetail(d)
	return cerr
}
