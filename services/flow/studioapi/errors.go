package studioapi

import (
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/internal/twiliorest"
)

// Twilio error codes the API answers with (studio.md §8 and Twilio's error
// dictionary).
const (
	codeInvalidParameter   = 20001 // a missing or malformed parameter
	codeAuthenticate       = 20003 // wrong or missing credentials
	codeNotFound           = 20404 // no such resource
	codeConflict           = 20409 // an active execution blocks a new one, or it has already ended
	codeTooManyRequests    = 20429
	codeInternal           = 20500
	codeUnavailable        = 20503
	codeInvalidRevision    = 81021 // a {Revision} that is neither a number nor an alias
	codeInvalidDefinition  = 81022 // the definition failed validation
	messageInvalidFlowDefn = "Flow definition validation failed"
)

// restError is an error as Twilio renders it: the HTTP status, the Twilio
// code, a message and, for some codes, details.
type restError struct {
	Status  int
	Code    int
	Message string
	Details map[string]any
}

func (e *restError) Error() string {
	return fmt.Sprintf("twilio error %d (HTTP %d): %s", e.Code, e.Status, e.Message)
}

var errAuthenticate = &restError{Status: http.StatusUnauthorized, Code: codeAuthenticate, Message: "Authenticate"}

// invalidParam is Twilio's 400 / 20001 for a parameter the API refuses
// before calling the service.
func invalidParam(format string, args ...any) *restError {
	return &restError{Status: http.StatusBadRequest, Code: codeInvalidParameter, Message: fmt.Sprintf(format, args...)}
}

// notFound is Twilio's 404 / 20404, with Twilio's wording.
func notFound(path string) *restError {
	return &restError{Status: http.StatusNotFound, Code: codeNotFound, Message: "The requested resource " + path + " was not found"}
}

// toRESTError is the one place where errors become Twilio errors: the
// API's own parameter errors pass through, FlowService's connect errors are
// mapped by code (and their details turned into Twilio's), and anything
// else is logged and answered as a bare 500, so internals never reach a
// client.
func (a *API) toRESTError(r *http.Request, err error) *restError {
	var rerr *restError
	if errors.As(err, &rerr) {
		return rerr
	}
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		a.log.ErrorContext(r.Context(), "internal error", "path", r.URL.Path, "err", err)
		return &restError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "Internal server error"}
	}
	switch cerr.Code() {
	case connect.CodeInvalidArgument:
		if v := detail[*flowv1.ValidationErrors](cerr); v != nil {
			return &restError{Status: http.StatusBadRequest, Code: codeInvalidDefinition, Message: messageInvalidFlowDefn,
				Details: map[string]any{"errors": problemsJSON(v.GetProblems())}}
		}
		return &restError{Status: http.StatusBadRequest, Code: codeInvalidParameter, Message: cerr.Message()}
	case connect.CodeNotFound:
		return notFound(r.URL.Path)
	case connect.CodeAlreadyExists:
		if c := detail[*flowv1.ExecutionConflict](cerr); c != nil {
			sid := c.GetConflictingExecutionSid()
			return &restError{Status: http.StatusConflict, Code: codeConflict,
				Message: "Execution " + sid + " is already active for this contact. End the active Execution before creating a new one",
				Details: map[string]any{"conflicting_execution_sid": sid}}
		}
		return &restError{Status: http.StatusConflict, Code: codeConflict, Message: cerr.Message()}
	case connect.CodeFailedPrecondition, connect.CodeAborted:
		return &restError{Status: http.StatusConflict, Code: codeConflict, Message: cerr.Message()}
	case connect.CodeUnauthenticated:
		return errAuthenticate
	case connect.CodeResourceExhausted:
		return &restError{Status: http.StatusTooManyRequests, Code: codeTooManyRequests, Message: cerr.Message()}
	case connect.CodeUnavailable, connect.CodeCanceled, connect.CodeDeadlineExceeded:
		return &restError{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "Service unavailable"}
	default:
		// The service already logged the cause and says only "internal
		// error".
		return &restError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "Internal server error"}
	}
}

// detail returns cerr's first detail of type T, nil when it has none.
func detail[T comparable](cerr *connect.Error) T {
	var zero T
	for _, d := range cerr.Details() {
		m, err := d.Value()
		if err != nil {
			continue
		}
		if v, ok := m.(T); ok {
			return v
		}
	}
	return zero
}

// writeError writes err as Twilio does; it is the only place error bodies
// are made.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := a.toRESTError(r, err)
	twiliorest.WriteJSON(w, e.Status, twiliorest.NewErrorBody(e.Status, e.Code, e.Message, e.Details))
}
