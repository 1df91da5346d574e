// Package shared locates the project's third-party test data: Twilio's
// OpenAPI specs and the Studio flow exports kept in the shared/ folder next to
// the repository. That data is read at test time and never copied into the
// repository, so tests that need it call [Dir] (or [Path]) and are skipped,
// with a message saying how to get it, when it is absent. CI sets
// CONVOFLOW_REQUIRE_SHARED=1, which turns that skip into a failure so a
// missing folder can never make a run green by running fewer tests.
package shared

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const (
	// EnvDir names the variable that points at the shared folder.
	EnvDir = "CONVOFLOW_SHARED_DIR"
	// EnvRequire names the variable that makes an absent shared folder fatal.
	EnvRequire = "CONVOFLOW_REQUIRE_SHARED"
)

// Locate returns the shared folder: $CONVOFLOW_SHARED_DIR when set, otherwise
// ../shared relative to the repository root (the directory holding go.mod).
func Locate() (string, error) {
	if dir := os.Getenv(EnvDir); dir != "" {
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
				return filepath.Join(filepath.Dir(dir), "shared"), nil
			}
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("repository root (go.mod next to tools/go.mod) not found above " + wd)
		}
	}
}

// Path returns the absolute path of rel inside the shared folder. When the
// file is missing the test is skipped, or fails if CONVOFLOW_REQUIRE_SHARED=1.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := Locate()
	if err == nil {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	msg := "shared test data " + rel + " not found (" + err.Error() + "). " +
		"Set " + EnvDir + " to a folder holding specs/ (twilio/twilio-oai spec/json at commit " +
		"d50069b44ea8cd23141385bdb6db48f16ff75bb5) and flows/ (see the README)."
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// Dir returns the shared folder itself, with the same skip-or-fail rule as [Path].
func Dir(tb testing.TB) string {
	tb.Helper()
	return Path(tb, ".")
}
