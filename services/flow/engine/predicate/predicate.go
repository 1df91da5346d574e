package predicate

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The predicate types Studio writes into a split condition's "type".
const (
	EqualTo           = "equal_to"
	NotEqualTo        = "not_equal_to"
	MatchesAnyOf      = "matches_any_of"
	DoesNotMatchAnyOf = "does_not_match_any_of"
	IsBlank           = "is_blank"
	IsNotBlank        = "is_not_blank"
	Regex             = "regex"
	Contains          = "contains"
	DoesNotContain    = "does_not_contain"
	StartsWith        = "starts_with"
	DoesNotStartWith  = "does_not_start_with"
	LessThan          = "less_than"
	GreaterThan       = "greater_than"
	IsBeforeTime      = "is_before_time"
	IsAfterTime       = "is_after_time"
	IsBeforeDate      = "is_before_date"
	IsAfterDate       = "is_after_date"
)

// ErrUnknownType is wrapped by the errors [Check] and [Eval] return for a
// type that is not one of [Types].
var ErrUnknownType = errors.New("unknown predicate type")

// evaluator decides one predicate on an already trimmed subject and value.
type evaluator func(subject, value string) (bool, error)

var evaluators = map[string]evaluator{
	EqualTo:           func(s, v string) (bool, error) { return strings.EqualFold(s, v), nil },
	NotEqualTo:        func(s, v string) (bool, error) { return !strings.EqualFold(s, v), nil },
	MatchesAnyOf:      func(s, v string) (bool, error) { return matchesAnyOf(s, v), nil },
	DoesNotMatchAnyOf: func(s, v string) (bool, error) { return !matchesAnyOf(s, v), nil },
	IsBlank:           func(s, _ string) (bool, error) { return s == "", nil },
	IsNotBlank:        func(s, _ string) (bool, error) { return s != "", nil },
	Regex:             matchRegex,
	Contains:          func(s, v string) (bool, error) { return strings.Contains(fold(s), fold(v)), nil },
	DoesNotContain:    func(s, v string) (bool, error) { return !strings.Contains(fold(s), fold(v)), nil },
	StartsWith:        func(s, v string) (bool, error) { return strings.HasPrefix(fold(s), fold(v)), nil },
	DoesNotStartWith:  func(s, v string) (bool, error) { return !strings.HasPrefix(fold(s), fold(v)), nil },
	LessThan:          func(s, v string) (bool, error) { return compareNumbers(s, v) < 0, nil },
	GreaterThan:       func(s, v string) (bool, error) { return compareNumbers(s, v) > 0, nil },
	IsBeforeTime:      func(s, v string) (bool, error) { return compareParsed(s, v, parseTime) < 0, nil },
	IsAfterTime:       func(s, v string) (bool, error) { return compareParsed(s, v, parseTime) > 0, nil },
	IsBeforeDate:      func(s, v string) (bool, error) { return compareParsed(s, v, parseDate) < 0, nil },
	IsAfterDate:       func(s, v string) (bool, error) { return compareParsed(s, v, parseDate) > 0, nil },
}

var sortedTypes = func() []string {
	types := make([]string, 0, len(evaluators))
	for typ := range evaluators {
		types = append(types, typ)
	}
	slices.Sort(types)
	return types
}()

// Types returns the 17 Studio predicate type strings, sorted. The slice is a
// copy the caller may modify.
func Types() []string {
	return slices.Clone(sortedTypes)
}

// Known reports whether typ is one of [Types].
func Known(typ string) bool {
	_, ok := evaluators[typ]
	return ok
}

// Eval reports whether the condition typ holds for subject and value, both
// already rendered. It returns an error only for an unknown type or for a
// regex value that does not compile; every other odd input (a non-numeric
// operand, a malformed time) is simply no match.
func Eval(typ, subject, value string) (bool, error) {
	eval, ok := evaluators[typ]
	if !ok {
		return false, unknownType(typ)
	}
	return eval(strings.TrimSpace(subject), strings.TrimSpace(value))
}

// Check validates a condition's raw value, as written in the flow definition
// and before any Liquid is rendered, for the predicate typ. It rejects an
// unknown type, a regex that does not compile and a literal time or date in
// the wrong shape. Values holding Liquid markup ("{{" or "{%") are accepted
// as they are, since only the rendered value can be checked.
func Check(typ, value string) error {
	if !Known(typ) {
		return unknownType(typ)
	}
	if hasLiquid(value) {
		return nil
	}
	v := strings.TrimSpace(value)
	switch typ {
	case Regex:
		if _, err := compile(v); err != nil {
			return err
		}
	case IsBeforeTime, IsAfterTime:
		if _, ok := parseTime(v); !ok {
			return fmt.Errorf("%s value %q is not a 24-hour time in HH:MM form with leading zeros, such as 09:30", typ, value)
		}
	case IsBeforeDate, IsAfterDate:
		if _, ok := parseDate(v); !ok {
			return fmt.Errorf("%s value %q is not a calendar date in YYYY-MM-DD form, such as 2024-08-12", typ, value)
		}
	}
	return nil
}

func unknownType(typ string) error {
	return fmt.Errorf("%w %q: want one of %s", ErrUnknownType, typ, strings.Join(sortedTypes, ", "))
}

func hasLiquid(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%")
}

// fold lower-cases for the substring predicates; equality uses
// strings.EqualFold, which needs no allocation.
func fold(s string) string { return strings.ToLower(s) }

func matchesAnyOf(subject, list string) bool {
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item != "" && strings.EqualFold(subject, item) {
			return true
		}
	}
	return false
}

func matchRegex(subject, pattern string) (bool, error) {
	re, err := compile(pattern)
	if err != nil {
		return false, err
	}
	return re.MatchString(subject), nil
}

// maxCachedRegexps bounds the regex cache. Literal patterns number at most a
// few per flow; the bound only matters for patterns built with Liquid, which
// may differ on every run.
const maxCachedRegexps = 1024

var regexCache = struct {
	sync.RWMutex
	m map[string]*regexp.Regexp
}{m: map[string]*regexp.Regexp{}}

// compile compiles a Studio regex value: case-insensitive and anchored at
// both ends, since Studio matches only when the whole subject matches.
func compile(pattern string) (*regexp.Regexp, error) {
	regexCache.RLock()
	re, ok := regexCache.m[pattern]
	regexCache.RUnlock()
	if ok {
		return re, nil
	}
	// The group keeps an alternation such as "a|b" inside the anchors.
	re, err := regexp.Compile(`(?i)^(?:` + pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("regex %q does not compile: %w", pattern, err)
	}
	regexCache.Lock()
	if len(regexCache.m) >= maxCachedRegexps {
		// Dropping everything is crude but keeps the cache O(1) and bounded;
		// the hot literal patterns come back on their next use.
		clear(regexCache.m)
	}
	regexCache.m[pattern] = re
	regexCache.Unlock()
	return re, nil
}

// decimal is the number syntax less_than and greater_than accept: what a
// person types or Liquid prints, not Go's wider ParseFloat syntax (hex
// floats, "Inf", "NaN", underscores).
var decimal = regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

// compareNumbers returns -1, 0 or +1 comparing a and b as decimal numbers,
// and 0 (neither less nor greater) when either is not a number.
func compareNumbers(a, b string) int {
	x, okA := parseNumber(a)
	y, okB := parseNumber(b)
	if !okA || !okB {
		return 0
	}
	return cmp.Compare(x, y)
}

func parseNumber(s string) (float64, bool) {
	if !decimal.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	// The syntax is already checked, so the only possible error is
	// strconv.ErrRange, where f is ±Inf or ±0: still the right ordering.
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// compareParsed returns -1, 0 or +1 comparing a and b after parsing both
// with parse, and 0 (neither before nor after) when either does not parse.
func compareParsed(a, b string, parse func(string) (int, bool)) int {
	x, okA := parse(a)
	y, okB := parse(b)
	if !okA || !okB {
		return 0
	}
	return cmp.Compare(x, y)
}

// parseTime parses a strict 24-hour HH:MM time into minutes after midnight.
func parseTime(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' || !isDigits(s[:2]) || !isDigits(s[3:]) {
		return 0, false
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// parseDate parses a strict YYYY-MM-DD calendar date into a day number,
// rejecting dates that do not exist (2023-02-29).
func parseDate(s string) (int, bool) {
	// The shape check comes first because time.Parse accepts a signed year
	// ("-024-01-05"); time.Parse then rejects days a month does not have.
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !isDigits(s[:4]) || !isDigits(s[5:7]) || !isDigits(s[8:]) {
		return 0, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, false
	}
	return int(t.Unix() / 86400), true
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
