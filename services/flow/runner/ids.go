package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"strconv"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// sidHandoff is the engine's IDGen. It lets the runner choose the SID of the
// execution engine.Start is about to create: engine.Trigger has no field for
// it, and the runner needs it chosen in advance so that replaying an event
// after a crash recreates the same execution SID, hence the same send
// idempotency keys ("<execution SID>/<step>").
//
// Start mints exactly one "FN" SID, synchronously on the caller's goroutine,
// before any widget runs. handoff takes a lock, parks the chosen SID, and the
// next NewSID("FN") takes it and releases the lock, so concurrent Starts only
// serialise for the few microseconds between the call and the mint. "FT" (and
// any other) SIDs come from the configured generator without the lock.
type sidHandoff struct {
	base engine.IDGen
	// mu is held from handoff until the parked SID is taken (or given back).
	mu     sync.Mutex
	parked *parkedSID
}

type parkedSID struct {
	sid   string
	taken bool
}

func (g *sidHandoff) NewSID(prefix string) string {
	if prefix == store.PrefixExecution {
		// Only a Start holding the lock can be here with a parked SID:
		// every Start goes through startWithSID.
		if p := g.parked; p != nil {
			g.parked = nil
			p.taken = true
			g.mu.Unlock()
			return p.sid
		}
	}
	return g.base.NewSID(prefix)
}

// handoff parks sid for the next execution SID and returns a function to
// call after engine.Start returned: it releases the lock if Start failed
// before minting the SID.
func (g *sidHandoff) handoff(sid string) (done func()) {
	g.mu.Lock()
	p := &parkedSID{sid: sid}
	g.parked = p
	return func() {
		// p.taken was written on this goroutine (Start mints the SID
		// synchronously), so reading it here needs no lock.
		if !p.taken {
			g.parked = nil
			g.mu.Unlock()
		}
	}
}

// eventExecutionSID derives the SID of the execution an event starts from
// the event's store-wide ID and flow: the same on every replay of that event.
func eventExecutionSID(flowSid string, eventID int64) string {
	sum := sha256.Sum256([]byte("convoflow/runner/event-execution/" + flowSid + "/" + strconv.FormatInt(eventID, 10)))
	return store.PrefixExecution + hex.EncodeToString(sum[:16])
}
