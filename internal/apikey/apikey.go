// Package apikey holds the API keys a server accepts and checks the bearer
// tokens clients present. Keys come from flags (fixed for the life of the
// process) and from a file that Reload reads again, so that keys rotate
// without a restart: add the new key to the file, SIGHUP, move the clients,
// remove the old key, SIGHUP.
//
// Keys are compared in constant time against every configured key, and are
// never part of an error or a log line.
package apikey

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// MinLength is the shortest key accepted: 16 characters of a random
// alphabet are more than any online guessing reaches, and a shorter value
// is more likely a password someone typed than a generated key.
const MinLength = 16

// Set is the keys one server accepts. The zero value is not usable; build it
// with New. A Set is safe for concurrent use.
type Set struct {
	fixed [][sha256.Size]byte // from flags
	file  string              // "" when no file is configured

	reloadMu sync.Mutex
	// all is fixed plus the file's keys as last read, replaced as a whole
	// so that Check never sees a half-read file.
	all atomic.Pointer[[][sha256.Size]byte]
}

// New returns the Set of keys plus the keys in file (when file is not
// empty). It fails when a key is malformed or the file cannot be read, and
// when neither gives any key: a server configured for keys must not start
// open because a file turned out empty.
func New(keys []string, file string) (*Set, error) {
	s := &Set{file: file}
	for i, k := range keys {
		if err := check(k); err != nil {
			return nil, fmt.Errorf("--api-key #%d: %w", i+1, err)
		}
		s.fixed = append(s.fixed, sha256.Sum256([]byte(k)))
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Len is the number of distinct keys accepted now.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(*s.all.Load())
}

// File is the keys file Reload reads, "" when there is none.
func (s *Set) File() string { return s.file }

// Reload reads the keys file again. On error the keys in use stay as they
// were. Without a file it only re-applies the fixed keys.
func (s *Set) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	all := append([][sha256.Size]byte(nil), s.fixed...)
	if s.file != "" {
		fromFile, err := readFile(s.file)
		if err != nil {
			return err
		}
		all = append(all, fromFile...)
	}
	all = dedupe(all)
	switch {
	case len(all) > 0:
	case s.file != "":
		return fmt.Errorf("--api-keys-file %s holds no key (one per line; # starts a comment)", s.file)
	default:
		return errors.New("no API key given")
	}
	s.all.Store(&all)
	return nil
}

// Check reports whether token is one of the keys. It takes the same time
// whichever key matches, or none: every key is compared, in constant time,
// as a SHA-256 digest so that the key's length does not show either.
func (s *Set) Check(token string) bool {
	if s == nil || token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, k := range *s.all.Load() {
		match |= subtle.ConstantTimeCompare(sum[:], k[:])
	}
	return match == 1
}

// ErrMissing and ErrWrong are what Authenticate reports; their messages
// tell the caller what to send, never which keys exist.
var (
	ErrMissing = errors.New(`missing API key: send the header "authorization: Bearer KEY"`)
	ErrWrong   = errors.New("invalid API key")
)

// Authenticate checks an Authorization header value ("Bearer KEY", the
// scheme case-insensitive as RFC 9110 says).
func (s *Set) Authenticate(authorization string) error {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if authorization == "" {
		return ErrMissing
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return fmt.Errorf(`%w: the authorization header must be "Bearer KEY"`, ErrWrong)
	}
	if !s.Check(strings.TrimSpace(token)) {
		return ErrWrong
	}
	return nil
}

func readFile(path string) ([][sha256.Size]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--api-keys-file: %w", err)
	}
	var out [][sha256.Size]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := check(line); err != nil {
			// The line number, not the line: it may be a key.
			return nil, fmt.Errorf("--api-keys-file %s line %d: %w", path, n, err)
		}
		out = append(out, sha256.Sum256([]byte(line)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--api-keys-file %s: %w", path, err)
	}
	return out, nil
}

// check accepts what fits in an Authorization header and in a
// comma-separated environment variable: printable ASCII without spaces or
// commas, at least MinLength long.
func check(k string) error {
	if len(k) < MinLength {
		return fmt.Errorf("an API key must be at least %d characters long (got %d)", MinLength, len(k))
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c > '~' || c == ',' {
			return fmt.Errorf("an API key may hold printable ASCII except space and comma (character %d is not)", i+1)
		}
	}
	return nil
}

func dedupe(keys [][sha256.Size]byte) [][sha256.Size]byte {
	seen := make(map[[sha256.Size]byte]bool, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// RoundTripper returns base (http.DefaultTransport when nil) adding
// "authorization: Bearer KEY" to every request that carries no
// authorization of its own: the client side, for connect clients and plain
// HTTP alike.
func RoundTripper(key string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return bearer{key: key, base: base}
}

type bearer struct {
	key  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" {
		return b.base.RoundTrip(r)
	}
	// A RoundTripper must not change the caller's request.
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.base.RoundTrip(r)
}
