package load

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convoflow/convoflow/examples/tutorial"
	"github.com/convoflow/convoflow/fakes/conversations/fakeclient"
	"github.com/convoflow/convoflow/internal/twilioclient"
)

// Run is the convoflow-load program: it parses args, sets the stack up
// (publishes the flow, points --number at it, hooks the fake's delivery
// webhooks), drives the customers, prints the report to stdout (progress
// goes to stderr) and puts the fake's webhook configuration back.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := ParseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	rep, err := Drive(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}

// Drive runs the load cfg describes against a running stack and returns
// the report; progress lines go to progress (nil: none).
func Drive(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening for the fake's webhooks: %w", err)
	}
	callback := cfg.CallbackURL
	if callback == "" {
		callback = "http://" + ln.Addr().String()
	}
	callback = strings.TrimRight(callback, "/") + hookPath

	t := newTracker(time.Now)
	srv := &http.Server{Handler: &receiver{t: t, authToken: cfg.AuthToken, url: callback}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	rc, err := twilioclient.New(twilioclient.Options{AccountSID: cfg.AccountSid, AuthToken: cfg.AuthToken, BaseURL: cfg.FakeURL})
	if err != nil {
		return nil, err
	}
	flowSid, err := publish(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Via == "fake" {
		if err := tutorial.ConfigureAddress(rc, cfg.Number, flowSid); err != nil {
			return nil, fmt.Errorf("pointing %s at flow %s: %w", cfg.Number, flowSid, err)
		}
	}
	restore, err := hookDeliveries(rc, callback)
	if err != nil {
		return nil, err
	}
	defer func() { _ = restore() }()

	d := newDriver(cfg, t)
	if cfg.Via == "webhook" {
		d.hook = newWebhookSender(cfg, rc, d.fake.HTTP, flowSid)
	}
	cpu0 := cpuOf(cfg.PIDs)
	start := time.Now()
	stopProgress := d.progress(progress, start)
	d.run(ctx)
	stopProgress()
	return newReport(cfg, flowSid, t, start, cpu0, cpuOf(cfg.PIDs)), nil
}

// driver sends the customers' messages.
type driver struct {
	cfg  Config
	t    *tracker
	fake *fakeclient.Client
	// hook is set with --via webhook.
	hook *webhookSender
	// next is the next customer's phone number, from a random base so a
	// run does not text into an earlier run's conversations.
	mu        sync.Mutex
	customers []*customer
	next      int64
}

func newDriver(cfg Config, t *tracker) *driver {
	fc := fakeclient.New(cfg.FakeURL)
	conns := max(cfg.Concurrency, 64)
	fc.HTTP = &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: 90 * time.Second,
	}}
	return &driver{cfg: cfg, t: t, fake: fc, next: 2_000_000_000 + rand.Int64N(6_000_000_000)}
}

// newCustomer returns a customer with a number no one used in this run.
func (d *driver) newCustomer() *customer {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := newCustomer(fmt.Sprintf("+1%010d", d.next))
	d.next++
	d.customers = append(d.customers, c)
	return c
}

// allCustomers returns the customers so far.
func (d *driver) allCustomers() []*customer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.customers)
}

// run sends until the duration or count is reached, then waits (up to the
// timeout) for the replies still on their way.
func (d *driver) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d.cfg.Duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, d.cfg.Duration)
		defer stop()
	}
	// take hands out the right to send one message, --count of them.
	var left atomic.Int64
	left.Store(int64(d.cfg.Count))
	take := func() bool {
		return ctx.Err() == nil && (d.cfg.Count == 0 || left.Add(-1) >= 0)
	}
	var wg sync.WaitGroup
	if d.cfg.Rate == 0 {
		for range d.cfg.Concurrency {
			wg.Go(func() { d.closedLoop(ctx, take) })
		}
	} else {
		d.openLoop(ctx, take, &wg)
	}
	wg.Wait()
	d.drain()
}

// closedLoop is one customer texting, waiting for the reply, texting
// again; a customer whose reply is lost is replaced by a new one.
func (d *driver) closedLoop(ctx context.Context, take func() bool) {
	c := d.newCustomer()
	for take() {
		if !d.send(ctx, c) {
			continue
		}
		timer := time.NewTimer(d.cfg.Timeout)
		select {
		case <-c.replied:
		case <-timer.C:
			d.t.expire(c, 0)
			c = d.newCustomer()
		case <-ctx.Done():
		}
		timer.Stop()
	}
}

// openLoop sends message i at start + i/rate, whatever became of the
// earlier ones, from customer i mod --customers (a new one each time with
// --customers 0).
func (d *driver) openLoop(ctx context.Context, take func() bool, wg *sync.WaitGroup) {
	var pool []*customer
	if d.cfg.Customers > 0 {
		pool = make([]*customer, d.cfg.Customers)
	}
	interval := time.Duration(float64(time.Second) / d.cfg.Rate)
	start := time.Now()
	reap := time.NewTicker(100 * time.Millisecond)
	defer reap.Stop()
	for i := 0; ; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		select {
		case <-reap.C:
			d.reap()
		default:
		}
		if !take() {
			return
		}
		var c *customer
		if pool == nil {
			c = d.newCustomer()
		} else {
			k := i % len(pool)
			if pool[k] == nil || pool[k].retired {
				pool[k] = d.newCustomer()
			}
			c = pool[k]
		}
		wg.Go(func() { d.send(ctx, c) })
	}
}

// reap counts replies overdue in the open loop as lost; their customers
// are replaced.
func (d *driver) reap() {
	for _, c := range d.allCustomers() {
		d.t.expire(c, d.cfg.Timeout)
	}
	d.t.expireEarly(d.cfg.Timeout)
}

// send texts the bot as c; false when the message was refused.
func (d *driver) send(ctx context.Context, c *customer) bool {
	if d.hook != nil {
		return d.sendWebhook(ctx, c)
	}
	at := d.t.sending(c)
	res, err := d.fake.Inbound(context.WithoutCancel(ctx), c.number, d.cfg.Number, "load "+c.number, "")
	if err != nil {
		d.t.sentTo(c, at, "", errorKind(err))
		return false
	}
	d.t.sentTo(c, at, res.ConversationSid, "")
	return true
}

// sendWebhook is send with --via webhook.
func (d *driver) sendWebhook(ctx context.Context, c *customer) bool {
	c.open.Do(func() {
		var conv string
		conv, c.participant, c.openErr = d.hook.open(c)
		if c.openErr == nil {
			d.t.opened(c, conv)
		}
	})
	if c.openErr != nil {
		d.t.fail("opening a conversation in the fake: " + c.openErr.Error())
		return false
	}
	at := d.t.sending(c)
	if err := d.hook.post(context.WithoutCancel(ctx), c, int(c.messages.Add(1)-1)); err != nil {
		d.t.sentTo(c, at, "", errorKind(err))
		return false
	}
	return true
}

// drain waits for the replies still on their way, up to the timeout, then
// counts the rest as lost.
func (d *driver) drain() {
	deadline := time.Now().Add(d.cfg.Timeout)
	cs := d.allCustomers()
	for d.t.inFlight(cs) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range cs {
		d.t.expire(c, 0)
	}
	d.t.expireEarly(0)
}

// errorKind names an inbound failure for the report.
func errorKind(err error) string {
	var fe *fakeclient.Error
	var se *statusError
	var ue *url.Error
	switch {
	case errors.As(err, &fe):
		return fmt.Sprintf("inbound answered %d", fe.Status)
	case errors.As(err, &se):
		return se.Error()
	case errors.As(err, &ue) && ue.Timeout():
		return "inbound timed out"
	default:
		return "inbound failed: " + err.Error()
	}
}

// progress prints a line a second to w until the returned function is
// called.
func (d *driver) progress(w io.Writer, start time.Time) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := 0
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				sent, replied, errs := d.t.counts()
				fmt.Fprintf(w, "%6.1fs  sent %d  replied %d  %d/s  in flight %d  errors %d\n",
					now.Sub(start).Seconds(), sent, replied, replied-last, d.t.inFlight(d.allCustomers()), errs)
				last = replied
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
