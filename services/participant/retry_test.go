package participant_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	participantv1 "github.com/convoflow/convoflow/gen/convoflow/participant/v1"
	"github.com/convoflow/convoflow/internal/twilioclient"
	"github.com/convoflow/convoflow/services/participant"
)

// scriptedAPI answers the participant list with an empty page and each
// create with the next scripted answer (the last one repeats). It stands in
// for Twilio where the fake cannot: Retry-After headers and non-JSON error
// bodies.
type scriptedAPI struct {
	mu      sync.Mutex
	answers []scriptedAnswer
	// listAnswer, when set, answers the participant list instead.
	listAnswer *scriptedAnswer
	creates    int
	lists      int
}

type scriptedAnswer struct {
	status     int
	retryAfter string
	body       string
}

func (s *scriptedAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var a scriptedAnswer
	switch r.Method {
	case http.MethodGet:
		s.lists++
		a = scriptedAnswer{status: 200, body: `{"participants":[],"meta":{"page":0,"page_size":100,"key":"participants","next_page_url":null}}`}
		if s.listAnswer != nil {
			a = *s.listAnswer
		}
	case http.MethodPost:
		a = s.answers[min(s.creates, len(s.answers)-1)]
		s.creates++
	}
	s.mu.Unlock()
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func (s *scriptedAPI) counts() (lists, creates int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists, s.creates
}

const (
	tooMany     = `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`
	unavailable = `{"code":20503,"message":"Service Unavailable","more_info":"https://www.twilio.com/docs/errors/20503","status":503}`
	created     = `{"sid":"MB00000000000000000000000000000001","conversation_sid":"CH00000000000000000000000000000001","messaging_binding":{"type":"sms","address":"+15558675310","proxy_address":"+15017122661"},"attributes":"{}"}`
	// heldHere is the conflict a create meets when its binding is already
	// in the conversation, and listed the list that shows it.
	heldHere = `{"code":50416,"message":"A binding for this participant and proxy address already exists in Conversation CH00000000000000000000000000000001","more_info":"https://www.twilio.com/docs/errors/50416","status":409}`
	listed   = `{"participants":[` + created + `],"meta":{"page":0,"page_size":100,"key":"participants","next_page_url":null}}`
)

func scriptedService(t *testing.T, api *scriptedAPI) participantHandler {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	rc, err := twilioclient.New(twilioclient.Options{AccountSID: "AC00000000000000000000000000000000", AuthToken: "token", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	h, err := participant.New(participant.Deps{
		Twilio: rc, DefaultProxyAddress: twilioNumber, Logger: quietLogger(),
		Retry: participant.RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxRetryAfter: 3 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type participantHandler interface {
	AddParticipant(context.Context, *participantv1.AddParticipantRequest) (*participantv1.AddParticipantResponse, error)
}

func TestRetry_retryAfter(t *testing.T) {
	t.Parallel()
	const conv = "CH00000000000000000000000000000001"
	tests := []struct {
		name        string
		answers     []scriptedAnswer
		list        *scriptedAnswer
		timeout     time.Duration
		code        connect.Code // 0: success
		creates     int
		minDuration time.Duration
		maxDuration time.Duration
		retryInfo   time.Duration // expected RetryInfo delay, 0 = none
		twilioCode  int32
		present     bool // already_present expected
	}{
		{name: "honours_retry_after", answers: []scriptedAnswer{{429, "1", tooMany}, {201, "", created}},
			creates: 2, minDuration: time.Second, maxDuration: 3 * time.Second},
		{name: "retry_after_too_long_returns_at_once", answers: []scriptedAnswer{{429, "120", tooMany}},
			code: connect.CodeResourceExhausted, creates: 1, maxDuration: time.Second, retryInfo: 120 * time.Second, twilioCode: 20429},
		{name: "wait_beyond_deadline_reports_twilio", answers: []scriptedAnswer{{429, "2", tooMany}},
			timeout: 500 * time.Millisecond, code: connect.CodeResourceExhausted, creates: 1, maxDuration: 400 * time.Millisecond, retryInfo: 2 * time.Second, twilioCode: 20429},
		{name: "backoff_without_retry_after", answers: []scriptedAnswer{{429, "", tooMany}},
			code: connect.CodeResourceExhausted, creates: 4, maxDuration: time.Second, twilioCode: 20429},
		{name: "proxy_html_502_on_list", answers: []scriptedAnswer{{409, "", heldHere}},
			list: &scriptedAnswer{502, "", "<html>Bad Gateway</html>"}, code: connect.CodeUnavailable, creates: 1, maxDuration: time.Second},
		// The first create landed but its answer was lost; the repeat meets
		// the conflict and the list finds the participant.
		{name: "lost_answer_then_conflict", answers: []scriptedAnswer{{503, "", unavailable}, {409, "", heldHere}},
			list: &scriptedAnswer{200, "", listed}, creates: 2, present: true, maxDuration: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := &scriptedAPI{answers: tt.answers, listAnswer: tt.list}
			h := scriptedService(t, api)
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			start := time.Now()
			res, err := h.AddParticipant(ctx, smsRequest(conv, "+15558675310", ""))
			took := time.Since(start)
			if tt.code == 0 && err != nil {
				t.Fatal(err)
			}
			if tt.code == 0 && (res.GetAlreadyPresent() != tt.present || res.GetParticipant().GetSid() != "MB00000000000000000000000000000001") {
				t.Errorf("response = %v, want MB…01 with already_present %v", res, tt.present)
			}
			if tt.code != 0 {
				var cerr *connect.Error
				if !errors.As(err, &cerr) || cerr.Code() != tt.code {
					t.Fatalf("err = %v, want %v", err, tt.code)
				}
				var gotRetry time.Duration
				var gotTwilio *participantv1.TwilioError
				for _, d := range cerr.Details() {
					m, _ := d.Value()
					switch m := m.(type) {
					case *errdetails.RetryInfo:
						gotRetry = m.GetRetryDelay().AsDuration()
					case *participantv1.TwilioError:
						gotTwilio = m
					}
				}
				if gotRetry != tt.retryInfo {
					t.Errorf("RetryInfo = %v, want %v", gotRetry, tt.retryInfo)
				}
				if gotTwilio == nil || gotTwilio.GetCode() != tt.twilioCode {
					t.Errorf("TwilioError = %v, want code %d", gotTwilio, tt.twilioCode)
				}
			}
			if _, creates := api.counts(); creates != tt.creates {
				t.Errorf("creates = %d, want %d", creates, tt.creates)
			}
			if took < tt.minDuration || took > tt.maxDuration {
				t.Errorf("took %v, want between %v and %v", took, tt.minDuration, tt.maxDuration)
			}
		})
	}
}

// An example of the error a caller gets when the binding is held elsewhere,
// as it would log it.
func TestBindingConflictMessage(t *testing.T) {
	t.Parallel()
	holder := "CH" + strings.Repeat("a", 32)
	api := &scriptedAPI{answers: []scriptedAnswer{{409, "", fmt.Sprintf(
		`{"code":50416,"message":"A binding for this participant and proxy address already exists in Conversation %s","more_info":"https://www.twilio.com/docs/errors/50416","status":409}`, holder)}}}
	h := scriptedService(t, api)
	_, err := h.AddParticipant(t.Context(), smsRequest("CH"+strings.Repeat("b", 32), "+15558675310", ""))
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeFailedPrecondition {
		t.Fatalf("err = %v, want FailedPrecondition", err)
	}
	if !strings.Contains(cerr.Message(), "50416") || !strings.Contains(cerr.Message(), holder) {
		t.Errorf("message %q should name the code and the holding conversation", cerr.Message())
	}
	if _, creates := api.counts(); creates != 1 {
		t.Errorf("a 409 was retried: %d creates", creates)
	}
}
