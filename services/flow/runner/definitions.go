package runner

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"

	"github.com/convoflow/convoflow/services/flow/engine"
	"github.com/convoflow/convoflow/services/flow/store"
)

// maxCachedDefinitions bounds the parsed-definition cache. Revisions never
// change once saved, so entries never go stale; the bound only caps memory.
const maxCachedDefinitions = 1024

// defCache keeps parsed definitions per (flow, revision). Parsing is the
// costly part of loading a revision, and a parsed engine.Definition also
// carries the engine's compiled widgets, so reusing it saves both.
type defCache struct {
	mu   sync.Mutex
	defs map[string]*parsedDef
}

type parsedDef struct {
	def *engine.Definition
	// needs says which conversation data the definition reads, so the
	// runner fetches only what it uses from the Conversations API.
	needsChannelAttributes bool
	needsFlowChannel       bool
}

func newDefCache() *defCache { return &defCache{defs: map[string]*parsedDef{}} }

func defKey(flowSid string, revision int) string {
	return flowSid + "/" + strconv.Itoa(revision)
}

func (c *defCache) lookup(flowSid string, revision int) *engine.Definition {
	if p := c.lookupParsed(flowSid, revision); p != nil {
		return p.def
	}
	return nil
}

func (c *defCache) lookupParsed(flowSid string, revision int) *parsedDef {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.defs[defKey(flowSid, revision)]
}

// get returns f's definition parsed, from the cache when it is there.
func (c *defCache) get(f store.Flow) (*engine.Definition, error) {
	p, err := c.getParsed(f)
	if err != nil {
		return nil, err
	}
	return p.def, nil
}

func (c *defCache) getParsed(f store.Flow) (*parsedDef, error) {
	if p := c.lookupParsed(f.SID, f.Revision); p != nil {
		return p, nil
	}
	def, err := engine.Parse(f.Definition)
	if err != nil {
		return nil, fmt.Errorf("runner: flow %s revision %d: %w", f.SID, f.Revision, err)
	}
	p := &parsedDef{
		def:                    def,
		needsChannelAttributes: bytes.Contains(f.Definition, []byte("ChannelAttributes")),
		needsFlowChannel:       bytes.Contains(f.Definition, []byte("flow.channel")),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.defs) >= maxCachedDefinitions {
		// Revisions are immutable, so dropping everything is only a
		// performance event; a real LRU is not worth it at this size.
		c.defs = map[string]*parsedDef{}
	}
	c.defs[defKey(f.SID, f.Revision)] = p
	return p, nil
}
