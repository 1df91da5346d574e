package load

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is what one run does; ParseConfig fills it from the command line.
type Config struct {
	// FakeURL is the Conversations fake the customers text through
	// (/_fake/inbound) and whose API the setup calls.
	FakeURL string
	// AccountSid and AuthToken are the fake's credentials: its API takes
	// them, and its webhooks are signed with the token.
	AccountSid, AuthToken string
	// FlowServiceURL and APIKey reach FlowService to publish the flow;
	// unused with FlowSid.
	FlowServiceURL, APIKey string
	// FlowFile is the definition to publish ("" is the echo flow); FlowSid
	// names a published flow to use instead.
	FlowFile, FlowSid string
	// Number is the bot's SMS number: the setup points it at the flow.
	Number string
	// Via is how a customer's message reaches FlowService: "fake" (an
	// inbound SMS through /_fake/inbound, and the fake's studio webhook)
	// or "webhook" (a signed onMessageAdded posted straight to FlowService,
	// into a conversation made in the fake beforehand).
	Via string

	// Rate is the open loop's messages per second; 0 runs a closed loop of
	// Concurrency customers, each texting again as soon as it has its reply.
	Rate        float64
	Concurrency int
	// Customers is how many customers the open loop cycles through; 0 gives
	// every message a new customer (and so a new conversation).
	Customers int
	// Duration bounds the run, Count the messages sent (0: no bound).
	Duration time.Duration
	Count    int
	// Timeout is how long a reply may take before it counts as lost.
	Timeout time.Duration

	// Listen is where the delivery webhooks are received; CallbackURL, the
	// URL the fake calls (default http://<Listen's address>).
	Listen, CallbackURL string
	// PIDs names processes whose CPU time the report shares out per reply.
	PIDs map[string]int
	JSON bool
}

// Default ports are make run's.
const (
	defaultFake        = "http://127.0.0.1:8083"
	defaultFlowService = "http://127.0.0.1:8081"
	defaultNumber      = "+15005550199"
)

// ParseConfig parses args (flags; FLOWSERVICE_API_KEY supplies the key when
// --api-key is absent, as for the service itself).
func ParseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := Config{PIDs: map[string]int{}}
	fs := flag.NewFlagSet("convoflow-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.FakeURL, "fake", defaultFake, "base URL of the Conversations fake")
	fs.StringVar(&c.AccountSid, "account-sid", "AC00000000000000000000000000000000", "the fake's account SID")
	fs.StringVar(&c.AuthToken, "auth-token", "faketoken123", "the fake's auth token (signs its webhooks)")
	fs.StringVar(&c.FlowServiceURL, "flow-service", defaultFlowService, "base URL of FlowService (to publish the flow)")
	fs.StringVar(&c.APIKey, "api-key", getenv("FLOWSERVICE_API_KEY"), "FlowService's API key (default $FLOWSERVICE_API_KEY)")
	fs.StringVar(&c.FlowFile, "flow", "", "Studio flow definition to publish (default: an echo flow, trigger -> send-message)")
	fs.StringVar(&c.FlowSid, "flow-sid", "", "use this published flow (FW…) instead of publishing one")
	fs.StringVar(&c.Number, "number", defaultNumber, "the bot's number, pointed at the flow")
	fs.StringVar(&c.Via, "via", "fake", "how messages reach FlowService: fake (inbound SMS through the fake) or webhook (signed onMessageAdded posted to FlowService)")
	fs.Float64Var(&c.Rate, "rate", 0, "messages per second (open loop); 0 runs a closed loop of --concurrency customers")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "closed loop: customers each waiting for their reply before texting again")
	fs.IntVar(&c.Customers, "customers", 1000, "open loop: customers the messages cycle through; 0 makes every message a new conversation")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to send (0: until --count)")
	fs.IntVar(&c.Count, "count", 0, "how many messages to send (0: until --duration)")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "how long a reply may take before it counts as lost")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address to receive the fake's delivery webhooks on")
	fs.StringVar(&c.CallbackURL, "callback-url", "", "URL the fake calls for them (default http://<listen address>)")
	fs.Func("pid", "NAME=PID of a process whose CPU per reply to report (repeatable), e.g. flowservice=$(pgrep -x flowservice)", func(v string) error {
		name, pid, ok := strings.Cut(v, "=")
		n, err := strconv.Atoi(pid)
		if !ok || name == "" || err != nil || n <= 0 {
			return errors.New("want NAME=PID")
		}
		c.PIDs[name] = n
		return nil
	})
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	for name, u := range map[string]string{"--fake": c.FakeURL, "--flow-service": c.FlowServiceURL, "--callback-url": c.CallbackURL} {
		if u == "" && name == "--callback-url" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want an http(s) URL", name, u))
		}
	}
	switch {
	case c.Rate < 0:
		errs = append(errs, fmt.Errorf("--rate %v is negative", c.Rate))
	case c.Rate == 0 && c.Concurrency < 1:
		errs = append(errs, fmt.Errorf("--concurrency %d: want at least 1", c.Concurrency))
	}
	if c.Via != "fake" && c.Via != "webhook" {
		errs = append(errs, fmt.Errorf("--via %q: want fake or webhook", c.Via))
	}
	if c.Customers < 0 {
		errs = append(errs, fmt.Errorf("--customers %d is negative", c.Customers))
	}
	if c.Duration < 0 || c.Count < 0 || (c.Duration == 0 && c.Count == 0) {
		errs = append(errs, errors.New("want a positive --duration or --count"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %v: want a positive duration", c.Timeout))
	}
	if c.FlowSid != "" && c.FlowFile != "" {
		errs = append(errs, errors.New("--flow and --flow-sid exclude each other"))
	}
	if c.FlowSid != "" && (len(c.FlowSid) != 34 || !strings.HasPrefix(c.FlowSid, "FW")) {
		errs = append(errs, fmt.Errorf("--flow-sid %q: want FW and 32 hex digits", c.FlowSid))
	}
	if !strings.HasPrefix(c.Number, "+") || len(c.Number) < 8 {
		errs = append(errs, fmt.Errorf("--number %q: want an E.164 number", c.Number))
	}
	return errors.Join(errs...)
}
