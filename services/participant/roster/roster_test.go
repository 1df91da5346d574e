package roster_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/participant/roster"
)

const validYAML = `
agents:
  - name: alice
    address: "+15005550001"
    proxy_address: "+15005550000"
    capacity: 2
    pools: [support]
  - name: bob
    address: "+15005550002"
    capacity: 1
    pools: [support, billing]
  - name: carol
    address: "whatsapp:+15005550003"
    proxy_address: "whatsapp:+15005550000"
    capacity: 3
`

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    string
		want    int      // agents
		wantErr []string // substrings, all reported at once
	}{
		{name: "yaml", data: validYAML, want: 3},
		{name: "several_proxies", data: "agents:\n  - name: dave\n    address: \"+15005550004\"\n    proxy_addresses: [\"+15005550000\", \"+15005550009\"]\n    capacity: 2\n", want: 1},
		{name: "json", data: `{"agents":[{"name":"a","address":"+15005550001","capacity":1}]}`, want: 1},
		{name: "empty", data: `agents: []`, want: 0},
		{name: "proxy_and_proxies", data: "agents:\n  - name: a\n    address: \"+15005550001\"\n    proxy_address: \"+15005550000\"\n    proxy_addresses: [\"+15005550009\"]\n    capacity: 1\n", wantErr: []string{"not both"}},
		{name: "bad_and_repeated_proxies", data: "agents:\n  - name: a\n    address: \"+15005550001\"\n    proxy_addresses: [\"+15005550000\", \"whatsapp:+15005550009\", \"+15005550000\"]\n    capacity: 2\n", wantErr: []string{"agents[0]: invalid", "+15005550000 is listed twice"}},
		{name: "unknown_key", data: "agents:\n  - name: a\n    address: \"+15005550001\"\n    capcity: 1\n", wantErr: []string{"capcity"}},
		{
			name: "every_problem_at_once",
			data: `
agents:
  - name: a
    address: "5550001"
    capacity: 0
  - name: a
    address: "+15005550001"
    proxy_address: "whatsapp:+15005550000"
    capacity: 1
  - address: "+15005550001"
    capacity: 1
`,
			wantErr: []string{
				`agents[0]: invalid address "5550001"`,
				"agents[0]: capacity must be at least 1",
				`agents[1]: name "a" is already used by agents[0]`,
				"agents[1]: invalid address",
				"agents[2]: name is required",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := roster.Parse([]byte(tt.data))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("Parse succeeded, want an error")
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Agents) != tt.want {
				t.Fatalf("got %d agents, want %d", len(r.Agents), tt.want)
			}
		})
	}
}

func TestAgentProxies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		agent roster.Agent
		want  []string
	}{
		{roster.Agent{}, nil},
		{roster.Agent{ProxyAddress: "+15005550000"}, []string{"+15005550000"}},
		{roster.Agent{ProxyAddresses: []string{"+15005550000", "+15005550009"}}, []string{"+15005550000", "+15005550009"}},
	} {
		if got := tt.agent.Proxies(); !slices.Equal(got, tt.want) {
			t.Errorf("%+v.Proxies() = %v, want %v", tt.agent, got, tt.want)
		}
	}
}

func TestPick(t *testing.T) {
	t.Parallel()
	r, err := roster.Parse([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	in := func(names ...string) func(roster.Agent) bool {
		return func(a roster.Agent) bool {
			for _, n := range names {
				if a.Name == n {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name     string
		pool     string
		loads    map[string]int
		excluded func(roster.Agent) bool
		want     string
		wantErr  bool
	}{
		{name: "least_loaded_wins", pool: "", loads: map[string]int{"alice": 1, "bob": 0, "carol": 2}, want: "bob"},
		{name: "pool_filters", pool: "billing", loads: map[string]int{}, want: "bob"},
		{name: "at_capacity_skipped", pool: "support", loads: map[string]int{"alice": 1, "bob": 1}, want: "alice"},
		{name: "already_in_conversation_skipped", pool: "support", loads: map[string]int{}, excluded: in("alice"), want: "bob"},
		{name: "all_full", pool: "support", loads: map[string]int{"alice": 2, "bob": 1}, wantErr: true},
		{name: "all_present", pool: "billing", excluded: in("bob"), wantErr: true},
		{name: "unknown_pool", pool: "sales", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p roster.Picker
			got, err := p.Pick(r, tt.pool, tt.loads, tt.excluded)
			if tt.wantErr {
				if !errors.Is(err, roster.ErrNoAgentAvailable) {
					t.Fatalf("Pick err = %v, want ErrNoAgentAvailable", err)
				}
				return
			}
			if err != nil || got.Name != tt.want {
				t.Fatalf("Pick = %q, %v; want %q", got.Name, err, tt.want)
			}
		})
	}
}

func TestPickRoundRobinAmongTies(t *testing.T) {
	t.Parallel()
	r, err := roster.Parse([]byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	var p roster.Picker
	var got []string
	for range 6 {
		a, err := p.Pick(r, "", map[string]int{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.Name)
	}
	want := "alice bob carol alice bob carol"
	if strings.Join(got, " ") != want {
		t.Fatalf("picks = %v, want %s", got, want)
	}
}

func TestFileReload(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "agents.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(validYAML)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := roster.OpenFile(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Roster().Agents); n != 3 {
		t.Fatalf("agents = %d, want 3", n)
	}

	write("agents:\n  - name: dave\n    address: \"+15005550004\"\n    capacity: 1\n")
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := f.Roster().Agents[0].Name; got != "dave" {
		t.Fatalf("after reload first agent = %q, want dave", got)
	}

	write("agents: [oops")
	if err := f.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if got := f.Roster().Agents[0].Name; got != "dave" {
		t.Fatalf("a failed reload replaced the roster: first agent = %q", got)
	}

	// Watch picks up a change by itself.
	ctx := t.Context()
	go f.Watch(ctx, 10*time.Millisecond)
	write("agents:\n  - name: erin-from-watch\n    address: \"+15005550005\"\n    capacity: 1\n")
	deadline := time.Now().Add(5 * time.Second)
	for f.Roster().Agents[0].Name != "erin-from-watch" {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not reload the changed file")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenFileMissing(t *testing.T) {
	t.Parallel()
	_, err := roster.OpenFile(filepath.Join(t.TempDir(), "nope.yaml"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("OpenFile of a missing file succeeded")
	}
}

// The example roster that `make run` loads must stay valid.
func TestExampleRoster(t *testing.T) {
	t.Parallel()
	r, err := roster.Load(filepath.Join("..", "..", "..", "examples", "agents.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Agents) == 0 {
		t.Fatal("the example roster has no agents")
	}
}
