// Package twiliorest holds the wire shapes every Twilio REST API shares,
// for the servers that answer as Twilio does (the Conversations fake,
// Studio's REST API on FlowService): the error body, the meta object of
// list responses, how a JSON answer is written, and how its times and
// unset strings are rendered.
package twiliorest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Time formats t as Twilio renders dates in JSON (ISO 8601 in UTC, no
// fractional seconds); the zero time is null.
func Time(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format("2006-01-02T15:04:05Z")
	return &s
}

// Null renders "" as null, as Twilio renders an unset string.
func Null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ErrorBody is the JSON shape of a Twilio error, the one every Twilio SDK
// decodes (twilio-go's client.TwilioRestError). Details is left out when
// nil, as Twilio leaves it out for most codes.
type ErrorBody struct {
	Code     int            `json:"code"`
	Message  string         `json:"message"`
	MoreInfo string         `json:"more_info"`
	Status   int            `json:"status"`
	Details  map[string]any `json:"details,omitempty"`
}

// NewErrorBody is the body of error code with HTTP status; more_info is
// the code's page in Twilio's error dictionary.
func NewErrorBody(status, code int, message string, details map[string]any) ErrorBody {
	return ErrorBody{Code: code, Message: message, MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), Status: status, Details: details}
}

// ListMeta is the meta object of every list response. The page URLs are
// absolute; null previous and next mean the first and the last page.
type ListMeta struct {
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	FirstPageURL    string  `json:"first_page_url"`
	PreviousPageURL *string `json:"previous_page_url"`
	URL             string  `json:"url"`
	NextPageURL     *string `json:"next_page_url"`
	Key             string  `json:"key"`
}

// WriteJSON writes v with status, HTML characters unescaped. Encoding fails only for values a
// server never answers with (channels, functions), and then the client
// gets a plain 500; a failed write means the client has gone away.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	// Twilio writes URLs with a plain "&", not encoding/json's "\u0026".
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
