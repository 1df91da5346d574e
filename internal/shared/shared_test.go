package shared_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/convoflow/convoflow/internal/shared"
)

func TestPath(t *testing.T) {
	t.Run("env_dir_wins", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "specs"), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv(shared.EnvDir, dir)
		if got := shared.Path(t, "specs"); got != filepath.Join(dir, "specs") {
			t.Fatalf("Path = %q, want %q", got, filepath.Join(dir, "specs"))
		}
	})
	t.Run("default_is_beside_repo", func(t *testing.T) {
		t.Setenv(shared.EnvDir, "")
		got, err := shared.Locate()
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(got) != "shared" {
			t.Fatalf("Locate = %q, want a folder named shared", got)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(got), filepath.Base(mustRepoRoot(t)), "go.mod")); err != nil {
			t.Fatalf("Locate = %q is not beside the repository: %v", got, err)
		}
	})
}

func mustRepoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(wd)) // internal/shared → repository root
}
