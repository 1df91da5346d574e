package console

import (
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/apikey"
	"github.com/convoflow/convoflow/internal/serve"
)

// Prefix is the path the console is served under.
const Prefix = "/console/"

// Config is what the console needs.
type Config struct {
	// Flows is the FlowService handler every page reads from.
	Flows flowv1connect.FlowServiceHandler
	// APIKeys, when set, are required to see any page, as for the RPCs; nil
	// leaves the console open, as the server leaves its RPCs.
	APIKeys *apikey.Set
	// Logger receives errors the pages could not show; nil discards them.
	Logger *slog.Logger
	// Now is the clock ("executions in the last hour"); nil means
	// time.Now.
	Now func() time.Time
}

// Console serves the pages. Make it with New.
type Console struct {
	flows flowv1connect.FlowServiceHandler
	// watch is a client of the same handler, for WatchExecution (see
	// inProcess).
	watch flowv1connect.FlowServiceClient
	keys  *apikey.Set
	log   *slog.Logger
	now   func() time.Time
	pages map[string]*template.Template
}

// New checks cfg and parses the templates.
func New(cfg Config) (*Console, error) {
	if cfg.Flows == nil {
		return nil, errors.New("console: Config.Flows is required")
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{flows: cfg.Flows, keys: cfg.APIKeys, log: cfg.Logger, now: cfg.Now, pages: pages}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	_, h := flowv1connect.NewFlowServiceHandler(cfg.Flows)
	c.watch = flowv1connect.NewFlowServiceClient(&http.Client{Transport: inProcess{h}}, "http://flowservice.in-process")
	return c, nil
}

// Routes are the console's routes for serve.Config.Routes: the pages, and
// the event stream, which is a streaming route.
func (c *Console) Routes() []serve.Route {
	static, _ := fs.Sub(assets, "static") // the embedded tree has it
	pages := http.NewServeMux()
	pages.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	pages.HandleFunc("POST "+Prefix+"login", c.login)
	pages.HandleFunc("POST "+Prefix+"logout", c.logout)
	pages.Handle("GET "+Prefix+"{$}", c.guard(c.flowList))
	pages.Handle("GET "+Prefix+"flows/{flow}", c.guard(c.flowPage))
	pages.Handle("GET "+Prefix+"flows/{flow}/executions", c.guard(c.executionList))
	pages.Handle("GET "+Prefix+"flows/{flow}/executions/{execution}", c.guard(c.executionPage))
	pages.Handle(Prefix, c.guard(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "There is no console page at "+r.URL.Path+".")
	}))
	return []serve.Route{
		{Pattern: Prefix, Handler: secured(pages)},
		{Pattern: "GET " + Prefix + "flows/{flow}/executions/{execution}/events", Handler: secured(c.guard(c.events)), Streaming: true},
	}
}

// secured sets the headers every console response carries: nothing is
// framed or sniffed, scripts and styles come only from the console itself
// (the SVG's own <style> element is inline), and pages are not cached.
func secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
