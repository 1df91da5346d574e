package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/internal/serve"
)

//go:embed templates static
var assets embed.FS

// pageNames are the templates under templates/, each executed inside
// layout.html.
var pageNames = []string{"flows", "flow", "executions", "execution", "login", "error"}

var funcs = template.FuncMap{
	"time":       formatTime,
	"since":      since,
	"status":     executionStatus,
	"flowStatus": flowStatus,
	"reason":     endedReason,
	"prefix":     func() string { return Prefix },
}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(assets, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render executes a page into a buffer first, so that a template error
// becomes a 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	var buf bytes.Buffer
	if err := c.pages[page].Execute(&buf, data); err != nil {
		c.log.ErrorContext(r.Context(), "console: rendering a page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorPage struct {
	Status  int
	Title   string
	Message string
}

// fail answers with the error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", errorPage{Status: status, Title: http.StatusText(status), Message: msg})
}

// failRPC answers with the error page for an error of the FlowService
// handler. Its message is the one the RPC would send a client: the
// handler never puts internal details in it.
func (c *Console) failRPC(w http.ResponseWriter, r *http.Request, err error) {
	status := serve.HTTPStatus(connect.CodeOf(err))
	msg := connectMessage(err)
	if status >= http.StatusInternalServerError {
		c.log.ErrorContext(r.Context(), "console: reading from FlowService", "path", r.URL.Path, "err", err)
	}
	c.fail(w, r, status, msg)
}

func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format("2006-01-02 15:04:05Z")
}

// since is a short relative age ("3m ago") for lists.
func since(now time.Time, ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	d := now.Sub(ts.AsTime()).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

func executionStatus(s flowv1.ExecutionStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "EXECUTION_STATUS_"))
}

func flowStatus(s flowv1.FlowStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "FLOW_STATUS_"))
}

func endedReason(r flowv1.ExecutionEndedReason) string {
	if r == flowv1.ExecutionEndedReason_EXECUTION_ENDED_REASON_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(r.String(), "EXECUTION_ENDED_REASON_")
}
