package roster

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNoAgentAvailable is returned by [Picker.Pick] when every agent of the
// pool is already in the conversation or at capacity.
var ErrNoAgentAvailable = errors.New("no support agent available")

// Picker chooses agents. It remembers the last choice so that agents tied on
// load take turns; the zero value is ready to use and safe for concurrent use.
type Picker struct {
	mu   sync.Mutex
	turn uint64
}

// Pick returns the agent to add: one of the roster's agents in pool, not
// excluded (already a participant of the conversation), whose load (loads
// keyed by agent name, as counted by the caller) is under capacity, with the
// lowest load; among equally loaded agents the choice rotates.
func (p *Picker) Pick(r *Roster, pool string, loads map[string]int, excluded func(Agent) bool) (Agent, error) {
	var tied []Agent
	best := -1
	inPool := 0
	for _, a := range r.Agents {
		if !a.InPool(pool) {
			continue
		}
		inPool++
		if excluded != nil && excluded(a) {
			continue
		}
		load := loads[a.Name]
		if load >= a.Capacity {
			continue
		}
		switch {
		case best == -1 || load < best:
			best, tied = load, []Agent{a}
		case load == best:
			tied = append(tied, a)
		}
	}
	if len(tied) == 0 {
		if inPool == 0 {
			return Agent{}, fmt.Errorf("%w: the roster has no agent in pool %q", ErrNoAgentAvailable, poolName(pool))
		}
		return Agent{}, fmt.Errorf("%w: all %d agents of pool %q are in the conversation or at capacity", ErrNoAgentAvailable, inPool, poolName(pool))
	}
	p.mu.Lock()
	i := p.turn % uint64(len(tied))
	p.turn++
	p.mu.Unlock()
	return tied[i], nil
}

func poolName(pool string) string {
	if pool == "" {
		return "(any)"
	}
	return pool
}
