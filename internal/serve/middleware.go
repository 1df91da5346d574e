package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// middleware wraps the mux with, from the outside in: request logging,
// panic recovery, per-request deadlines, for streams cancellation when
// shutdown begins, and the API key check.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		streaming := s.isStreaming(r)
		defer func() {
			p := recover()
			if p == http.ErrAbortHandler {
				// The documented way to abort a response: not a bug, and
				// net/http handles it silently.
				panic(p)
			}
			if p == nil {
				s.logRequest(r, rec, start, false)
				return
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path,
				"panic", p, "stack", string(debug.Stack()))
			if rec.wroteHeader {
				// Part of the response is out: abort the stream or
				// connection so the client sees a failure rather than a
				// truncated response that looks complete.
				s.logRequest(r, rec, start, true)
				panic(http.ErrAbortHandler)
			}
			http.Error(rec, "internal error", http.StatusInternalServerError)
			s.logRequest(r, rec, start, true)
		}()

		rc := http.NewResponseController(rec)
		if streaming {
			// A stream may outlive any fixed deadline; it ends when the
			// client goes away or shutdown begins.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			stop := context.AfterFunc(s.streamsCtx, cancel)
			defer stop()
			r = r.WithContext(ctx)
		} else {
			// Errors mean the connection does not support deadlines (for
			// example a test's ResponseRecorder); serve without them.
			_ = rc.SetWriteDeadline(start.Add(s.cfg.WriteTimeout))
			// A request without a body has been read in full already. On
			// HTTP/1.1 the server then reads ahead on the connection, and
			// a read deadline set now would cancel the request when it
			// expires, though the handler has until WriteTimeout.
			if r.Body != nil && r.Body != http.NoBody {
				_ = rc.SetReadDeadline(start.Add(s.cfg.ReadTimeout))
				if r.ProtoMajor == 1 {
					r.Body = &clearOnEOF{ReadCloser: r.Body, rc: rc}
				}
			}
		}
		if !s.authenticate(rec, r) {
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// logRequest writes one line per request. Health checks log at debug level
// so probes do not drown the log; server errors and panics at error level.
func (s *Server) logRequest(r *http.Request, rec *recorder, start time.Time, panicked bool) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	switch {
	case panicked || status >= http.StatusInternalServerError:
		level = slog.LevelError
	case r.URL.Path == "/healthz" || strings.HasPrefix(r.URL.Path, "/grpc.health.v1.Health/") || isMetrics(r.URL.Path):
		level = slog.LevelDebug
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("proto", r.Proto),
		slog.Int("status", status),
		slog.Int64("bytes", rec.bytes),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", r.RemoteAddr),
	}
	// gRPC answers HTTP 200 and puts the outcome in a trailer.
	if code := grpcStatus(rec.Header()); code != "" {
		attrs = append(attrs, slog.String("grpc_status", code))
	}
	s.log.LogAttrs(context.WithoutCancel(r.Context()), level, "request", attrs...)
}

func grpcStatus(h http.Header) string {
	if v := h.Get("Grpc-Status"); v != "" {
		return v
	}
	return h.Get(http.TrailerPrefix + "Grpc-Status")
}

// recorder remembers the status and size of a response for the log. It
// implements Flush (connect's streaming needs http.Flusher) and Unwrap, so
// http.ResponseController reaches the deadlines and full-duplex support of
// the underlying writer.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status = code
		// 1xx informational responses do not commit the response.
		r.wroteHeader = code >= http.StatusOK
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// clearOnEOF lifts the read deadline once the request body has been read.
// On HTTP/1.1 the server keeps reading the connection in the background
// after the body ends, and an expired read deadline there cancels the
// request context: without this, a unary handler running longer than
// ReadTimeout would be cancelled although its request arrived in time.
// HTTP/2 needs none of it: an expired read deadline only fails further
// reads of that stream's body, and lifting it would cost every request
// another round trip through the connection's serve loop.
type clearOnEOF struct {
	io.ReadCloser
	rc      *http.ResponseController
	cleared bool
}

func (b *clearOnEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.cleared {
		b.cleared = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
