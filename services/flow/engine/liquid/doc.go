// Package liquid renders the Liquid templates of Studio flows: widget
// properties such as a message body, a split's input, a Run Function
// parameter or a Set Variables value. It is a thin wrapper over
// github.com/osteele/liquid that adds what Studio does and the library does
// not, following ../shared/reference/studio.md §5:
//
//   - Lax rendering. Undefined variables, and properties of them, render as
//     the empty string. Unknown filters are a render error, not a parse
//     error, because the library resolves filters when it evaluates them.
//   - Objects and arrays render as compact JSON without HTML escaping
//     ({{widgets.fn.parsed}} gives {"a":1}), where the library would print
//     Go's map[a:1] or run the items together. Numbers print as JavaScript
//     prints them: 3 rather than 3.0, 14155550100 rather than 1.4155550100e+10.
//     A number that reaches a string filter (append, for example) is still
//     formatted by the library.
//   - Twilio's to_json filter, the Shopify filters the library lacks
//     (at_least, at_most, sum, where, remove_last, replace_last,
//     base64_encode and the other base64 filters), and Shopify's behaviour
//     for size of an object (its key count), capitalize (rest lower-cased),
//     divided_by (integer division only for integers, rounding down) and
//     truncate, truncatewords and slice (which must not panic on negative
//     lengths).
//   - A date filter on an injected clock and time zone. "now" and "today"
//     both mean [Options.Now] (as in Shopify, "today" is not midnight);
//     output, and input without a zone, use [Options.Location], by default
//     America/Los_Angeles because Studio documents PST. Numbers and digit
//     strings are Unix seconds. As in Shopify, an input that is not a date,
//     or a call without a format, returns the input unchanged.
//   - Studio's limits. Output over 16 KB ([MaxOutputBytes]) fails with
//     [ErrOutputTooLarge]. A loop reaching its 16th iteration fails with
//     [ErrLoopLimit]: Studio documents that loops are "restricted to 15
//     iterations" but not how; failing is the project's choice, because
//     silently dropping items would send users a message with part of a list
//     missing and nothing in the logs. The limit counts iterations actually
//     run, so limit: and break keep a loop over a longer array legal. All
//     loops of one render together may run [MaxRenderIterations], and no
//     intermediate string may pass 256 KiB, so that a template cannot hang
//     or exhaust the engine; Studio documents neither.
//   - The include tag, which reads files from disk, is refused at parse time;
//     cycle is replaced by a version that cannot panic.
//
// Templates are parsed once: a bounded, concurrency-safe cache maps template
// source to its compiled tree (and to its parse error, so a broken template
// is not re-parsed either). Strings with neither "{{" nor "{%" never reach
// the library. Any panic inside the library is recovered and returned as
// [ErrInternal].
//
// Numbers may arrive as float64, int or json.Number. The library compares a
// json.Number as a string, so templates with if, unless or case get a copy
// of the context with json.Number values turned into int or float64 (only
// the maps and slices on the way to one are copied; vars is never
// modified). A context decoded without UseNumber avoids that cost.
//
// Templates made only of text and plain {{ a.b.c }} outputs, the most
// common Studio property, are rendered from a plan of map lookups without
// the library's per-render setup, falling back to the library for any
// value that needs its semantics (see fastpath.go; a fuzz target checks
// both paths agree).
//
// Measured with go test -bench BenchmarkRender -benchtime=2s on the shared
// 2-core development machine (figures vary by ±30% or more with its load):
// a cached two-variable message body renders in 0.4–0.5 µs (4
// allocations) through the plan; the counter idiom, on a context holding
// json.Number values, in 8–13 µs (50); a heavy body with a loop over a
// parsed function response, five filters and JSON output in 19–55 µs
// (172); text without markup in 20–60 ns with no allocation; the heavy body
// without the cache (parse, rewrite and render) in 0.5–1 ms, which is what
// the cache saves. Nearly all the library path's time is its
// reflection-based evaluation.
package liquid
