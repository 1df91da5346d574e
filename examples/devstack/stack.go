package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one server of the stack running as a child process.
type proc struct {
	name   string
	health string // URL answering 200 when the server is ready
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed
}

// stack is the three servers, started in dependency order.
type stack struct {
	procs []*proc
}

// startStack starts the fake, FlowService and ParticipantService with the
// same wiring as docker/compose.yaml and waits until each is healthy.
func startStack(ctx context.Context, c config) (*stack, error) {
	logs := filepath.Join(c.data, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	creds := []string{"--account-sid", accountSid, "--auth-token", authToken}
	// The key reaches the services in the environment, as deployments pass
	// secrets, so it does not show in ps.
	keyEnv := []string{"FLOWSERVICE_API_KEY=" + c.apiKey, "PARTICIPANTSERVICE_API_KEY=" + c.apiKey}
	specs := []struct {
		name, health string
		args         []string
	}{
		{
			name:   "fakeconversations",
			health: c.fakeURL() + "/_fake/healthz",
			args: append([]string{
				"--listen", "127.0.0.1:" + strconv.Itoa(c.fakePort),
				"--studio-url", c.flowURL(),
			}, creds...),
		},
		{
			name:   "flowservice",
			health: c.flowURL() + "/healthz",
			args: append([]string{
				"--listen", "127.0.0.1:" + strconv.Itoa(c.flowPort),
				"--db", filepath.Join(c.data, "flowservice.db"),
				"--conversations-url", c.fakeURL(),
				"--public-url", c.flowURL(),
				"--function-map", functionHost + "=" + c.partyURL() + "/functions",
			}, creds...),
		},
		{
			name:   "participantservice",
			health: c.partyURL() + "/healthz",
			args: append([]string{
				"--listen", "127.0.0.1:" + strconv.Itoa(c.partyPort),
				"--conversations-url", c.fakeURL(),
				"--agents", c.agents,
				"--default-proxy-address", twilioNumber,
				// FlowService's --function-map target: the URL its
				// X-Twilio-Signature covers.
				"--public-url", c.partyURL(),
			}, creds...),
		},
	}
	s := &stack{}
	for _, sp := range specs {
		p, err := startProc(filepath.Join(c.bin, sp.name), sp.name, sp.health, filepath.Join(logs, sp.name+".log"), sp.args, keyEnv)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.procs = append(s.procs, p)
		if err := p.waitHealthy(ctx, 60*time.Second); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

func startProc(bin, name, health, logPath string, args, env []string) (*proc, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %w (build it with `make build`)", name, err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C in the terminal reaches devstack alone,
	// which then stops the servers in reverse order instead of all at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, health: health, log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.health, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited during start-up (%v); its log %s ends with:\n%s", p.name, p.err, p.log, tail(p.log, 15))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy at %s after %s; see %s", p.name, p.health, limit, p.log)
		}
	}
}

// stop ends the servers in reverse start order: SIGTERM, then SIGKILL for
// one that has not finished its graceful shutdown in 20 s.
func (s *stack) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
}

// exited returns a channel closed when any server stops by itself.
func (s *stack) exited() <-chan *proc {
	ch := make(chan *proc, len(s.procs))
	for _, p := range s.procs {
		go func() {
			<-p.exited
			ch <- p
		}()
	}
	return ch
}

// running reports whether a stack already answers on the configured ports.
func running(ctx context.Context, c config) (bool, error) {
	client := &http.Client{Timeout: time.Second}
	up := 0
	urls := []string{c.fakeURL() + "/_fake/healthz", c.flowURL() + "/healthz", c.partyURL() + "/healthz"}
	for _, u := range urls {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				up++
			}
		}
	}
	switch up {
	case 0:
		return false, nil
	case len(urls):
		return true, nil
	default:
		return false, errors.New("only part of the stack answers on ports " +
			strings.Join([]string{strconv.Itoa(c.fakePort), strconv.Itoa(c.flowPort), strconv.Itoa(c.partyPort)}, ", ") +
			"; stop it or start all of it with `make run`")
	}
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
