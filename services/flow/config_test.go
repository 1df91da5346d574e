package flow

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convoflow/convoflow/internal/serve"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	const sid = "AC0123456789abcdef0123456789abcdef"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Config
		wantErr []string
	}{
		{
			name: "defaults",
			args: []string{"--account-sid", sid, "--auth-token", "tok"},
			want: Config{Listen: "127.0.0.1:8081", DB: "./.data/flowservice.db", ConversationsURL: "https://conversations.twilio.com",
				AccountSid: sid, AuthToken: "tok", MessageAuthor: "system", LogLevel: slog.LevelInfo,
				LeaseTTL: 5 * time.Second, DrainTimeout: 10 * time.Second},
		},
		{
			name: "flags",
			args: []string{"--listen", "0.0.0.0:9000", "--db", "/var/lib/flow.db", "--conversations-url", "http://127.0.0.1:8083",
				"--account-sid", sid, "--auth-token", "tok", "--public-url", "https://flows.example.com",
				"--function-map", "https://a.twil.io=http://127.0.0.1:8082/functions", "--function-map", "https://b.twil.io=http://127.0.0.1:8084",
				"--message-author", "bot", "--log-level", "debug", "--api-key", "key-1-0123456789abcdef"},
			want: Config{Listen: "0.0.0.0:9000", DB: "/var/lib/flow.db", ConversationsURL: "http://127.0.0.1:8083", AccountSid: sid, AuthToken: "tok",
				PublicURL: "https://flows.example.com", FunctionMap: []string{"https://a.twil.io=http://127.0.0.1:8082/functions", "https://b.twil.io=http://127.0.0.1:8084"},
				MessageAuthor: "bot", LogLevel: slog.LevelDebug,
				LeaseTTL: 5 * time.Second, DrainTimeout: 10 * time.Second,
				Security: serve.Security{APIKeys: []string{"key-1-0123456789abcdef"}}},
		},
		{
			name:    "reachable_without_keys",
			args:    []string{"--listen", "0.0.0.0:9000", "--account-sid", sid, "--auth-token", "tok"},
			wantErr: []string{"refusing to serve without API keys", "--insecure-no-auth"},
		},
		{
			name: "reachable_insecure",
			args: []string{"--listen", ":9000", "--account-sid", sid, "--auth-token", "tok", "--insecure-no-auth"},
			want: Config{Listen: ":9000", DB: "./.data/flowservice.db", ConversationsURL: "https://conversations.twilio.com",
				AccountSid: sid, AuthToken: "tok", MessageAuthor: "system", LogLevel: slog.LevelInfo,
				LeaseTTL: 5 * time.Second, DrainTimeout: 10 * time.Second, Security: serve.Security{InsecureNoAuth: true}},
		},
		{
			name: "bad_security",
			args: []string{"--account-sid", sid, "--auth-token", "tok", "--api-key", "short", "--api-keys-file", "/nonexistent/keys",
				"--tls-cert", "/nonexistent/cert.pem"},
			wantErr: []string{"at least 16 characters", "--tls-cert and --tls-key go together"},
		},
		{
			name:    "bad_outbound_and_metrics",
			args:    []string{"--account-sid", sid, "--auth-token", "tok", "--allow-outbound", "10.0.0.0/33", "--metrics-listen", "nope"},
			wantErr: []string{`--allow-outbound "10.0.0.0/33"`, "--metrics-listen"},
		},
		{
			name:    "insecure_and_keys",
			args:    []string{"--account-sid", sid, "--auth-token", "tok", "--api-key", "key-1-0123456789abcdef", "--insecure-no-auth"},
			wantErr: []string{"--insecure-no-auth contradicts --api-key"},
		},
		{
			name: "environment_and_flag_precedence",
			args: []string{"--listen", "127.0.0.1:7000"},
			env: map[string]string{"FLOWSERVICE_LISTEN": "127.0.0.1:1", "FLOWSERVICE_ACCOUNT_SID": sid, "FLOWSERVICE_AUTH_TOKEN": "secret",
				"FLOWSERVICE_FUNCTION_MAP": "https://a.twil.io=http://x:1,https://b.twil.io=http://y:2", "FLOWSERVICE_LOG_LEVEL": "warn",
				"FLOWSERVICE_API_KEY": "key-1-0123456789abcdef,key-2-0123456789abcdef"},
			want: Config{Listen: "127.0.0.1:7000", DB: "./.data/flowservice.db", ConversationsURL: "https://conversations.twilio.com",
				AccountSid: sid, AuthToken: "secret", FunctionMap: []string{"https://a.twil.io=http://x:1", "https://b.twil.io=http://y:2"},
				MessageAuthor: "system", LogLevel: slog.LevelWarn,
				LeaseTTL: 5 * time.Second, DrainTimeout: 10 * time.Second,
				Security: serve.Security{APIKeys: []string{"key-1-0123456789abcdef", "key-2-0123456789abcdef"}}},
		},
		{
			name:    "missing_credentials",
			wantErr: []string{"--account-sid must be AC followed by 32 hex digits", "--auth-token is required"},
		},
		{
			name: "bad_values",
			args: []string{"--account-sid", sid, "--auth-token", "t", "--public-url", "flows.example.com", "--conversations-url", "ftp://x",
				"--function-map", "no-equals", "--function-map", "https://a.twil.io=relative/path", "--message-author", " "},
			wantErr: []string{"--public-url", "--conversations-url", `--function-map "no-equals": want FROM=TO`, `--function-map "https://a.twil.io=relative/path"`, "--message-author"},
		},
		{
			name:    "public_url_with_query",
			args:    []string{"--account-sid", sid, "--auth-token", "t", "--public-url", "https://x.example?a=b"},
			wantErr: []string{"must not have a query"},
		},
		{
			name: "postgres_and_tuning",
			args: []string{"--account-sid", sid, "--auth-token", "tok", "--db", "postgres://flow:pw@db.internal:5432/convoflow?sslmode=require",
				"--db-max-conns", "32", "--db-statement-timeout", "5s", "--lease-ttl", "10s", "--drain-timeout", "3s"},
			want: Config{Listen: "127.0.0.1:8081", DB: "postgres://flow:pw@db.internal:5432/convoflow?sslmode=require", ConversationsURL: "https://conversations.twilio.com",
				AccountSid: sid, AuthToken: "tok", MessageAuthor: "system", LogLevel: slog.LevelInfo,
				DBMaxConns: 32, DBStatementTimeout: 5 * time.Second, LeaseTTL: 10 * time.Second, DrainTimeout: 3 * time.Second},
		},
		{
			name:    "bad_tuning",
			args:    []string{"--account-sid", sid, "--auth-token", "t", "--db-max-conns", "-1", "--db-statement-timeout", "-1s", "--lease-ttl", "100ms", "--drain-timeout", "0s"},
			wantErr: []string{"--db-max-conns -1", "--db-statement-timeout -1s must not be negative", "--lease-ttl 100ms must be at least 1s", "--drain-timeout 0s"},
		},
		{
			name:    "extra_arguments",
			args:    []string{"--account-sid", sid, "--auth-token", "t", "serve"},
			wantErr: []string{"unexpected arguments"},
		},
		{
			name:    "unknown_flag",
			args:    []string{"--nope"},
			wantErr: []string{"flag provided but not defined: -nope"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			got, err := ParseConfig(tt.args, func(k string) string { return tt.env[k] }, &stderr)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ParseConfig = %+v, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfig_help(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	_, err := ParseConfig([]string{"--help"}, func(string) string { return "" }, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, env := range []string{"FLOWSERVICE_LISTEN", "FLOWSERVICE_DB", "FLOWSERVICE_CONVERSATIONS_URL", "FLOWSERVICE_ACCOUNT_SID",
		"FLOWSERVICE_AUTH_TOKEN", "FLOWSERVICE_PUBLIC_URL", "FLOWSERVICE_FUNCTION_MAP", "FLOWSERVICE_MESSAGE_AUTHOR", "FLOWSERVICE_LOG_LEVEL",
		"FLOWSERVICE_API_KEY", "FLOWSERVICE_API_KEYS_FILE", "FLOWSERVICE_INSECURE_NO_AUTH", "FLOWSERVICE_TLS_CERT", "FLOWSERVICE_TLS_KEY"} {
		if !strings.Contains(stderr.String(), env) {
			t.Errorf("--help does not name %s:\n%s", env, stderr.String())
		}
	}
	// Run treats --help as success.
	if err := Run(t.Context(), []string{"--help"}, func(string) string { return "" }, &stderr); err != nil {
		t.Errorf("Run --help: %v", err)
	}
}

func TestRun_badConfig(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	err := Run(t.Context(), []string{"--account-sid", "nope"}, func(string) string { return "" }, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--account-sid") {
		t.Errorf("Run = %v, want the configuration error", err)
	}
}

func TestRun_addressInUse(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var stderr bytes.Buffer
	args := []string{"--listen", busy.Addr().String(), "--db", filepath.Join(t.TempDir(), "flow.db"),
		"--account-sid", testAccountSid, "--auth-token", "tok"}
	if err := Run(t.Context(), args, func(string) string { return "" }, &stderr); err == nil {
		t.Errorf("Run on a busy address returned nil\n%s", stderr.String())
	}
}

func TestStoreKindOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		db      string
		want    storeKind
		wantErr string
	}{
		{db: "./.data/flowservice.db", want: storeSQLite},
		{db: "/var/lib/convoflow/flow.db", want: storeSQLite},
		{db: "flow.db", want: storeSQLite},
		{db: "./data:1/flow.db", want: storeSQLite},
		{db: "postgres://u@h:5432/db?sslmode=disable", want: storePostgres},
		{db: "postgresql://u:pw@h/db", want: storePostgres},
		{db: "POSTGRES://u@h/db", want: storePostgres},
		{db: "", wantErr: "--db is empty: want a postgres:// or postgresql:// URL"},
		{db: "  ", wantErr: "--db is empty"},
		{db: "mysql://x", wantErr: `--db mysql://x: "mysql" is not a store this service knows: want a postgres://`},
		{db: "mysql://root:hunter2@db/x", wantErr: `--db mysql://root:xxxxx@db/x: "mysql" is not a store`},
		{db: "file:flow.db?mode=memory", wantErr: `"file" is not a store`},
		{db: "postgres:convoflow", wantErr: `"postgres" is not a store`},
		{db: ":memory:", wantErr: "in-memory database"},
	} {
		t.Run(tc.db, func(t *testing.T) {
			t.Parallel()
			got, err := storeKindOf(tc.db)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("storeKindOf(%q) = %v, %v; want an error containing %q", tc.db, got, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q shows the password or spans lines", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("storeKindOf(%q) = %v, %v; want %v", tc.db, got, err, tc.want)
			}
		})
	}
}

func TestRedactDB(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ db, want string }{
		{"./.data/flowservice.db", "./.data/flowservice.db"},
		{"postgres://u:hunter2@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db?password=hunter2&sslpassword=hunter2", "postgresql://u@h/db?password=xxxxx&sslpassword=xxxxx"},
		{"mysql://root:hunter2@db/x?password=hunter2", "mysql://root:xxxxx@db/x?password=xxxxx"},
	} {
		if got := redactDB(tc.db); got != tc.want {
			t.Errorf("redactDB(%q) = %q, want %q", tc.db, got, tc.want)
		}
	}
}
