package apikey_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/internal/apikey"
)

const (
	keyA = "key-a-0123456789abcdef"
	keyB = "key-b-0123456789abcdef"
	keyC = "key-c-0123456789abcdef"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSet_authenticate(t *testing.T) {
	t.Parallel()
	s, err := apikey.New([]string{keyA, keyB}, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		header string
		want   error
	}{
		{"Bearer " + keyA, nil},
		{"Bearer " + keyB, nil},
		{"bearer " + keyA, nil}, // the scheme is case-insensitive
		{"  Bearer   " + keyA + " ", nil},
		{"", apikey.ErrMissing},
		{"Bearer " + keyC, apikey.ErrWrong},
		{"Bearer " + keyA[:len(keyA)-1], apikey.ErrWrong},
		{"Bearer ", apikey.ErrWrong},
		{"Basic " + keyA, apikey.ErrWrong},
		{keyA, apikey.ErrWrong},
	}
	for _, tt := range tests {
		err := s.Authenticate(tt.header)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("Authenticate(%q) = %v, want %v", tt.header, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "key-") {
			t.Errorf("Authenticate(%q) error %q shows a key", tt.header, err)
		}
	}
	if s.Len() != 2 {
		t.Errorf("Len() = %d, want 2", s.Len())
	}
	var none *apikey.Set
	if none.Check(keyA) || none.Len() != 0 {
		t.Error("a nil Set accepts keys")
	}
}

func TestNew_errors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, "# only a comment\n\n")
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, keyA+"\nshort-secret\n")
	tests := []struct {
		name string
		keys []string
		file string
		want string
	}{
		{"nothing", nil, "", "no API key given"},
		{"short", []string{"s3cret"}, "", "--api-key #1: an API key must be at least 16 characters"},
		{"space", []string{"with space 0123456789"}, "", "character 5"},
		{"comma", []string{"with,comma0123456789"}, "", "except space and comma"},
		{"missing_file", nil, filepath.Join(dir, "nope"), "no such file"},
		{"empty_file", nil, empty, "holds no key"},
		{"bad_line", nil, bad, "line 2: an API key must be at least 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := apikey.New(tt.keys, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
			for _, k := range append(tt.keys, "short-secret") {
				if strings.Contains(err.Error(), k) {
					t.Errorf("error %q shows the key %q", err, k)
				}
			}
		})
	}
}

// TestSet_reload rotates a key the way an operator does: add the new key,
// reload, remove the old one, reload. A broken file keeps the keys in use.
func TestSet_reload(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "keys")
	writeFile(t, file, "# rotated monthly\n"+keyA+"\n")
	s, err := apikey.New([]string{keyC}, file)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, want map[string]bool) {
		t.Helper()
		for k, ok := range want {
			if got := s.Check(k); got != ok {
				t.Errorf("%s: Check(%s) = %v, want %v", step, k[:5], got, ok)
			}
		}
	}
	check("start", map[string]bool{keyA: true, keyB: false, keyC: true})

	writeFile(t, file, keyA+"\n"+keyB+"\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	check("both", map[string]bool{keyA: true, keyB: true, keyC: true})

	writeFile(t, file, keyB+"\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	check("rotated", map[string]bool{keyA: false, keyB: true, keyC: true})

	writeFile(t, file, "tooshort\n")
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	check("broken file", map[string]bool{keyA: false, keyB: true, keyC: true})

	// The flag's key alone is enough when the file is emptied.
	writeFile(t, file, "")
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload of an empty file with a flag key: %v", err)
	}
	check("empty file", map[string]bool{keyB: false, keyC: true})
}

func TestRoundTripper(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	c := &http.Client{Transport: apikey.RoundTripper(keyA, nil)}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if req.Header.Get("Authorization") != "" {
		t.Error("RoundTripper changed the caller's request")
	}
	own, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	own.Header.Set("Authorization", "Bearer mine")
	if resp, err = c.Do(own); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(got) != 2 || got[0] != "Bearer "+keyA || got[1] != "Bearer mine" {
		t.Errorf("server saw %q, want the key added, then the request's own", got)
	}
}

func BenchmarkCheck(b *testing.B) {
	keys := []string{keyA, keyB, keyC}
	s, err := apikey.New(keys, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !s.Check(keyC) {
			b.Fatal("rejected")
		}
	}
}
