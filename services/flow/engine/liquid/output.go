package liquid

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/osteele/liquid/values"
)

// formatValue renders a value the way Studio users expect to see it:
// strings as they are, numbers in JavaScript's shortest form (3, not 3.0;
// 14155550100, not 1.4155550100e+10), objects and arrays as compact JSON,
// and nothing for nil.
func formatValue(v any) string {
	v = values.ToLiquid(v)
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		// The library's json filter returns bytes; they are text.
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return formatFloat(v, 64)
	case float32:
		return formatFloat(float64(v), 32)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case json.Number:
		return v.String()
	case values.Range:
		// A range literal renders as the array it stands for; the output
		// limit stops a long one early.
		n := min(max(v.Len(), 0), MaxOutputBytes/2+1)
		items := make([]any, n)
		for i := range n {
			items[i] = v.Index(i)
		}
		return toJSON(items)
	case time.Time:
		// The library's format, kept so dates print as in other Liquid
		// implementations.
		return v.Format("2006-01-02 15:04:05 -0700")
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct, reflect.Pointer:
		return toJSON(v)
	default:
		return fmt.Sprint(v)
	}
}

// formatFloat formats f as JavaScript's Number.prototype.toString does
// (which is also encoding/json's choice): plain decimals from 1e-6 up to
// 1e21, exponent form outside, and no trailing ".0".
func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0" // also for -0, as JavaScript prints it
	}
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	b := strconv.AppendFloat(nil, f, format, -1, bits)
	if format == 'e' {
		// Go writes e-07 where JavaScript writes e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

// toJSON marshals v compactly without HTML escaping (a JSON body built in
// Liquid should carry "&" and "<" as they are). Values JSON cannot hold
// (NaN, maps with non-string keys) fall back to Go's formatting rather than
// failing the render.
func toJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
