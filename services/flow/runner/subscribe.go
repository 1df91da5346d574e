package runner

import (
	"sync"

	"github.com/convoflow/convoflow/services/flow/store"
)

// hub fans committed steps out to Subscribe channels. Publishing never
// blocks the worker that committed: each subscriber has an unbounded queue
// drained by its own goroutine into its channel.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

type subscriber struct {
	out    chan store.Step
	mu     sync.Mutex
	queue  []store.Step
	closed bool // no more steps will be queued
	wake   chan struct{}
	stop   chan struct{}
	once   sync.Once
}

func newHub() *hub { return &hub{subs: map[string]map[*subscriber]struct{}{}} }

func (h *hub) subscribe(sid string) (<-chan store.Step, func()) {
	s := &subscriber{out: make(chan store.Step), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	h.mu.Lock()
	if h.subs[sid] == nil {
		h.subs[sid] = map[*subscriber]struct{}{}
	}
	h.subs[sid][s] = struct{}{}
	h.mu.Unlock()
	go s.pump()
	cancel := func() {
		h.mu.Lock()
		delete(h.subs[sid], s)
		if len(h.subs[sid]) == 0 {
			delete(h.subs, sid)
		}
		h.mu.Unlock()
		s.once.Do(func() { close(s.stop) })
	}
	return s.out, cancel
}

// publish queues steps for the execution's subscribers and, when ended,
// closes their channels after the last one.
func (h *hub) publish(sid string, steps []store.Step, ended bool) {
	h.mu.Lock()
	subs := h.subs[sid]
	if ended {
		delete(h.subs, sid)
	}
	h.mu.Unlock()
	for s := range subs {
		s.push(steps, ended)
	}
}

// end closes the execution's subscriptions (it ended without steps).
func (h *hub) end(sid string) { h.publish(sid, nil, true) }

func (s *subscriber) push(steps []store.Step, last bool) {
	s.mu.Lock()
	if !s.closed {
		s.queue = append(s.queue, steps...)
		s.closed = last
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) pump() {
	defer close(s.out)
	for {
		s.mu.Lock()
		q, closed := s.queue, s.closed
		s.queue = nil
		s.mu.Unlock()
		for _, st := range q {
			select {
			case s.out <- st:
			case <-s.stop:
				return
			}
		}
		if closed && len(q) == 0 {
			return
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-s.stop:
			return
		}
	}
}
