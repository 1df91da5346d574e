package conversations

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"path"
	"slices"
	"sync"
	"time"
)

// Fault makes matching API requests misbehave, for testing how clients
// cope with Twilio's failures.
type Fault struct {
	ID int `json:"id"`
	// Method matches the HTTP method; empty matches any.
	Method string `json:"method"`
	// Path is a path.Match pattern over the request path, e.g.
	// /v1/Conversations/*/Participants; empty matches any.
	Path string `json:"path"`
	// Status and Code make the request fail with a Twilio error body
	// (Message optional). Status 0 lets the request through after Latency.
	Status  int    `json:"status"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	// Latency is added before the request is handled (or failed).
	Latency time.Duration `json:"latency"`
	// Drop closes the connection without an answer.
	Drop bool `json:"drop"`
	// Count limits the fault to the next Count matching requests; 0 = unlimited.
	Count int `json:"count"`
	// Probability in (0,1] applies the fault to that share of matching
	// requests; 0 means always.
	Probability float64 `json:"probability"`
}

type faultSet struct {
	mu     sync.Mutex
	rng    *rand.Rand
	nextID int
	list   []*Fault
}

func newFaultRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed^0xfa017, seed)) }

// errDropped tells the API wrapper that the connection was dropped.
type errDropped struct{}

func (errDropped) Error() string { return "connection dropped by injected fault" }

// InjectFault adds f and returns its ID.
func (s *Server) InjectFault(f Fault) (int, error) {
	if f.Path != "" {
		if _, err := path.Match(f.Path, "/"); err != nil {
			return 0, errors.New("fault path: " + err.Error())
		}
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return 0, errors.New("fault status must be between 400 and 599")
	}
	if f.Probability < 0 || f.Probability > 1 || f.Count < 0 || f.Latency < 0 {
		return 0, errors.New("fault probability must be in [0,1], count and latency non-negative")
	}
	if f.Status == 0 && !f.Drop && f.Latency == 0 {
		return 0, errors.New("fault needs a status, a latency or drop")
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.nextID++
	f.ID = s.faults.nextID
	s.faults.list = append(s.faults.list, &f)
	return f.ID, nil
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() { s.faults.clear() }

// Faults returns the active faults.
func (s *Server) Faults() []Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make([]Fault, len(s.faults.list))
	for i, f := range s.faults.list {
		out[i] = *f
	}
	return out
}

func (fs *faultSet) clear() {
	fs.mu.Lock()
	fs.list = nil
	fs.mu.Unlock()
}

// pick returns the fault that applies to r, consuming one of its uses.
func (fs *faultSet) pick(r *http.Request) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.list {
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if f.Path != "" {
			if ok, _ := path.Match(f.Path, r.URL.Path); !ok {
				continue
			}
		}
		if f.Probability > 0 && fs.rng.Float64() >= f.Probability {
			continue
		}
		hit := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				fs.list = slices.DeleteFunc(fs.list, func(x *Fault) bool { return x == f })
			}
		}
		return hit, true
	}
	return Fault{}, false
}

// apply runs the fault matching r, if any. A returned error ends the request.
func (fs *faultSet) apply(w http.ResponseWriter, r *http.Request) error {
	f, ok := fs.pick(r)
	if !ok {
		return nil
	}
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return errDropped{}
		}
	}
	if f.Drop {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		} else {
			panic(http.ErrAbortHandler)
		}
		return errDropped{}
	}
	if f.Status != 0 {
		code := f.Code
		if code == 0 {
			code = f.Status
		}
		msg := f.Message
		if msg == "" {
			msg = "Injected fault: " + http.StatusText(f.Status)
		}
		return newError(f.Status, code, "%s", msg)
	}
	return nil
}
