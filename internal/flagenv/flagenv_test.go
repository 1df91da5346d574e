package flagenv_test

import (
	"bytes"
	"flag"
	"log/slog"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/internal/flagenv"
)

func TestParse(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TEST_LISTEN":       "127.0.0.1:9999",
		"TEST_LOG_LEVEL":    "debug",
		"TEST_FUNCTION_MAP": "a=b, c=d",
		"TEST_SEED":         "7",
	}
	tests := []struct {
		name       string
		args       []string
		wantListen string
		wantSeed   int
	}{
		{name: "env_fills_unset_flags", wantListen: "127.0.0.1:9999", wantSeed: 7},
		{name: "command_line_wins", args: []string{"--listen", "127.0.0.1:1", "--seed=3"}, wantListen: "127.0.0.1:1", wantSeed: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
			seed := fs.Int("seed", 0, "seed")
			var level slog.Level
			fs.TextVar(&level, "log-level", slog.LevelInfo, "log level")
			var maps flagenv.StringList
			fs.Var(&maps, "function-map", "rewrites")
			if err := flagenv.Parse(fs, "TEST_", tt.args, func(k string) string { return env[k] }); err != nil {
				t.Fatal(err)
			}
			if *listen != tt.wantListen || *seed != tt.wantSeed {
				t.Fatalf("listen=%q seed=%d, want %q %d", *listen, *seed, tt.wantListen, tt.wantSeed)
			}
			if level != slog.LevelDebug {
				t.Fatalf("level = %v, want debug", level)
			}
			if got := maps.String(); got != "a=b,c=d" {
				t.Fatalf("function-map = %q", got)
			}
		})
	}
}

func TestParseBadEnvValue(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.Int("seed", 0, "seed")
	err := flagenv.Parse(fs, "TEST_", nil, func(k string) string { return map[string]string{"TEST_SEED": "x"}[k] })
	if err == nil || !strings.Contains(err.Error(), "TEST_SEED") {
		t.Fatalf("err = %v, want one naming TEST_SEED", err)
	}
}

func TestHelpNamesVariables(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.String("auth-token", "", "auth token")
	_ = flagenv.Parse(fs, "FAKE_", []string{"--help"}, func(string) string { return "" })
	if !strings.Contains(out.String(), "FAKE_AUTH_TOKEN") {
		t.Fatalf("help does not name the variable:\n%s", out.String())
	}
}
