package participant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"connectrpc.com/connect"
	"github.com/twilio/twilio-go/client"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/services/participant/address"
	"github.com/convoflow/convoflow/services/participant/roster"
)

// Twilio error codes the service acts on (conversations-api.md §3.2).
const (
	codeNotFound            = 20404
	codeConversationMissing = 50350
	codeParticipantMissing  = 50432
	codeBindingExists       = 50416
	codeIdentityExists      = 50433
	codeConversationClosed  = 50377
	codeParticipantsLimit   = 50417
	codeNonChatLimit        = 50422
	codeGroupLimit          = 50436
)

// bindingHolderRE finds the conversation holding a binding in Twilio's 50416
// message, "A binding for this participant and proxy address already exists
// in Conversation CH…", the way applications that handle 50416 parse it.
var bindingHolderRE = regexp.MustCompile(`Conversation\s+(CH[0-9a-fA-F]{32})`)

// invalidError is a request rejected by the service's own checks, before any
// Twilio call.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// errNoRoster is returned by the agent RPCs when the service runs without a
// roster file.
var errNoRoster = errors.New("no support-agent roster is configured (start the service with --agents)")

// apiError is a failed Conversations API call: what the service was doing,
// how often it tried, and the last error twilio-go returned.
type apiError struct {
	op       string
	attempts int
	// retryAfter is the wait Twilio asked for on the last answer, if any.
	retryAfter time.Duration
	err        error
}

func (e *apiError) Error() string {
	if e.attempts > 1 {
		return fmt.Sprintf("%s (after %d attempts): %v", e.op, e.attempts, e.err)
	}
	return fmt.Sprintf("%s: %v", e.op, e.err)
}

func (e *apiError) Unwrap() error { return e.err }

// twilioCode returns the Twilio error code and HTTP status of err, if it is
// (or wraps) a Twilio API error.
func twilioCode(err error) (code, status int, ok bool) {
	return twilioclient.ErrorCode(err)
}

// bindingHolder returns the conversation that holds the binding when err is
// a Twilio 50416.
func bindingHolder(err error) (string, bool) {
	code, _, ok := twilioCode(err)
	if !ok || code != codeBindingExists {
		return "", false
	}
	var restErr *client.TwilioRestError
	if !errors.As(err, &restErr) {
		return "", false
	}
	m := bindingHolderRE.FindStringSubmatch(restErr.Message)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// toConnectError is the one place where the service's errors become connect
// errors. Errors the caller can act on keep their message; a Twilio error
// always carries a TwilioError detail with Twilio's code; anything
// unexpected is logged and reported as a bare internal error, so that no
// internal detail leaks over the wire.
func toConnectError(log *slog.Logger, err error) error {
	var cerr *connect.Error
	var inv *invalidError
	var addrErr *address.Error
	var api *apiError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cerr):
		return cerr
	case errors.As(err, &inv), errors.As(err, &addrErr):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, roster.ErrNoAgentAvailable):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, errNoRoster):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.As(err, &api):
		return apiToConnect(log, api)
	default:
		log.Error("internal error", "err", err)
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
}

// apiToConnect maps a failed Conversations API call. Without a Twilio answer
// (connection refused, timeout) the API is unavailable; with one, the Twilio
// code and HTTP status decide.
func apiToConnect(log *slog.Logger, api *apiError) error {
	code, status, ok := twilioCode(api.err)
	if !ok {
		log.Warn("Conversations API unreachable", "op", api.op, "attempts", api.attempts, "err", api.err)
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("%s: Conversations API unreachable (after %d attempts)", api.op, api.attempts))
	}
	var restErr *client.TwilioRestError
	detail := &participantv1.TwilioError{Code: int32(code), Status: int32(status)}
	if errors.As(api.err, &restErr) {
		detail.Message, detail.MoreInfo = restErr.Message, restErr.MoreInfo
	}
	if detail.MoreInfo == "" && code != 0 {
		detail.MoreInfo = fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code)
	}
	msg := fmt.Errorf("%s: Twilio error %d (HTTP %d): %s", api.op, code, status, detail.Message)
	if api.attempts > 1 {
		msg = fmt.Errorf("%s: Twilio error %d (HTTP %d) after %d attempts: %s", api.op, code, status, api.attempts, detail.Message)
	}
	details := []proto.Message{detail}

	var cc connect.Code
	switch {
	case code == codeBindingExists:
		cc = connect.CodeFailedPrecondition
		if holder, ok := bindingHolder(api.err); ok {
			details = append(details, &participantv1.BindingConflict{ConflictingConversationSid: holder})
		}
	case status == http.StatusNotFound, code == codeNotFound, code == codeConversationMissing, code == codeParticipantMissing:
		cc = connect.CodeNotFound
	case status == http.StatusTooManyRequests, code == twilioclient.CodeTooManyRequests:
		cc = connect.CodeResourceExhausted
	case status >= 500, status == 0:
		cc = connect.CodeUnavailable
	case code == codeIdentityExists:
		cc = connect.CodeAlreadyExists
	case code == codeConversationClosed, code == codeParticipantsLimit, code == codeNonChatLimit, code == codeGroupLimit:
		cc = connect.CodeFailedPrecondition
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		// The service's own credentials were refused: nothing the caller
		// can fix, so it is an internal error, logged for the operator.
		log.Error("Twilio refused the service's credentials", "op", api.op, "code", code, "status", status)
		cc = connect.CodeInternal
		msg = fmt.Errorf("%s: Twilio refused the service's credentials (error %d)", api.op, code)
	case status == http.StatusConflict:
		cc = connect.CodeAlreadyExists
	case status >= 400 && status < 500:
		cc = connect.CodeInvalidArgument
	default:
		cc = connect.CodeInternal
	}
	if api.retryAfter > 0 && (cc == connect.CodeResourceExhausted || cc == connect.CodeUnavailable) {
		// Twilio said when to come back; pass it on in the standard form.
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(api.retryAfter)})
	}
	cerr := connect.NewError(cc, msg)
	for _, d := range details {
		if ed, err := connect.NewErrorDetail(d); err == nil {
			cerr.AddDetail(ed)
		}
	}
	return cerr
}
