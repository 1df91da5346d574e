package console

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestInProcess(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "yes")
		_, _ = io.WriteString(w, "first\n")
		select { // the client must read "first" before the handler ends
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second\n")
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("/block", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	hc := &http.Client{Transport: inProcess{mux}}
	get := func(ctx context.Context, path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://in-process"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return hc.Do(req)
	}

	t.Run("streams", func(t *testing.T) {
		res, err := get(t.Context(), "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != "first\n" || res.Header.Get("X-Test") != "yes" || res.StatusCode != http.StatusOK {
			t.Fatalf("first read = %q, %v, header %v, status %d", line, err, res.Header, res.StatusCode)
		}
		close(release)
		rest, err := io.ReadAll(br)
		if err != nil || string(rest) != "second\n" {
			t.Errorf("rest = %q, %v", rest, err)
		}
	})
	t.Run("status_without_body", func(t *testing.T) {
		res, err := get(t.Context(), "/teapot")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusTeapot {
			t.Errorf("status = %d", res.StatusCode)
		}
	})
	t.Run("panic_fails_the_request_only", func(t *testing.T) {
		res, err := get(t.Context(), "/panic")
		if err == nil {
			_, err = io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusInternalServerError {
				t.Errorf("status = %d", res.StatusCode)
			}
		}
		if err == nil || !strings.Contains(err.Error(), "panicked") {
			t.Errorf("err = %v, want the panic", err)
		}
	})
	t.Run("cancelled_before_the_header", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := get(ctx, "/block"); err == nil {
			t.Error("a request whose context ended got a response")
		}
	})
}
