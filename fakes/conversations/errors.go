package conversations

import (
	"fmt"
	"net/http"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

// apiError is a Twilio REST error. Handlers return it; [writeError] turns it
// into the body every Twilio SDK decodes: {code, message, more_info, status}.
type apiError struct {
	Status  int
	Code    int
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("twilio error %d (HTTP %d): %s", e.Code, e.Status, e.Message)
}

func newError(status, code int, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// writeError writes e as Twilio does; it is the only place error bodies are made.
func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, twiliorest.NewErrorBody(e.Status, e.Code, e.Message, nil))
}

// writeJSON writes v with status (see twiliorest.WriteJSON).
func writeJSON(w http.ResponseWriter, status int, v any) { twiliorest.WriteJSON(w, status, v) }

// Codes the fake answers with. Messages are Twilio's where Twilio documents
// them (see the README for the project decisions where it does not).
const (
	codeMissingParam      = 20001
	codeAuthenticate      = 20003
	codeNotFound          = 20404
	codeForbidden         = 20403
	codeTooManyRequests   = 20429
	codeUniqueNameTaken   = 50353
	codeWebhookLimit      = 50361
	codeClosed            = 50377
	codeInvalidAddress    = 50407
	codeInvalidProxy      = 50408
	codeEmptyProxy        = 50412
	codeAddressMismatch   = 50414
	codeBindingExists     = 50416
	codeParticipantsLimit = 50417
	codeNonChatLimit      = 50422
	codeCWPTooMany        = 50426
	codeCWPBindingInUse   = 50425
	codeIdentityExists    = 50433
)

func errNotFound(path string) *apiError {
	return newError(http.StatusNotFound, codeNotFound, "The requested resource %s was not found", path)
}

func errMissing(name string) *apiError {
	return newError(http.StatusBadRequest, codeMissingParam, "Missing required parameter %s in the post body", name)
}

func errInvalid(name, why string) *apiError {
	return newError(http.StatusBadRequest, codeMissingParam, "Invalid parameter %s: %s", name, why)
}

func errClosed() *apiError {
	return newError(http.StatusBadRequest, codeClosed, "Can't update conversation as it's in final closed state")
}

func errBindingExists(conversationSid string) *apiError {
	return newError(http.StatusConflict, codeBindingExists,
		"A binding for this participant and proxy address already exists in Conversation %s", conversationSid)
}
