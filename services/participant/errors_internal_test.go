package participant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/twilio/twilio-go/client"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/services/participant/address"
	"github.com/convoflow/convoflow/services/participant/roster"
)

// TestToConnectError pins the one mapping from the service's and Twilio's
// errors to connect codes and details.
func TestToConnectError(t *testing.T) {
	t.Parallel()
	twilioErr := func(status, code int, msg string) error {
		return &apiError{op: "op", attempts: 1, err: &client.TwilioRestError{Status: status, Code: code, Message: msg}}
	}
	holder := "CH" + strings.Repeat("c", 32)
	tests := []struct {
		name       string
		err        error
		code       connect.Code
		twilioCode int32 // -1: no TwilioError detail
		conflict   string
		retryInfo  time.Duration
		// hidden is a string that must not reach the caller.
		hidden string
	}{
		{name: "invalid", err: invalidf("bad"), code: connect.CodeInvalidArgument, twilioCode: -1},
		{name: "address", err: &address.Error{Address: "x", Reason: "y"}, code: connect.CodeInvalidArgument, twilioCode: -1},
		{name: "no_agent", err: fmt.Errorf("%w: all busy", roster.ErrNoAgentAvailable), code: connect.CodeResourceExhausted, twilioCode: -1},
		{name: "no_roster", err: errNoRoster, code: connect.CodeFailedPrecondition, twilioCode: -1},
		{name: "canceled", err: context.Canceled, code: connect.CodeCanceled, twilioCode: -1},
		{name: "deadline", err: fmt.Errorf("x: %w", context.DeadlineExceeded), code: connect.CodeDeadlineExceeded, twilioCode: -1},
		{name: "binding_exists", err: twilioErr(409, 50416, "A binding for this participant and proxy address already exists in Conversation "+holder),
			code: connect.CodeFailedPrecondition, twilioCode: 50416, conflict: holder},
		{name: "binding_exists_unparsable", err: twilioErr(409, 50416, "binding exists"), code: connect.CodeFailedPrecondition, twilioCode: 50416},
		{name: "not_found", err: twilioErr(404, 20404, "not found"), code: connect.CodeNotFound, twilioCode: 20404},
		{name: "conversation_not_found", err: twilioErr(404, 50350, "Conversation not found"), code: connect.CodeNotFound, twilioCode: 50350},
		{name: "too_many", err: &apiError{op: "op", attempts: 4, retryAfter: 30 * time.Second, err: &client.TwilioRestError{Status: 429, Code: 20429}},
			code: connect.CodeResourceExhausted, twilioCode: 20429, retryInfo: 30 * time.Second},
		{name: "server_error", err: twilioErr(500, 20500, "oops"), code: connect.CodeUnavailable, twilioCode: 20500},
		{name: "proxy_502", err: twilioErr(502, 0, "502 Bad Gateway"), code: connect.CodeUnavailable, twilioCode: 0},
		{name: "identity_exists", err: twilioErr(409, 50433, "Participant already exists"), code: connect.CodeAlreadyExists, twilioCode: 50433},
		{name: "closed", err: twilioErr(400, 50377, "closed"), code: connect.CodeFailedPrecondition, twilioCode: 50377},
		{name: "limit", err: twilioErr(400, 50422, "limit"), code: connect.CodeFailedPrecondition, twilioCode: 50422},
		{name: "credentials", err: twilioErr(401, 20003, "Authenticate"), code: connect.CodeInternal, twilioCode: 20003},
		{name: "other_conflict", err: twilioErr(409, 50353, "taken"), code: connect.CodeAlreadyExists, twilioCode: 50353},
		{name: "bad_request", err: twilioErr(400, 50407, "Invalid messaging binding address"), code: connect.CodeInvalidArgument, twilioCode: 50407},
		{name: "unreachable", err: &apiError{op: "op", attempts: 4, err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}},
			code: connect.CodeUnavailable, twilioCode: -1},
		{name: "unexpected", err: errors.New("secret internals"), code: connect.CodeInternal, twilioCode: -1, hidden: "secret"},
	}
	log := slog.New(slog.DiscardHandler)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cerr *connect.Error
			if !errors.As(toConnectError(log, tt.err), &cerr) {
				t.Fatal("not a connect error")
			}
			if cerr.Code() != tt.code {
				t.Fatalf("code = %v, want %v (%s)", cerr.Code(), tt.code, cerr.Message())
			}
			if tt.hidden != "" && strings.Contains(cerr.Message(), tt.hidden) {
				t.Fatalf("message %q leaks %q", cerr.Message(), tt.hidden)
			}
			twilioCode, conflict, retry := int32(-1), "", time.Duration(0)
			for _, d := range cerr.Details() {
				m, err := d.Value()
				if err != nil {
					t.Fatal(err)
				}
				switch m := m.(type) {
				case *participantv1.TwilioError:
					twilioCode = m.GetCode()
					if m.GetStatus() == 0 {
						t.Errorf("TwilioError without status: %v", m)
					}
				case *participantv1.BindingConflict:
					conflict = m.GetConflictingConversationSid()
				case *errdetails.RetryInfo:
					retry = m.GetRetryDelay().AsDuration()
				}
			}
			if twilioCode != tt.twilioCode || conflict != tt.conflict || retry != tt.retryInfo {
				t.Fatalf("details: twilio %d, conflict %q, retry %v; want %d, %q, %v", twilioCode, conflict, retry, tt.twilioCode, tt.conflict, tt.retryInfo)
			}
		})
	}
}
