package studioapi

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
	"github.com/convoflow/convoflow/internal/serve"
	"github.com/convoflow/convoflow/internal/twiliorest"
)

// Config is what the API needs.
type Config struct {
	// Service is the FlowService handler the gRPC API serves; every REST
	// call goes through it.
	Service flowv1connect.FlowServiceHandler
	// AccountSid and AuthToken are the credentials callers must present
	// with HTTP basic auth, and AccountSid is the account_sid of every
	// resource.
	AccountSid, AuthToken string
	// APIKeys, when not nil, are also accepted as bearer tokens.
	APIKeys *apikey.Set
	// PublicURL returns the externally visible base URL (no trailing
	// slash) that url, links and paging URLs are built from. It is a
	// function because a server on port 0 learns its URL only once it
	// listens.
	PublicURL func() string
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
}

// API serves Studio's REST API v2; New is its only constructor.
type API struct {
	svc        flowv1connect.FlowServiceHandler
	accountSid string
	auth       credentials
	publicURL  func() string
	log        *slog.Logger
}

// New checks cfg and returns the API.
func New(cfg Config) (*API, error) {
	if cfg.Service == nil || cfg.PublicURL == nil {
		return nil, errors.New("studioapi: Config.Service and Config.PublicURL are required")
	}
	if cfg.AccountSid == "" || cfg.AuthToken == "" {
		return nil, errors.New("studioapi: Config.AccountSid and Config.AuthToken are required")
	}
	a := &API{
		svc:        cfg.Service,
		accountSid: cfg.AccountSid,
		auth:       newCredentials(cfg.AccountSid, cfg.AuthToken, cfg.APIKeys),
		publicURL:  cfg.PublicURL,
		log:        cfg.Logger,
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// Routes returns the plain routes to serve next to the RPCs: one per
// operation, and a catch-all under /v2/ that answers unknown paths and
// methods with Twilio's 404 instead of ServeMux's plain text.
func (a *API) Routes() []serve.Route {
	out := make([]serve.Route, 0, len(routes)+1)
	for _, rt := range routes {
		out = append(out, serve.Route{Pattern: rt.method + " " + rt.pattern, Handler: a.handler(rt.handle)})
	}
	out = append(out, serve.Route{Pattern: "/v2/", Handler: a.handler(func(_ *API, c *call) (int, any, error) {
		return 0, nil, notFound(c.r.URL.Path)
	})})
	return out
}

// call is one request being served: the request and its parameters (the
// query for GET and DELETE, the form-encoded body for POST).
type call struct {
	r    *http.Request
	form url.Values
}

// handler wraps an operation: authentication, parameter parsing, and the
// rendering of its result or error.
func (a *API) handler(handle func(*API, *call) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.auth.check(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			a.writeError(w, r, err)
			return
		}
		if err := r.ParseForm(); err != nil {
			a.writeError(w, r, formError(err))
			return
		}
		status, body, err := handle(a, &call{r: r, form: r.Form})
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		twiliorest.WriteJSON(w, status, body)
	})
}

// formError is a body ParseForm could not read: too large, or not
// form-encoded.
func formError(err error) error {
	if serve.IsTooLarge(err) {
		return &restError{Status: http.StatusRequestEntityTooLarge, Code: codeInvalidParameter, Message: "request body too large"}
	}
	return invalidParam("request body is not application/x-www-form-urlencoded: %v", err)
}

// url returns the absolute URL of path under the public URL.
func (a *API) url(path ...string) string {
	return strings.TrimSuffix(a.publicURL(), "/") + "/v2/" + strings.Join(path, "/")
}
