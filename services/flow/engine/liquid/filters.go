package liquid

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/osteele/liquid/values"
	"github.com/osteele/tuesday"
)

// addStudioFilters registers what Studio flows use beyond osteele/liquid's
// standard set: Twilio's to_json, the Shopify filters the library lacks
// (at_least, at_most, sum, where, remove_last, replace_last, base64_*), a
// date filter on the injected clock and time zone, and replacements for
// library filters that differ from Shopify's or can panic on odd arguments
// (size of a hash, capitalize, divided_by, truncate, truncatewords, slice).
// String-building filters are capped at maxValueBytes.
func (r *Renderer) addStudioFilters() {
	add := guardedFilters{&r.cfg, r.filters}.AddFilter

	// Twilio's own: {{widgets.fn.parsed | to_json}} [DOCS:send-flex].
	add("to_json", toJSON)
	add("date", r.dateFilter)

	add("size", func(v any) int {
		v = values.ToLiquid(v)
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.String:
			return utf8.RuneCountInString(rv.String())
		case reflect.Map, reflect.Slice, reflect.Array:
			return rv.Len()
		}
		if r, ok := v.(values.Range); ok {
			return max(r.Len(), 0)
		}
		switch {
		default:
			return 0
		}
	})
	add("capitalize", func(s string) string {
		first, n := utf8.DecodeRuneInString(s)
		if n == 0 {
			return s
		}
		return string(unicode.ToUpper(first)) + strings.ToLower(s[n:])
	})
	add("divided_by", func(a, b any) (any, error) {
		x, xInt, err := number(a)
		if err != nil {
			return nil, err
		}
		y, yInt, err := number(b)
		if err != nil {
			return nil, err
		}
		if y == 0 {
			return nil, errors.New("divided_by: division by zero")
		}
		if xInt && yInt {
			// Integer division rounds down, as in Ruby and Shopify.
			return math.Floor(x / y), nil
		}
		return x / y, nil
	})
	add("at_least", func(a, b float64) float64 { return math.Max(a, b) })
	add("at_most", func(a, b float64) float64 { return math.Min(a, b) })
	add("sum", func(a []any, property func(string) string) (float64, error) {
		prop := property("")
		var total float64
		for _, item := range a {
			if prop != "" {
				m, ok := item.(map[string]any)
				if !ok {
					continue
				}
				item = m[prop]
			}
			if item == nil {
				continue
			}
			f, _, err := number(item)
			if err != nil {
				// Shopify skips what is not a number.
				continue
			}
			total += f
		}
		return total, nil
	})
	add("where", func(a []any, property string, value any) []any {
		var out []any
		for _, item := range a {
			v := values.ValueOf(item).PropertyValue(values.ValueOf(property)).Interface()
			if value == nil {
				if v != nil && v != false {
					out = append(out, item)
				}
			} else if values.Equal(v, value) {
				out = append(out, item)
			}
		}
		return out
	})

	// The string filters take any and format non-strings as output does,
	// so {{ flow.variables.phone | append: '' }} keeps 14155550100 instead
	// of the library's 1.41555501e+10.
	add("append", func(s, suffix any) (string, error) { return capped(formatValue(s) + formatValue(suffix)) })
	add("prepend", func(s, prefix any) (string, error) { return capped(formatValue(prefix) + formatValue(s)) })
	add("replace", func(sv, oldv, replv any) (string, error) {
		s, old, repl := formatValue(sv), formatValue(oldv), formatValue(replv)
		if int64(strings.Count(s, old))*int64(len(repl)) > maxValueBytes {
			return "", fmt.Errorf("%w: replace would build more than %d bytes", ErrOutputTooLarge, maxValueBytes)
		}
		return capped(strings.ReplaceAll(s, old, repl))
	})
	add("replace_first", func(sv, oldv, replv any) (string, error) {
		return capped(strings.Replace(formatValue(sv), formatValue(oldv), formatValue(replv), 1))
	})
	add("replace_last", func(sv, oldv, replv any) (string, error) {
		s, old, repl := formatValue(sv), formatValue(oldv), formatValue(replv)
		i := strings.LastIndex(s, old)
		if i < 0 {
			return s, nil
		}
		return capped(s[:i] + repl + s[i+len(old):])
	})
	add("remove_last", func(sv, oldv any) string {
		s, old := formatValue(sv), formatValue(oldv)
		i := strings.LastIndex(s, old)
		if i < 0 {
			return s
		}
		return s[:i] + s[i+len(old):]
	})
	add("join", func(a []any, sep func(string) string) (string, error) {
		parts := make([]string, 0, len(a))
		for _, v := range a {
			if v != nil {
				parts = append(parts, formatValue(v))
			}
		}
		return capped(strings.Join(parts, sep(" ")))
	})
	add("truncate", func(s string, length func(int) int, ellipsis func(string) string) string {
		n, el := length(50), ellipsis("...")
		runes := []rune(s)
		if len(runes) <= n {
			return s
		}
		keep := max(n-utf8.RuneCountInString(el), 0)
		return string(runes[:keep]) + el
	})
	add("truncatewords", func(s string, length func(int) int, ellipsis func(string) string) string {
		n, el := max(length(15), 1), ellipsis("...")
		words := strings.Fields(s)
		if len(words) <= n {
			return s
		}
		return strings.Join(words[:n], " ") + el
	})
	add("slice", func(v any, start int, length func(int) int) any {
		n := length(1)
		switch v := v.(type) {
		case string:
			runes := []rune(v)
			lo, hi := sliceBounds(len(runes), start, n)
			return string(runes[lo:hi])
		case []any:
			lo, hi := sliceBounds(len(v), start, n)
			return v[lo:hi]
		case values.Range:
			lo, hi := sliceBounds(max(v.Len(), 0), start, n)
			out := make([]any, 0, hi-lo)
			for i := lo; i < hi; i++ {
				out = append(out, v.Index(i))
			}
			return out
		case nil:
			return nil
		default:
			runes := []rune(formatValue(v))
			lo, hi := sliceBounds(len(runes), start, n)
			return string(runes[lo:hi])
		}
	})

	add("base64_encode", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) })
	add("base64_decode", func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		return string(b), err
	})
	add("base64_url_safe_encode", func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) })
	add("base64_url_safe_decode", func(s string) (string, error) {
		b, err := base64.URLEncoding.DecodeString(s)
		return string(b), err
	})
}

// capped fails a string that has grown past maxValueBytes.
func capped(s string) (string, error) {
	if len(s) > maxValueBytes {
		return "", fmt.Errorf("%w: a value of %d bytes", ErrOutputTooLarge, len(s))
	}
	return s, nil
}

// sliceBounds turns Shopify's slice arguments (a start that counts from
// the end when negative, and a length) into safe bounds within size.
func sliceBounds(size, start, length int) (lo, hi int) {
	if start < 0 {
		start += size
	}
	if start < 0 || start >= size || length <= 0 {
		return 0, 0
	}
	return start, start + min(length, size-start)
}

// number converts a filter operand to a float64 and reports whether it is
// an integer (so divided_by can do integer division). Strings and
// json.Number are parsed; other values go through the library's conversion.
func number(v any) (f float64, isInt bool, err error) {
	switch v := v.(type) {
	case int:
		return float64(v), true, nil
	case int64:
		return float64(v), true, nil
	case float64:
		return v, v == math.Trunc(v) && !math.IsInf(v, 0), nil
	case string, []byte, fmt.Stringer:
		s := strings.TrimSpace(fmt.Sprint(v))
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return float64(i), true, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%q is not a number", s)
		}
		return f, false, nil
	case nil:
		return 0, true, nil
	default:
		f, err := values.Convert(v, reflect.TypeFor[float64]())
		if err != nil {
			return 0, false, err
		}
		x := f.(float64)
		return x, x == math.Trunc(x), nil
	}
}

// dateLayouts are the time formats the date filter parses, tried in order;
// times without a zone are read in the renderer's location. Twilio's APIs
// send ISO 8601 (RFC 3339, with or without fractional seconds).
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 MST",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	time.RFC1123Z,
	time.RFC1123,
	time.RFC822Z,
	time.RFC822,
	time.RFC850,
	time.ANSIC,
	time.UnixDate,
	time.RubyDate,
	"January 2, 2006",
	"January 2 2006",
	"Jan 2, 2006",
	"Jan 2 2006",
	"02 January 2006",
	"02 Jan 2006",
}

// maxStrftimeWidth bounds the field widths of a strftime format, which
// tuesday pads with fmt: "%999999999Y" would allocate a gigabyte.
const maxStrftimeWidth = 64

// strftimeWidthOK reports whether every field width in format (the digits
// after "%" and its optional flags, as tuesday reads them) is at most
// maxStrftimeWidth. It is a plain scan because it runs on every date call.
func strftimeWidthOK(format string) bool {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("-_^#0:", format[j]) >= 0 {
			j++
		}
		width := 0
		for ; j < len(format) && format[j] >= '0' && format[j] <= '9'; j++ {
			width = width*10 + int(format[j]-'0')
			if width > maxStrftimeWidth {
				return false
			}
		}
		i = j - 1
	}
	return true
}

// dateFilter formats a time with a Ruby strftime format in the renderer's
// location. The input may be a time, "now" or "today" (the injected
// clock), Unix seconds as a number or a string of digits, or a date string
// in one of dateLayouts. As in Shopify Liquid, an input that is not a date,
// or a missing format, leaves the input unchanged.
func (r *Renderer) dateFilter(v any, format func(string) string) (any, error) {
	f := format("")
	t, ok := r.toTime(v)
	if !ok || f == "" {
		return v, nil
	}
	if !strftimeWidthOK(f) {
		return nil, fmt.Errorf("date: a field width in %q is larger than %d", f, maxStrftimeWidth)
	}
	return tuesday.Strftime(f, t.In(r.loc))
}

func (r *Renderer) toTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case time.Time:
		return v, true
	case nil, bool:
		return time.Time{}, false
	case string:
		s := strings.TrimSpace(v)
		switch strings.ToLower(s) {
		case "":
			return time.Time{}, false
		case "now", "today":
			// Shopify treats both as the current time, not midnight.
			return r.now(), true
		}
		if isAllDigits(s) {
			if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
				return time.Unix(sec, 0), true
			}
		}
		for _, layout := range dateLayouts {
			if t, err := time.ParseInLocation(layout, s, r.loc); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	default:
		f, _, err := number(v)
		if err != nil || math.IsNaN(f) || math.Abs(f) > 1e15 {
			return time.Time{}, false
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), true
	}
}

func isAllDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
