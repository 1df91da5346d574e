// Package predicate evaluates the condition types of Studio's Split Based On
// widget (split-based-on), the 17 strings Studio writes into a condition's
// "type": equal_to, not_equal_to, matches_any_of, does_not_match_any_of,
// is_blank, is_not_blank, regex, contains, does_not_contain, starts_with,
// does_not_start_with, less_than, greater_than, is_before_time,
// is_after_time, is_before_date and is_after_date.
//
// The package is pure: it sees two strings that the engine has already
// rendered with Liquid (the subject, from the widget's input, and the
// condition's value) and answers match or no match. [Check] validates a
// condition's raw, unrendered value when a flow is loaded, so that a flow
// with an unknown predicate, a regex that does not compile or a malformed
// literal time or date is rejected up front instead of failing at run time.
//
// Semantics follow Twilio's documentation where it speaks, and the project
// decisions of ../shared/reference/studio.md §4.4 where it does not:
//
//   - Every comparison is case-insensitive, and both the subject and the value
//     are trimmed of leading and trailing whitespace first.
//   - matches_any_of and does_not_match_any_of split the value on commas; each
//     item is trimmed and empty items are ignored, so "yes, ,Y," lists two
//     items. A list with no items matches nothing (does_not_match_any_of is
//     then true).
//   - regex uses Go's RE2 syntax, is case-insensitive and must match the whole
//     trimmed subject ("6" does not match "[1-5]", nor does "16"). The value
//     is written without slashes, as in the Console.
//   - less_than and greater_than parse both sides as decimal numbers (an
//     optional sign, digits, an optional fraction and exponent; no hex, no
//     "Inf" or "NaN"). If either side is not such a number the condition does
//     not match, in either direction: Studio "does not compare letters".
//   - is_before_time/is_after_time compare 24-hour HH:MM values with leading
//     zeros, and is_before_date/is_after_date compare YYYY-MM-DD calendar
//     dates. Both are strict: equal values are neither before nor after. A
//     subject or rendered value in any other shape ("9:30", "2024-1-5", a
//     full timestamp, a blank) makes the condition not match, for the before
//     and the after form alike, because a widget reply that is not a time is
//     not "before" anything; the flow falls through to noMatch.
//   - is_blank and is_not_blank ignore the value.
//   - A blank value on the other predicates (an open question in studio.md
//     §10) is compared literally: equal_to "" matches a blank subject, every
//     subject contains and starts with "", and blank operands of less_than,
//     greater_than and the time and date predicates are not numbers, times or
//     dates, so those do not match.
//
// Compiled regular expressions are cached, since the same split runs for
// every message of a busy flow; the cache is bounded because a value holding
// Liquid can render to a different pattern each time.
package predicate
