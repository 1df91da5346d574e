package conversations

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// form reads Twilio's form parameters: flat names that may contain dots
// (MessagingBinding.Address, Timers.Inactive) and repeated keys for arrays
// (Configuration.Filters=a&Configuration.Filters=b). Each getter type-checks
// its parameter; the first failure is kept in err so a handler can read all
// its parameters and check once. Parameters nobody asks for are ignored, as
// Twilio ignores them.
type form struct {
	v   url.Values
	err *apiError
}

func (f *form) fail(e *apiError) {
	if f.err == nil {
		f.err = e
	}
}

// has reports whether name was sent at all (possibly empty).
func (f *form) has(name string) bool {
	_, ok := f.v[name]
	return ok
}

// str returns the first value of name and whether it was sent. Values longer
// than max characters (max > 0) fail with a message naming the limit.
func (f *form) str(name string, max int) (string, bool) {
	vs, ok := f.v[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	s := vs[0]
	if !utf8.ValidString(s) {
		f.fail(errInvalid(name, "not valid UTF-8"))
		return "", false
	}
	if max > 0 && utf8.RuneCountInString(s) > max {
		f.fail(errInvalid(name, fmt.Sprintf("must be at most %d characters", max)))
		return "", false
	}
	return s, true
}

// required returns name or fails with 20001 naming it.
func (f *form) required(name string, max int) string {
	s, ok := f.str(name, max)
	if f.err != nil {
		return ""
	}
	if !ok || s == "" {
		f.fail(errMissing(name))
	}
	return s
}

// attributes reads a JSON-string parameter of at most max bytes.
func (f *form) attributes(name string, max int) (string, bool) {
	s, ok := f.str(name, 0)
	if !ok {
		return "", false
	}
	if len(s) > max {
		f.fail(errInvalid(name, fmt.Sprintf("must be at most %d bytes", max)))
		return "", false
	}
	if !json.Valid([]byte(s)) {
		f.fail(errInvalid(name, "must be valid JSON"))
		return "", false
	}
	return s, true
}

// jsonString reads a parameter that must hold valid JSON (ContentVariables).
func (f *form) jsonString(name string) (string, bool) {
	s, ok := f.str(name, 0)
	if ok && !json.Valid([]byte(s)) {
		f.fail(errInvalid(name, "must be valid JSON"))
		return "", false
	}
	return s, ok
}

// enum reads name and checks it against allowed values.
func (f *form) enum(name string, allowed ...string) (string, bool) {
	s, ok := f.str(name, 0)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	f.fail(errInvalid(name, fmt.Sprintf("must be one of %s", strings.Join(allowed, ", "))))
	return "", false
}

// boolean reads true/false (Twilio accepts the lower-case words).
func (f *form) boolean(name string) (bool, bool) {
	s, ok := f.str(name, 0)
	if !ok {
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(s))
	if err != nil {
		f.fail(errInvalid(name, "must be true or false"))
		return false, false
	}
	return b, true
}

// integer reads a whole number within [min, max].
func (f *form) integer(name string, min, max int) (int, bool) {
	s, ok := f.str(name, 0)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		f.fail(errInvalid(name, "must be an integer"))
		return 0, false
	}
	if n < min || n > max {
		f.fail(errInvalid(name, fmt.Sprintf("must be between %d and %d", min, max)))
		return 0, false
	}
	return n, true
}

// list returns every value of a repeated parameter.
func (f *form) list(name string) []string {
	vs := f.v[name]
	for _, s := range vs {
		if !utf8.ValidString(s) {
			f.fail(errInvalid(name, "not valid UTF-8"))
			return nil
		}
	}
	return vs
}

// timestamp reads an ISO-8601 date-time (RFC 3339).
func (f *form) timestamp(name string) (time.Time, bool) {
	s, ok := f.str(name, 0)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		f.fail(errInvalid(name, "must be an ISO-8601 date-time such as 2015-12-16T22:18:37Z"))
		return time.Time{}, false
	}
	return t.UTC().Truncate(time.Second), true
}

// duration reads an ISO-8601 duration (PT1M, P1DT2H) of at least min.
func (f *form) duration(name string, min time.Duration) (time.Duration, bool) {
	s, ok := f.str(name, 0)
	if !ok {
		return 0, false
	}
	d, err := parseISODuration(s)
	if err != nil {
		f.fail(errInvalid(name, err.Error()))
		return 0, false
	}
	if d < min {
		f.fail(errInvalid(name, "must be at least "+formatISODuration(min)))
		return 0, false
	}
	return d, true
}

// sid reads a SID parameter that must carry prefix.
func (f *form) sid(name, prefix string) (string, bool) {
	s, ok := f.str(name, 0)
	if !ok {
		return "", false
	}
	if !validSid(prefix, s) {
		f.fail(errInvalid(name, "must be a "+prefix+" SID ("+prefix+" followed by 32 hex digits)"))
		return "", false
	}
	return s, true
}

var sidRE = regexp.MustCompile(`^[A-Z]{2}[0-9a-fA-F]{32}$`)

// validSid reports whether s is prefix followed by 32 hex digits.
func validSid(prefix, s string) bool {
	return len(s) == 34 && strings.HasPrefix(s, prefix) && sidRE.MatchString(s)
}

var isoDurationRE = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseISODuration parses the week/day/time subset of ISO-8601 durations
// that Twilio's timers use; years and months have no fixed length and are refused.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("must be an ISO-8601 duration such as PT10M")
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		d += time.Duration(n) * u
	}
	return d, nil
}

// formatISODuration renders d as PTnHnMnS (or P0D... never: zero renders PT0S).
func formatISODuration(d time.Duration) string {
	var b strings.Builder
	b.WriteString("P")
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * 24 * time.Hour
	}
	if d == 0 && b.Len() > 1 {
		return b.String()
	}
	b.WriteString("T")
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		d -= m * time.Minute
	}
	if sec := d / time.Second; sec > 0 || b.Len() == 2 {
		fmt.Fprintf(&b, "%dS", sec)
	}
	return b.String()
}
