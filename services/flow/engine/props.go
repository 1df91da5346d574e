package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Widget properties are decoded into each widget type's struct, one
// property at a time so that every bad property is reported with its own
// path. Fields are declared like this:
//
//	Timeout string `json:"timeout" studio:"required"`
//
// string fields accept JSON strings, numbers and booleans (exports write
// numbers both ways); bool fields accept booleans and "true"/"false";
// anything else is decoded by encoding/json.

// param is a {key, value} item of parameters, variables and
// content_variables.
type param struct {
	Key   string
	Value string
	// ParseAsJSON and Type are set-variables' per-item options.
	ParseAsJSON bool
	Type        string
}

// UnmarshalJSON accepts numbers and booleans as values.
func (p *param) UnmarshalJSON(b []byte) error {
	var raw struct {
		Key         text            `json:"key"`
		Value       text            `json:"value"`
		ParseAsJSON json.RawMessage `json:"parse_as_json"`
		Type        text            `json:"type"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.Key, p.Value, p.Type = string(raw.Key), string(raw.Value), string(raw.Type)
	if raw.ParseAsJSON != nil {
		v, err := parseFlag(raw.ParseAsJSON)
		if err != nil {
			return fmt.Errorf("parse_as_json: %w", err)
		}
		p.ParseAsJSON = v
	}
	return nil
}

func parseFlag(b json.RawMessage) (bool, error) {
	var t text
	if err := json.Unmarshal(b, &t); err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(string(t))) {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, fmt.Errorf("expected true or false, got %q", string(t))
}

var (
	textType = reflect.TypeFor[string]()
	boolType = reflect.TypeFor[bool]()
)

// decodeProps fills dst (a pointer to a struct) from raw properties and
// returns a problem for every property of the wrong type and every
// required property that is missing or empty.
func decodeProps(raw json.RawMessage, dst any, path string) []Problem {
	var m map[string]json.RawMessage
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			return []Problem{{PropertyPath: path, Message: "properties must be an object", Code: CodeInvalidDefinition}}
		}
	}
	return decodeFields(m, reflect.ValueOf(dst).Elem(), path)
}

func decodeFields(m map[string]json.RawMessage, v reflect.Value, path string) []Problem {
	var problems []Problem
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			// Embedded property sets (messageProps) are flattened, as in JSON.
			problems = append(problems, decodeFields(m, v.Field(i), path)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		required := f.Tag.Get("studio") == "required"
		fp := path + "/" + name
		r, ok := m[name]
		if !ok || isNull(r) {
			if required {
				problems = append(problems, Problem{PropertyPath: fp, Message: name + " is required", Code: CodeInvalidDefinition})
			}
			continue
		}
		fv := v.Field(i)
		var err error
		switch f.Type {
		case textType:
			var s text
			if err = json.Unmarshal(r, &s); err == nil {
				fv.SetString(string(s))
				if required && strings.TrimSpace(string(s)) == "" {
					problems = append(problems, Problem{PropertyPath: fp, Message: name + " is required", Code: CodeInvalidDefinition})
				}
			}
		case boolType:
			var b bool
			if b, err = parseFlag(r); err == nil {
				fv.SetBool(b)
			}
		default:
			err = json.Unmarshal(r, fv.Addr().Interface())
		}
		if err != nil {
			problems = append(problems, Problem{PropertyPath: fp, Message: fmt.Sprintf("%s has the wrong type: %v", name, simplifyJSONError(err)), Code: CodeInvalidDefinition})
		}
	}
	return problems
}

// simplifyJSONError drops encoding/json's Go type names, which mean
// nothing to a flow author.
func simplifyJSONError(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return "expected " + jsonKind(te.Type) + ", got " + te.Value
	}
	return err.Error()
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	}
	return "a " + t.Kind().String()
}

// parseSeconds reads a timeout property: a non-negative whole number of
// seconds, written as a string or a number.
func parseSeconds(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a whole number of seconds", s)
	}
	return n, nil
}
