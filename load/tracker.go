package load

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// tracker pairs each message a customer sent with the delivery of the
// flow's reply to that customer, and keeps the counts the report needs.
//
// A delivery names its conversation, not the customer, and the first
// message of a customer learns its conversation only when the fake answers
// /_fake/inbound, which may be after the reply was delivered: such
// deliveries wait in early until the conversation is known. The flow must
// answer each message with one message (the echo flow does); replies are
// matched to a customer's messages in order.
type tracker struct {
	mu       sync.Mutex
	now      func() time.Time
	byConv   map[string]*customer
	early    map[string][]time.Time
	hist     *hdrhistogram.Histogram
	sent     int
	replied  int
	errs     map[string]int
	first    time.Time
	lastRply time.Time
}

// customer is one phone number texting the bot.
type customer struct {
	number string
	conv   string
	// participant, open and openErr are --via webhook's: the customer's
	// participant in the conversation made for it, once.
	participant string
	open        sync.Once
	openErr     error
	// messages numbers the customer's messages (their Index).
	messages atomic.Int64
	// pending are the send times of messages without a reply yet, oldest
	// first.
	pending []time.Time
	// replied is signalled for each reply (the closed loop waits on it).
	replied chan struct{}
	// retired is set once a reply timed out: its conversation's later
	// deliveries are late replies and count as such.
	retired bool
}

func newTracker(now func() time.Time) *tracker {
	return &tracker{
		now: now, byConv: map[string]*customer{}, early: map[string][]time.Time{}, errs: map[string]int{},
		// 1 µs to 10 min at three significant digits.
		hist: hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3),
	}
}

func newCustomer(number string) *customer {
	return &customer{number: number, replied: make(chan struct{}, 1)}
}

// sending records that c sends a message now and returns the time.
func (t *tracker) sending(c *customer) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := t.now()
	if t.first.IsZero() {
		t.first = at
	}
	t.sent++
	c.pending = append(c.pending, at)
	return at
}

// sentTo records the fake's answer to c's message sent at at: its
// conversation, or an error of kind (then the message expects no reply).
func (t *tracker) sentTo(c *customer, at time.Time, conv string, kind string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if kind != "" {
		t.errs[kind]++
		t.sent--
		if i := slices.Index(c.pending, at); i >= 0 {
			c.pending = slices.Delete(c.pending, i, i+1)
		}
		return
	}
	t.learnLocked(c, conv)
}

// opened records the conversation made for c before its first message.
func (t *tracker) opened(c *customer, conv string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.learnLocked(c, conv)
}

// learnLocked records that c's conversation is conv, the first time, and
// matches the deliveries that came before it was known.
func (t *tracker) learnLocked(c *customer, conv string) {
	if c.conv != "" {
		return
	}
	c.conv = conv
	t.byConv[conv] = c
	for _, at := range t.early[conv] {
		t.matchLocked(c, at)
	}
	delete(t.early, conv)
}

// delivered records a delivery receipt for conversation conv at time at.
func (t *tracker) delivered(conv string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.byConv[conv]
	if c == nil {
		t.early[conv] = append(t.early[conv], at)
		return
	}
	t.matchLocked(c, at)
}

func (t *tracker) matchLocked(c *customer, at time.Time) {
	if c.retired || len(c.pending) == 0 {
		t.errs["reply after its message timed out, or unasked"]++
		return
	}
	sent := c.pending[0]
	c.pending = c.pending[1:]
	_ = t.hist.RecordValue(max(1, int64(at.Sub(sent)/time.Microsecond)))
	t.replied++
	if at.After(t.lastRply) {
		t.lastRply = at
	}
	select {
	case c.replied <- struct{}{}:
	default:
	}
}

// expire counts the messages of c older than timeout as lost and retires c
// if any was; it reports whether c was retired.
func (t *tracker) expire(c *customer, timeout time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	cut := t.now().Add(-timeout)
	n := 0
	for n < len(c.pending) && !c.pending[n].After(cut) {
		n++
	}
	if n == 0 {
		return c.retired
	}
	t.errs["no reply within the timeout"] += n
	c.pending = c.pending[n:]
	c.retired = true
	return true
}

// expireEarly drops deliveries for conversations no customer claimed
// within timeout (a previous run's late replies, say).
func (t *tracker) expireEarly(timeout time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cut := t.now().Add(-timeout)
	for conv, ats := range t.early {
		if len(ats) > 0 && ats[len(ats)-1].Before(cut) {
			t.errs["reply in a conversation this run did not start"] += len(ats)
			delete(t.early, conv)
		}
	}
}

// inFlight counts messages waiting for their reply.
func (t *tracker) inFlight(cs []*customer) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range cs {
		n += len(c.pending)
	}
	return n
}

// counts returns the running totals.
func (t *tracker) counts() (sent, replied, errs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.errs {
		errs += n
	}
	return t.sent, t.replied, errs
}

// fail counts an error of kind.
func (t *tracker) fail(kind string) {
	t.mu.Lock()
	t.errs[kind]++
	t.mu.Unlock()
}
