package conversations

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// handler serves one operation. It returns an *apiError for Twilio-shaped
// failures; anything it writes on success goes through call.
type handler func(s *Server, c *call) error

// route is one row of the route table: an operation of the spec.
type route struct {
	method    string
	pattern   string // Go 1.22 ServeMux pattern copied from the spec path
	operation string // the spec's operationId
	h         handler
}

// apiRoutes is the route table. Service-scoped variants reuse the default
// handlers: the dispatcher resolves {ChatServiceSid} (or the default service)
// into call.svc before the handler runs, and sets call.scoped so responses
// carry chat_service_sid and service-scoped URLs.
var apiRoutes = []route{
	{"GET", "/v1/Conversations", "ListConversation", listConversations},
	{"POST", "/v1/Conversations", "CreateConversation", createConversation},
	{"GET", "/v1/Conversations/{Sid}", "FetchConversation", fetchConversation},
	{"POST", "/v1/Conversations/{Sid}", "UpdateConversation", updateConversation},
	{"DELETE", "/v1/Conversations/{Sid}", "DeleteConversation", deleteConversation},
	{"POST", "/v1/ConversationWithParticipants", "CreateConversationWithParticipants", createConversationWithParticipants},

	{"GET", "/v1/Conversations/{ConversationSid}/Participants", "ListConversationParticipant", listParticipants},
	{"POST", "/v1/Conversations/{ConversationSid}/Participants", "CreateConversationParticipant", createParticipant},
	{"GET", "/v1/Conversations/{ConversationSid}/Participants/{Sid}", "FetchConversationParticipant", fetchParticipant},
	{"POST", "/v1/Conversations/{ConversationSid}/Participants/{Sid}", "UpdateConversationParticipant", updateParticipant},
	{"DELETE", "/v1/Conversations/{ConversationSid}/Participants/{Sid}", "DeleteConversationParticipant", deleteParticipant},

	{"GET", "/v1/Conversations/{ConversationSid}/Messages", "ListConversationMessage", listMessages},
	{"POST", "/v1/Conversations/{ConversationSid}/Messages", "CreateConversationMessage", createMessage},
	{"GET", "/v1/Conversations/{ConversationSid}/Messages/{Sid}", "FetchConversationMessage", fetchMessage},
	{"POST", "/v1/Conversations/{ConversationSid}/Messages/{Sid}", "UpdateConversationMessage", updateMessage},
	{"DELETE", "/v1/Conversations/{ConversationSid}/Messages/{Sid}", "DeleteConversationMessage", deleteMessage},
	{"GET", "/v1/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts", "ListConversationMessageReceipt", listReceipts},
	{"GET", "/v1/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts/{Sid}", "FetchConversationMessageReceipt", fetchReceipt},

	{"GET", "/v1/Conversations/{ConversationSid}/Webhooks", "ListConversationScopedWebhook", listScopedWebhooks},
	{"POST", "/v1/Conversations/{ConversationSid}/Webhooks", "CreateConversationScopedWebhook", createScopedWebhook},
	{"GET", "/v1/Conversations/{ConversationSid}/Webhooks/{Sid}", "FetchConversationScopedWebhook", fetchScopedWebhook},
	{"POST", "/v1/Conversations/{ConversationSid}/Webhooks/{Sid}", "UpdateConversationScopedWebhook", updateScopedWebhook},
	{"DELETE", "/v1/Conversations/{ConversationSid}/Webhooks/{Sid}", "DeleteConversationScopedWebhook", deleteScopedWebhook},

	{"GET", "/v1/Configuration", "FetchConfiguration", fetchConfiguration},
	{"POST", "/v1/Configuration", "UpdateConfiguration", updateConfiguration},
	{"GET", "/v1/Configuration/Webhooks", "FetchConfigurationWebhook", fetchConfigurationWebhook},
	{"POST", "/v1/Configuration/Webhooks", "UpdateConfigurationWebhook", updateConfigurationWebhook},

	{"GET", "/v1/Configuration/Addresses", "ListConfigurationAddress", listAddresses},
	{"POST", "/v1/Configuration/Addresses", "CreateConfigurationAddress", createAddress},
	{"GET", "/v1/Configuration/Addresses/{Sid}", "FetchConfigurationAddress", fetchAddress},
	{"POST", "/v1/Configuration/Addresses/{Sid}", "UpdateConfigurationAddress", updateAddress},
	{"DELETE", "/v1/Configuration/Addresses/{Sid}", "DeleteConfigurationAddress", deleteAddress},

	{"GET", "/v1/ParticipantConversations", "ListParticipantConversation", listParticipantConversations},

	{"GET", "/v1/Services", "ListService", listServices},
	{"POST", "/v1/Services", "CreateService", createService},
	{"GET", "/v1/Services/{Sid}", "FetchService", fetchService},
	{"DELETE", "/v1/Services/{Sid}", "DeleteService", deleteService},

	{"GET", "/v1/Users", "ListUser", listUsers},
	{"POST", "/v1/Users", "CreateUser", createUser},
	{"GET", "/v1/Users/{Sid}", "FetchUser", fetchUser},
	{"POST", "/v1/Users/{Sid}", "UpdateUser", updateUser},
	{"DELETE", "/v1/Users/{Sid}", "DeleteUser", deleteUser},
	{"GET", "/v1/Users/{UserSid}/Conversations", "ListUserConversation", listUserConversations},
	{"GET", "/v1/Users/{UserSid}/Conversations/{ConversationSid}", "FetchUserConversation", fetchUserConversation},
	{"POST", "/v1/Users/{UserSid}/Conversations/{ConversationSid}", "UpdateUserConversation", updateUserConversation},
	{"DELETE", "/v1/Users/{UserSid}/Conversations/{ConversationSid}", "DeleteUserConversation", deleteUserConversation},

	{"GET", "/v1/Roles", "ListRole", listRoles},
	{"POST", "/v1/Roles", "CreateRole", createRole},
	{"GET", "/v1/Roles/{Sid}", "FetchRole", fetchRole},
	{"POST", "/v1/Roles/{Sid}", "UpdateRole", updateRole},
	{"DELETE", "/v1/Roles/{Sid}", "DeleteRole", deleteRole},

	{"GET", "/v1/Credentials", "ListCredential", listCredentials},
	{"POST", "/v1/Credentials", "CreateCredential", createCredential},
	{"GET", "/v1/Credentials/{Sid}", "FetchCredential", fetchCredential},
	{"POST", "/v1/Credentials/{Sid}", "UpdateCredential", updateCredential},
	{"DELETE", "/v1/Credentials/{Sid}", "DeleteCredential", deleteCredential},

	// Service-scoped variants of the resources above, and the resources that
	// exist only per service (bindings, service configuration, notifications).
	{"GET", "/v1/Services/{ChatServiceSid}/Users", "ListServiceUser", listUsers},
	{"POST", "/v1/Services/{ChatServiceSid}/Users", "CreateServiceUser", createUser},
	{"GET", "/v1/Services/{ChatServiceSid}/Users/{Sid}", "FetchServiceUser", fetchUser},
	{"POST", "/v1/Services/{ChatServiceSid}/Users/{Sid}", "UpdateServiceUser", updateUser},
	{"DELETE", "/v1/Services/{ChatServiceSid}/Users/{Sid}", "DeleteServiceUser", deleteUser},
	{"GET", "/v1/Services/{ChatServiceSid}/Users/{UserSid}/Conversations", "ListServiceUserConversation", listUserConversations},
	{"GET", "/v1/Services/{ChatServiceSid}/Users/{UserSid}/Conversations/{ConversationSid}", "FetchServiceUserConversation", fetchUserConversation},
	{"POST", "/v1/Services/{ChatServiceSid}/Users/{UserSid}/Conversations/{ConversationSid}", "UpdateServiceUserConversation", updateUserConversation},
	{"DELETE", "/v1/Services/{ChatServiceSid}/Users/{UserSid}/Conversations/{ConversationSid}", "DeleteServiceUserConversation", deleteUserConversation},
	{"GET", "/v1/Services/{ChatServiceSid}/Roles", "ListServiceRole", listRoles},
	{"POST", "/v1/Services/{ChatServiceSid}/Roles", "CreateServiceRole", createRole},
	{"GET", "/v1/Services/{ChatServiceSid}/Roles/{Sid}", "FetchServiceRole", fetchRole},
	{"POST", "/v1/Services/{ChatServiceSid}/Roles/{Sid}", "UpdateServiceRole", updateRole},
	{"DELETE", "/v1/Services/{ChatServiceSid}/Roles/{Sid}", "DeleteServiceRole", deleteRole},
	{"GET", "/v1/Services/{ChatServiceSid}/Bindings", "ListServiceBinding", listBindings},
	{"GET", "/v1/Services/{ChatServiceSid}/Bindings/{Sid}", "FetchServiceBinding", fetchBinding},
	{"DELETE", "/v1/Services/{ChatServiceSid}/Bindings/{Sid}", "DeleteServiceBinding", deleteBinding},
	{"GET", "/v1/Services/{ChatServiceSid}/Configuration", "FetchServiceConfiguration", fetchServiceConfiguration},
	{"POST", "/v1/Services/{ChatServiceSid}/Configuration", "UpdateServiceConfiguration", updateServiceConfiguration},
	{"GET", "/v1/Services/{ChatServiceSid}/Configuration/Notifications", "FetchServiceNotification", fetchServiceNotification},
	{"POST", "/v1/Services/{ChatServiceSid}/Configuration/Notifications", "UpdateServiceNotification", updateServiceNotification},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations", "ListServiceConversation", listConversations},
	{"POST", "/v1/Services/{ChatServiceSid}/Conversations", "CreateServiceConversation", createConversation},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations/{Sid}", "FetchServiceConversation", fetchConversation},
	{"POST", "/v1/Services/{ChatServiceSid}/Conversations/{Sid}", "UpdateServiceConversation", updateConversation},
	{"DELETE", "/v1/Services/{ChatServiceSid}/Conversations/{Sid}", "DeleteServiceConversation", deleteConversation},
	{"POST", "/v1/Services/{ChatServiceSid}/ConversationWithParticipants", "CreateServiceConversationWithParticipants", createConversationWithParticipants},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants", "ListServiceConversationParticipant", listParticipants},
	{"POST", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants", "CreateServiceConversationParticipant", createParticipant},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants/{Sid}", "FetchServiceConversationParticipant", fetchParticipant},
	{"POST", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants/{Sid}", "UpdateServiceConversationParticipant", updateParticipant},
	{"DELETE", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants/{Sid}", "DeleteServiceConversationParticipant", deleteParticipant},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages", "ListServiceConversationMessage", listMessages},
	{"POST", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages", "CreateServiceConversationMessage", createMessage},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{Sid}", "FetchServiceConversationMessage", fetchMessage},
	{"POST", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{Sid}", "UpdateServiceConversationMessage", updateMessage},
	{"DELETE", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{Sid}", "DeleteServiceConversationMessage", deleteMessage},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts", "ListServiceConversationMessageReceipt", listReceipts},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts/{Sid}", "FetchServiceConversationMessageReceipt", fetchReceipt},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks", "ListServiceConversationScopedWebhook", listScopedWebhooks},
	{"POST", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks", "CreateServiceConversationScopedWebhook", createScopedWebhook},
	{"GET", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks/{Sid}", "FetchServiceConversationScopedWebhook", fetchScopedWebhook},
	{"POST", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks/{Sid}", "UpdateServiceConversationScopedWebhook", updateScopedWebhook},
	{"DELETE", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks/{Sid}", "DeleteServiceConversationScopedWebhook", deleteScopedWebhook},
	{"GET", "/v1/Services/{ChatServiceSid}/ParticipantConversations", "ListServiceParticipantConversation", listParticipantConversations},
	{"GET", "/v1/Services/{ChatServiceSid}/Configuration/Webhooks", "FetchServiceWebhookConfiguration", fetchServiceWebhookConfiguration},
	{"POST", "/v1/Services/{ChatServiceSid}/Configuration/Webhooks", "UpdateServiceWebhookConfiguration", updateServiceWebhookConfiguration},
}

// call is one API request on its way through a handler.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	form      *form
	operation string
	// svc is the chat service the request addresses: {ChatServiceSid} for
	// /v1/Services/… paths, the default service otherwise. It is resolved
	// (and checked to exist) before the handler runs.
	svc string
	// scoped is true on /v1/Services/{ChatServiceSid}/… paths.
	scoped bool
	// base is the public base URL for url, links and paging (no trailing slash).
	base string
}

// webhooksEnabled reports whether REST-originated actions of this request
// fire webhooks: only with X-Twilio-Webhook-Enabled: true, as on Twilio.
func (c *call) webhooksEnabled() bool {
	return strings.EqualFold(c.r.Header.Get("X-Twilio-Webhook-Enabled"), "true")
}

// prefix is the path between /v1 and /Conversations for this call's scope.
func (c *call) prefix() string {
	if c.scoped {
		return "/v1/Services/" + c.svc
	}
	return "/v1"
}

// resourcePath is the request path without /v1, as Twilio's 404 message shows it.
func (c *call) resourcePath() string { return strings.TrimPrefix(c.r.URL.Path, "/v1") }

func (c *call) created(v any) error { writeJSON(c.w, http.StatusCreated, v); return nil }
func (c *call) ok(v any) error      { writeJSON(c.w, http.StatusOK, v); return nil }
func (c *call) noContent() error    { c.w.WriteHeader(http.StatusNoContent); return nil }
func (c *call) notFound() *apiError { return errNotFound(c.resourcePath()) }
func (c *call) formErr() error      { return errOrNil(c.form.err) }
func errOrNil(e *apiError) error {
	if e == nil {
		return nil
	}
	return e
}

// routes builds the mux: the API under /v1 behind auth, the control plane
// under /_fake/ without auth.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range apiRoutes {
		mux.Handle(rt.method+" "+rt.pattern, s.api(rt))
	}
	mux.Handle("/v1/", s.api(route{operation: "Unknown", h: func(_ *Server, c *call) error { return c.notFound() }}))
	s.controlRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound(r.URL.Path))
	})
	return mux
}

// api wraps a handler with what every /v1 request goes through: recording,
// auth, fault injection, body limits, form parsing and service resolution.
func (s *Server) api(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// A bug in a handler answers 500 like Twilio would, instead of
			// a dropped connection the SDKs report as EOF.
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "operation", rt.operation, "panic", p)
				if sw.status == 0 {
					writeError(sw, newError(http.StatusInternalServerError, 20500, "Internal Server Error"))
				}
			}
		}()
		c := &call{w: sw, r: r, operation: rt.operation}
		err := s.prepare(c)
		if err == nil {
			err = rt.h(s, c)
		}
		var dropped errDropped
		switch {
		case errors.As(err, &dropped):
			sw.status = 0
		case err != nil:
			var ae *apiError
			if !errors.As(err, &ae) {
				s.log.Error("internal error", "operation", rt.operation, "err", err)
				ae = newError(http.StatusInternalServerError, 20500, "Internal Server Error")
			}
			writeError(sw, ae)
		}
		var form map[string][]string
		if c.form != nil {
			form = c.form.v
		}
		s.rec.request(RecordedRequest{
			Time: s.now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Form: form, Operation: rt.operation, Status: sw.status,
		})
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	})
}

// prepare authenticates and parses the request and resolves its service.
func (s *Server) prepare(c *call) error {
	r := c.r
	if !s.authenticate(r) {
		c.w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		return newError(http.StatusUnauthorized, codeAuthenticate, "Authenticate")
	}
	if err := s.faults.apply(c.w, r); err != nil {
		return err
	}
	if r.ContentLength > MaxBodyBytes {
		return newError(http.StatusRequestEntityTooLarge, codeMissingParam, "Request body exceeds %d bytes", MaxBodyBytes)
	}
	r.Body = http.MaxBytesReader(c.w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newError(http.StatusRequestEntityTooLarge, codeMissingParam, "Request body exceeds %d bytes", MaxBodyBytes)
		}
		return newError(http.StatusBadRequest, codeMissingParam, "Malformed form body: %v", err)
	}
	c.form = &form{v: r.Form}
	c.base = s.publicBase(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sid := r.PathValue("ChatServiceSid"); sid != "" {
		if _, ok := s.st.services[sid]; !ok {
			return c.notFound()
		}
		c.svc, c.scoped = sid, true
	} else {
		c.svc = s.st.defaultService
	}
	return nil
}

// publicBase is the base URL that url, links and paging URLs are built from.
func (s *Server) publicBase(r *http.Request) string {
	if s.opts.PublicBaseURL != "" {
		return strings.TrimSuffix(s.opts.PublicBaseURL, "/")
	}
	host := r.Host
	if host == "" || strings.HasSuffix(strings.Split(host, ":")[0], "twilio.com") {
		return DefaultPublicBaseURL
	}
	return "http://" + host
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (dropped-connection faults).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
