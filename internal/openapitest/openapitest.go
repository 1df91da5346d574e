// Package openapitest checks HTTP answers against one of Twilio's OpenAPI
// specs in the shared folder (see internal/shared): a success must be a
// response the operation documents, with exactly the schema's fields; an
// error must be Twilio's error body, which the specs do not declare.
// Tests of the Conversations fake and of Studio's REST API use it, the
// latter as an http.RoundTripper under twilio-go so that every answer the
// SDK reads is checked.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/convoflow/convoflow/internal/shared"
)

// Spec is a loaded spec and the operations checked against it.
type Spec struct {
	Doc    *openapi3.T
	router routers.Router
	server *url.URL

	mu      sync.Mutex
	covered map[string]bool
}

// Load reads rel (for example "specs/twilio_studio_v2.json") from the
// shared folder; the test is skipped, or fails, as shared.Path says when
// it is missing.
func Load(tb testing.TB, rel string) *Spec {
	tb.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(shared.Path(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	if len(doc.Servers) == 0 {
		tb.Fatalf("%s names no server", rel)
	}
	server, err := url.Parse(doc.Servers[0].URL)
	if err != nil {
		tb.Fatal(err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return &Spec{Doc: doc, router: router, server: server, covered: map[string]bool{}}
}

// errorSchema is Twilio's error body, {code, message, more_info, status}
// and optional details, as every Twilio SDK decodes it.
var errorSchema = openapi3.NewObjectSchema().
	WithProperty("code", openapi3.NewIntegerSchema()).
	WithProperty("message", openapi3.NewStringSchema().WithMinLength(1)).
	WithProperty("more_info", openapi3.NewStringSchema().WithFormat("uri")).
	WithProperty("status", openapi3.NewIntegerSchema().WithMin(400).WithMax(599)).
	WithProperty("details", openapi3.NewObjectSchema()).
	WithoutAdditionalProperties()

func init() {
	errorSchema.Required = []string{"code", "message", "more_info", "status"}
}

// Check validates one answer to req (whose URL may point anywhere: the
// path and query are matched against the spec's operations). It returns
// the operation's ID.
func (s *Spec) Check(req *http.Request, status int, header http.Header, body []byte) (string, error) {
	u := *req.URL
	u.Scheme, u.Host = s.server.Scheme, s.server.Host
	routed := req.Clone(context.Background())
	routed.URL = &u
	route, params, err := s.router.FindRoute(routed)
	if err != nil {
		return "", fmt.Errorf("%s %s is not an operation of the spec: %w", req.Method, req.URL.Path, err)
	}
	op := route.Operation.OperationID
	if status >= 400 {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return op, fmt.Errorf("%s: %d answer is not JSON: %v\n%s", op, status, err, body)
		}
		if err := errorSchema.VisitJSON(v, openapi3.MultiErrors(), openapi3.EnableFormatValidation()); err != nil {
			return op, fmt.Errorf("%s: %d answer is not a Twilio error: %v\n%s", op, status, err, body)
		}
		if got := int(v.(map[string]any)["status"].(float64)); got != status {
			return op, fmt.Errorf("%s: error body says status %d, the answer is %d", op, got, status)
		}
		return op, nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: routed, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus:   true,
			MultiError:              true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
		},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return op, fmt.Errorf("%s: %d answer does not match the spec: %w\n%s", op, status, err, body)
	}
	if status == http.StatusNoContent {
		if len(body) != 0 {
			return op, fmt.Errorf("%s: 204 with a body: %s", op, body)
		}
	} else {
		schema := route.Operation.Responses.Status(status).Value.Content.Get("application/json").Schema.Value
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return op, err
		}
		if problems := ExactFields(schema, v, ""); len(problems) > 0 {
			return op, fmt.Errorf("%s: %s\n%s", op, strings.Join(problems, "; "), body)
		}
	}
	s.mu.Lock()
	s.covered[op] = true
	s.mu.Unlock()
	return op, nil
}

// Transport returns next (http.DefaultTransport when nil) checking every
// answer with Check; a mismatch fails tb. It is meant to sit under an SDK,
// so the SDK still reads the answer unchanged.
func (s *Spec) Transport(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		res, err := next.RoundTrip(req)
		if err != nil {
			return res, err
		}
		body, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil {
			return nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		if _, err := s.Check(req, res.StatusCode, res.Header, body); err != nil {
			tb.Errorf("%s %s: %v", req.Method, req.URL, err)
		}
		return res, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Missing returns the spec's operations no successful answer has been
// checked for yet, sorted, leaving out those in except.
func (s *Spec) Missing(except ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, item := range s.Doc.Paths.Map() {
		for _, op := range item.Operations() {
			if !s.covered[op.OperationID] && !slices.Contains(except, op.OperationID) {
				out = append(out, op.OperationID)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ExactFields reports response fields the schema lacks and schema
// properties the response lacks, for objects (and arrays of objects) whose
// schema lists properties: an answer must use exactly the spec's field
// names.
func ExactFields(schema *openapi3.Schema, value any, at string) []string {
	var out []string
	switch v := value.(type) {
	case map[string]any:
		if len(schema.Properties) == 0 {
			return nil
		}
		for k, x := range v {
			p, ok := schema.Properties[k]
			if !ok {
				out = append(out, "unexpected field "+at+k)
				continue
			}
			out = append(out, ExactFields(p.Value, x, at+k+".")...)
		}
		for k := range schema.Properties {
			if _, ok := v[k]; !ok {
				out = append(out, "missing field "+at+k)
			}
		}
	case []any:
		if schema.Items != nil {
			for _, x := range v {
				out = append(out, ExactFields(schema.Items.Value, x, at+"[].")...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
