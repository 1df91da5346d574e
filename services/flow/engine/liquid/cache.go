package liquid

import (
	"sync"

	"github.com/osteele/liquid/render"
)

// cacheEntry is a parsed template, or the error parsing it gave.
type cacheEntry struct {
	root render.Node
	err  error
	// loops tells Render to set up the per-render loop budget; templates
	// without loops skip that copy of the bindings.
	loops bool
	// conditions tells Render to normalise json.Number values, which the
	// library compares as strings (see normalizeNumbers).
	conditions bool
	// plan, when not nil, renders the template without the library (see
	// fastpath.go).
	plan []segment
}

// templateCache maps template source to its parse result. Reads take only
// a read lock, since a hot flow renders the same few templates over and
// over; when the cache is full an arbitrary entry is evicted (Go's map
// iteration order is randomised, so this is random replacement), which
// needs no bookkeeping on the read path and keeps the cache bounded.
type templateCache struct {
	mu      sync.RWMutex
	max     int
	entries map[string]cacheEntry
}

// newTemplateCache returns a cache of at most max entries; max < 0 keeps
// nothing.
func newTemplateCache(max int) *templateCache {
	return &templateCache{max: max, entries: make(map[string]cacheEntry)}
}

func (c *templateCache) get(src string) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.entries[src]
	c.mu.RUnlock()
	return e, ok
}

func (c *templateCache) put(src string, e cacheEntry) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[src]; !ok && len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[src] = e
}

func (c *templateCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
