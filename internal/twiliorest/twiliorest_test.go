package twiliorest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"error_without_details", twiliorest.NewErrorBody(404, 20404, "not found", nil),
			`{"code":20404,"message":"not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}`},
		{"error_with_details", twiliorest.NewErrorBody(409, 20409, "busy", map[string]any{"conflicting_execution_sid": "FN1"}),
			`{"code":20409,"message":"busy","more_info":"https://www.twilio.com/docs/errors/20409","status":409,"details":{"conflicting_execution_sid":"FN1"}}`},
		{"last_page_meta", twiliorest.ListMeta{PageSize: 50, FirstPageURL: "u0", URL: "u0", Key: "flows"},
			`{"page":0,"page_size":50,"first_page_url":"u0","previous_page_url":null,"url":"u0","next_page_url":null,"key":"flows"}`},
		{"urls_unescaped", twiliorest.ListMeta{URL: "https://x.test/v2/Flows?Page=0&PageSize=1"},
			`{"page":0,"page_size":0,"first_page_url":"","previous_page_url":null,"url":"https://x.test/v2/Flows?Page=0&PageSize=1","next_page_url":null,"key":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			twiliorest.WriteJSON(w, http.StatusTeapot, tt.v)
			if w.Code != http.StatusTeapot || w.Body.String() != tt.want {
				t.Errorf("WriteJSON = %d %s, want %d %s", w.Code, w.Body, http.StatusTeapot, tt.want)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	w := httptest.NewRecorder()
	twiliorest.WriteJSON(w, http.StatusOK, make(chan int))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("unencodable value: status %d, want 500", w.Code)
	}
}
