package liquid

import (
	"encoding/json"
	"strconv"
)

// normalizeNumbers returns v with every json.Number replaced by an int (when
// it is integral and fits) or a float64, copying only the maps and slices on
// the way to one. The library compares a json.Number as a string, so
// {% if widgets.fn.parsed.count > 5 %} would be false for 41; filters and
// output handle json.Number already, so Render only normalises for
// templates with conditions. Without any json.Number nothing is allocated.
func normalizeNumbers(orig any) (any, bool) {
	// Unchanged values are returned as orig: re-boxing a typed slice into
	// an interface would allocate.
	switch v := orig.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return int(i), true
		}
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return f, true
		}
		return orig, false
	case map[string]any:
		var out map[string]any
		for k, item := range v {
			n, changed := normalizeNumbers(item)
			if !changed {
				continue
			}
			if out == nil {
				out = make(map[string]any, len(v))
				for k2, item2 := range v {
					out[k2] = item2
				}
			}
			out[k] = n
		}
		if out == nil {
			return orig, false
		}
		return out, true
	case []any:
		var out []any
		for i, item := range v {
			n, changed := normalizeNumbers(item)
			if !changed {
				continue
			}
			if out == nil {
				out = append([]any(nil), v...)
			}
			out[i] = n
		}
		if out == nil {
			return orig, false
		}
		return out, true
	default:
		return orig, false
	}
}
