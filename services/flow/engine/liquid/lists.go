package liquid

import (
	"fmt"
	"reflect"

	"github.com/osteele/liquid/render"
	"github.com/osteele/liquid/values"
)

// maxListItems bounds the arrays filters may build. A range literal such
// as (1..1000000000) costs nothing until a filter turns it into an array;
// the library would then allocate it whole. 100,000 items is far beyond
// anything a 64 kB function response can hold.
const maxListItems = 100_000

var (
	anyType      = reflect.TypeFor[any]()
	anySliceType = reflect.TypeFor[[]any]()
	errorType    = reflect.TypeFor[error]()
)

// guardedFilters is the filter dictionary every filter is registered
// through. Filters with []any parameters (the input, or concat's argument)
// get a wrapper that takes those as they come, refuses ranges and lists
// over maxListItems, and only then converts them; other filters are
// registered unchanged.
// It also records every filter name in known, for UnknownFilters.
type guardedFilters struct {
	cfg   *render.Config
	known map[string]bool
}

func (g guardedFilters) AddFilter(name string, fn any) {
	g.known[name] = true
	fv := reflect.ValueOf(fn)
	ft := fv.Type()
	in := make([]reflect.Type, ft.NumIn())
	var lists []int
	for i := range ft.NumIn() {
		in[i] = ft.In(i)
		if in[i] == anySliceType && !(ft.IsVariadic() && i == ft.NumIn()-1) {
			in[i] = anyType
			lists = append(lists, i)
		}
	}
	if len(lists) == 0 {
		g.cfg.AddFilter(name, fn)
		return
	}
	// The wrapper returns (value, error) whatever fn returns, so it can
	// refuse an input.
	wt := reflect.FuncOf(in, []reflect.Type{ft.Out(0), errorType}, ft.IsVariadic())
	wrapper := reflect.MakeFunc(wt, func(args []reflect.Value) []reflect.Value {
		fail := func(err error) []reflect.Value {
			return []reflect.Value{reflect.Zero(ft.Out(0)), reflect.ValueOf(&err).Elem()}
		}
		for _, i := range lists {
			list, err := toList(args[i].Interface())
			if err != nil {
				return fail(fmt.Errorf("%s: %w", name, err))
			}
			args[i] = reflect.ValueOf(list)
		}
		var out []reflect.Value
		if ft.IsVariadic() {
			out = fv.CallSlice(args)
		} else {
			out = fv.Call(args)
		}
		if len(out) == 2 && !out[1].IsNil() {
			return fail(out[1].Interface().(error))
		}
		return []reflect.Value{out[0], reflect.Zero(errorType)}
	})
	g.cfg.AddFilter(name, wrapper.Interface())
}

// toList converts a filter input to []any the way the library would, after
// checking ranges and lists against maxListItems.
func toList(v any) ([]any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []any:
		if len(v) > maxListItems {
			return nil, fmt.Errorf("%w: a list of %d items", ErrOutputTooLarge, len(v))
		}
		return v, nil
	case values.Range:
		n := v.Len()
		if n <= 0 {
			// Backwards ranges (5..1) are empty; the library would panic
			// allocating a negative length.
			return []any{}, nil
		}
		if n > maxListItems {
			return nil, fmt.Errorf("%w: a range of %d items", ErrOutputTooLarge, n)
		}
		return v.AsArray(), nil
	}
	rv := reflect.ValueOf(v)
	if (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Len() > maxListItems {
		return nil, fmt.Errorf("%w: a list of %d items", ErrOutputTooLarge, rv.Len())
	}
	out, err := values.Convert(v, anySliceType)
	if err != nil {
		return nil, err
	}
	return out.([]any), nil
}
