package liquid

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // America/Los_Angeles must load on hosts without a zoneinfo database (scratch images).
	"unicode/utf8"

	"github.com/osteele/liquid/expressions"
	"github.com/osteele/liquid/filters"
	"github.com/osteele/liquid/parser"
	"github.com/osteele/liquid/render"
	"github.com/osteele/liquid/tags"
)

// Studio's documented Liquid limits (studio.md §5 and §8).
const (
	// MaxOutputBytes is the largest rendered string Studio allows (16 KB).
	MaxOutputBytes = 16 * 1024
	// MaxLoopIterations is the most iterations one for or tablerow loop may
	// run; the next iteration fails the render with [ErrLoopLimit].
	MaxLoopIterations = 15
	// MaxRenderIterations bounds the iterations of all loops of one render
	// together. Studio documents only the per-loop limit; without a total,
	// six nested loops of 15 would run 11 million iterations. Three fully
	// nested loops still fit.
	MaxRenderIterations = MaxLoopIterations * MaxLoopIterations * MaxLoopIterations
	// DefaultCacheSize is the number of parsed templates a [Renderer] keeps
	// when [Options.CacheSize] is zero.
	DefaultCacheSize = 4096
	// maxValueBytes caps any single string a filter or an output tag
	// produces along the way (inside capture or assign, before the output
	// limit can see it), so that a template doubling a string in a loop
	// fails instead of exhausting memory. It is generous: a Run Function
	// response, the largest input, is at most 64 kB.
	maxValueBytes = 256 * 1024
)

var (
	// ErrOutputTooLarge is wrapped by the error Render returns when the
	// rendered string would exceed [MaxOutputBytes], or a value built along
	// the way exceeds an internal cap.
	ErrOutputTooLarge = errors.New("liquid output exceeds 16 KB")
	// ErrLoopLimit is wrapped by the error Render returns when a loop
	// reaches its 16th iteration, or all loops of the render together pass
	// [MaxRenderIterations].
	ErrLoopLimit = errors.New("liquid loop exceeds 15 iterations")
	// ErrSyntax is wrapped by the error Render and Check return for a
	// template that does not parse.
	ErrSyntax = errors.New("liquid syntax error")
	// ErrInternal is wrapped by the error Render returns when the Liquid
	// library or a filter panicked. The panic is recovered so that no
	// template can crash the process; seeing this error means a bug here.
	ErrInternal = errors.New("internal error in the liquid renderer")
)

// TemplateError is the error Render and Check return: the template and
// what went wrong with it. Err wraps [ErrSyntax], [ErrOutputTooLarge],
// [ErrLoopLimit] or [ErrInternal] where one of those applies, and otherwise
// the library's render error (an undefined filter, a division by zero).
type TemplateError struct {
	Template string
	Err      error
}

// Error reports the problem and the start of the template.
func (e *TemplateError) Error() string {
	const maxShown = 80
	tpl := e.Template
	if len(tpl) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(tpl[cut]) {
			cut-- // do not split a character
		}
		tpl = tpl[:cut] + "…"
	}
	return fmt.Sprintf("liquid template %q: %v", tpl, e.Err)
}

// Unwrap returns Err.
func (e *TemplateError) Unwrap() error { return e.Err }

// Options configure a [Renderer]. The zero value is Studio's behaviour on
// the real clock.
type Options struct {
	// Location is the time zone of the date filter, for output and for
	// parsing times that carry no zone. Studio documents PST, so the
	// default is America/Los_Angeles.
	Location *time.Location
	// Now is the clock behind "now" and "today" in the date filter. The
	// engine injects its own so renders are deterministic. Default time.Now.
	Now func() time.Time
	// CacheSize bounds the number of parsed templates kept. Default
	// [DefaultCacheSize]; a negative value disables caching.
	CacheSize int
}

// Renderer renders Studio Liquid templates. It is safe for concurrent use;
// parsed templates are cached, so each distinct template string is parsed
// once while it stays in the cache.
type Renderer struct {
	cfg render.Config
	// filters holds the name of every filter cfg has; written by New only.
	filters map[string]bool
	loc     *time.Location
	now     func() time.Time
	cache   *templateCache
	// synthMu serialises the building of synthetic nodes (see tree.go),
	// which hands a render function to a tag compiler through synthPending.
	synthMu      sync.Mutex
	synthCfg     render.Config
	synthPending func(io.Writer, render.Context) error
}

// New returns a Renderer configured by opts.
func New(opts Options) *Renderer {
	r := &Renderer{loc: opts.Location, now: opts.Now, filters: map[string]bool{}}
	if r.loc == nil {
		loc, err := time.LoadLocation("America/Los_Angeles")
		if err != nil {
			// Unreachable: time/tzdata is linked in.
			panic(fmt.Sprintf("liquid: loading America/Los_Angeles: %v", err))
		}
		r.loc = loc
	}
	if r.now == nil {
		r.now = time.Now
	}
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	r.cache = newTemplateCache(size)

	r.cfg = render.NewConfig()
	filters.AddStandardFilters(guardedFilters{&r.cfg, r.filters})
	tags.AddStandardTags(r.cfg)
	r.addStudioFilters()
	r.replaceUnsafeTags()

	r.synthCfg = render.NewConfig()
	r.synthCfg.AddTag(synthTag, r.compileSynth)
	return r
}

// hasMarkup reports whether src holds Liquid at all; strings without it
// are returned as they are, without touching the library.
func hasMarkup(src string) bool {
	return strings.Contains(src, "{{") || strings.Contains(src, "{%")
}

// Render renders src with vars in lax mode: undefined variables render as
// the empty string, objects and arrays as JSON, integral numbers without a
// fraction. Every error is a *[TemplateError].
func (r *Renderer) Render(src string, vars map[string]any) (out string, err error) {
	if !hasMarkup(src) {
		if len(src) > MaxOutputBytes {
			return "", &TemplateError{src, fmt.Errorf("%w: %d bytes", ErrOutputTooLarge, len(src))}
		}
		return src, nil
	}
	tpl, err := r.parse(src)
	if err != nil {
		return "", err
	}
	if tpl.plan != nil {
		if out, ok := renderPlan(tpl.plan, vars); ok {
			return out, nil
		}
	}
	return r.renderTree(src, tpl, vars)
}

// renderTree renders a parsed template through the library.
func (r *Renderer) renderTree(src string, tpl cacheEntry, vars map[string]any) (out string, err error) {
	defer func() {
		// The library re-panics on unexpected errors inside filters and
		// tags; one bad template must not take the engine down with it.
		if p := recover(); p != nil {
			out, err = "", &TemplateError{src, fmt.Errorf("%w: %v", ErrInternal, p)}
		}
	}()

	// The library copies the bindings before rendering, so vars is never
	// written to; the two copies below happen only for templates that need
	// them.
	scope := vars
	if tpl.conditions {
		if n, changed := normalizeNumbers(vars); changed {
			scope = n.(map[string]any)
		}
	}
	if tpl.loops {
		withState := make(map[string]any, len(scope)+1)
		for k, v := range scope {
			withState[k] = v
		}
		withState[stateKey] = &renderState{}
		scope = withState
	}
	w := limitWriter{max: MaxOutputBytes}
	if rerr := render.Render(tpl.root, &w, scope, r.cfg); rerr != nil {
		return "", &TemplateError{src, &libraryError{rerr, rootCause(rerr)}}
	}
	if w.overflow {
		return "", &TemplateError{src, fmt.Errorf("%w: more than %d bytes", ErrOutputTooLarge, MaxOutputBytes)}
	}
	return w.buf.String(), nil
}

// Check parses src without rendering it, for flow validation. It returns a
// *[TemplateError] wrapping [ErrSyntax] when src does not parse. A
// successful check also warms the cache.
func (r *Renderer) Check(src string) error {
	if !hasMarkup(src) {
		return nil
	}
	_, err := r.parse(src)
	return err
}

func (r *Renderer) parse(src string) (cacheEntry, error) {
	if e, ok := r.cache.get(src); ok {
		return e, e.err
	}
	e := cacheEntry{}
	root, err := r.compile(src)
	if err == nil {
		e.plan = planFor(root)
		var rw rewriter
		err = rw.rewrite(r, root)
		e.loops, e.conditions = rw.loops, rw.conditions
	}
	if err != nil {
		e.err = &TemplateError{src, &libraryError{err, ErrSyntax}}
	} else {
		e.root = root
	}
	// Parse failures are cached too: a flow that fails validation should
	// not be re-parsed on every message if it runs anyway.
	r.cache.put(src, e)
	return e, e.err
}

// compile parses src with the library, turning a parser panic into an
// error: the library's scanner panics on some inputs, such as an integer
// literal too large for int64, and a template it cannot parse is a syntax
// error whichever way the parser gives up.
func (r *Renderer) compile(src string) (root render.Node, err error) {
	defer func() {
		if p := recover(); p != nil {
			root, err = nil, fmt.Errorf("the parser failed: %v", p)
		}
	}()
	root, perr := r.cfg.Compile(src, parser.SourceLoc{})
	if perr != nil {
		return nil, perr
	}
	return root, nil
}

// libraryError carries an osteele/liquid error, whose own chain uses
// Cause() rather than Unwrap(), and exposes the cause to errors.Is.
type libraryError struct {
	err   error
	cause error
}

func (e *libraryError) Error() string { return e.err.Error() }
func (e *libraryError) Unwrap() error { return e.cause }

// rootCause follows the library's Cause() chain, and the Err of a filter
// error, to the innermost error.
func rootCause(err error) error {
	for range 100 { // a bound, in case a chain ever loops
		var next error
		switch e := err.(type) {
		case expressions.FilterError:
			next = e.Err
		case interface{ Cause() error }:
			next = e.Cause()
		}
		if next == nil || next == err {
			return err
		}
		err = next
	}
	return err
}

// limitWriter collects output up to max bytes. It never returns an error:
// the library panics when a write fails during its final flush, so the
// overflow is recorded and reported after rendering instead.
type limitWriter struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.overflow || w.buf.Len()+len(p) > w.max {
		w.overflow = true
		return len(p), nil
	}
	return w.buf.Write(p)
}
