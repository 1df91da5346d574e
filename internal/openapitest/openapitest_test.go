package openapitest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/internal/openapitest"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	spec := openapitest.Load(t, "specs/twilio_studio_v2.json")
	const sid = "FW0123456789abcdef0123456789abcdef"
	validate := `{"valid":true}`
	tests := []struct {
		name    string
		method  string
		path    string
		status  int
		body    string
		wantErr string // "" means valid
		wantOp  string
	}{
		{"success", "POST", "/v2/Flows/Validate", 200, validate, "", "UpdateFlowValidate"},
		{"unexpected_field", "POST", "/v2/Flows/Validate", 200, `{"valid":true,"extra":1}`, "unexpected field extra", "UpdateFlowValidate"},
		{"missing_field", "GET", "/v2/Flows/" + sid + "/TestUsers", 200, `{"sid":"` + sid + `","url":"https://x.test/v2"}`, "missing field test_users", "FetchTestUser"},
		{"wrong_type", "POST", "/v2/Flows/Validate", 200, `{"valid":"yes"}`, "does not match the spec", "UpdateFlowValidate"},
		{"undocumented_status", "POST", "/v2/Flows/Validate", 201, validate, "does not match the spec", "UpdateFlowValidate"},
		{"delete", "DELETE", "/v2/Flows/" + sid, 204, "", "", "DeleteFlow"},
		{"delete_with_body", "DELETE", "/v2/Flows/" + sid, 204, "{}", "204 with a body", "DeleteFlow"},
		{"twilio_error", "GET", "/v2/Flows/" + sid, 404, `{"code":20404,"message":"not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}`, "", "FetchFlow"},
		{"error_with_details", "POST", "/v2/Flows", 400, `{"code":81022,"message":"bad","more_info":"https://www.twilio.com/docs/errors/81022","status":400,"details":{"errors":[]}}`, "", "CreateFlow"},
		{"error_without_more_info", "GET", "/v2/Flows/" + sid, 404, `{"code":20404,"message":"not found","status":404}`, "not a Twilio error", "FetchFlow"},
		{"error_status_mismatch", "GET", "/v2/Flows/" + sid, 404, `{"code":20404,"message":"x","more_info":"https://www.twilio.com/docs/errors/20404","status":400}`, "says status 400", "FetchFlow"},
		{"plain_text_error", "GET", "/v2/Flows/" + sid, 404, "404 page not found", "not JSON", "FetchFlow"},
		{"unknown_path", "GET", "/v2/Nope", 200, "{}", "not an operation", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The host does not matter: answers are matched by path.
			req := httptest.NewRequest(tt.method, "http://127.0.0.1:8081"+tt.path, nil)
			op, err := spec.Check(req, tt.status, http.Header{"Content-Type": {"application/json"}}, []byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Check: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Check = %v, want an error containing %q", err, tt.wantErr)
			}
			if op != tt.wantOp {
				t.Errorf("operation = %q, want %q", op, tt.wantOp)
			}
		})
	}
}
