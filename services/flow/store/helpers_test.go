package store_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

func TestCheckSID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, prefix, sid string
		ok                bool
	}{
		{"lower_hex", "FW", "FW0123456789abcdef0123456789abcdef", true},
		{"upper_hex", "FN", "FN0123456789ABCDEF0123456789ABCDEF", true},
		{"wrong_prefix", "FW", "FN0123456789abcdef0123456789abcdef", false},
		{"short", "FW", "FW0123", false},
		{"long", "FW", "FW0123456789abcdef0123456789abcdef0", false},
		{"not_hex", "FT", "FT0123456789abcdef0123456789abcdeg", false},
		{"empty", "FW", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := store.CheckSID("thing", tc.prefix, tc.sid)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, store.ErrInvalidArgument)) {
				t.Errorf("CheckSID(%q, %q) = %v, want ok = %v", tc.prefix, tc.sid, err, tc.ok)
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"", true}, {"null", true}, {`{"a":[1,2]}`, true}, {`"s"`, true},
		{"{", false}, {"{'a':1}", false}, {"nul", false},
		{"\"caf\xe9\"", false}, // JSON, but not UTF-8: PostgreSQL's text refuses it
	} {
		err := store.CheckJSON("doc", json.RawMessage(tc.raw))
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, store.ErrInvalidArgument)) {
			t.Errorf("CheckJSON(%q) = %v, want ok = %v", tc.raw, err, tc.ok)
		}
	}
}

func TestCheckText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in []string
		ok bool
	}{
		{nil, true}, {[]string{"", "héllo", "☎"}, true},
		{[]string{"ok", "a\x00b"}, false}, {[]string{"caf\xe9"}, false},
	} {
		err := store.CheckText("field", tc.in...)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, store.ErrInvalidArgument)) {
			t.Errorf("CheckText(%q) = %v, want ok = %v", tc.in, err, tc.ok)
		}
	}
}

func TestPageSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want int
		ok       bool
	}{
		{0, store.DefaultPageSize, true}, {1, 1, true}, {store.MaxPageSize, store.MaxPageSize, true},
		{store.MaxPageSize + 1, store.MaxPageSize, true}, {-1, 0, false},
	} {
		got, err := store.PageSize(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("PageSize(%d) = %d, %v; want %d, ok = %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestPageToken(t *testing.T) {
	t.Parallel()
	for _, after := range []int64{0, 1, 1 << 40} {
		tok := store.EncodePageToken("flows", after)
		got, ok, err := store.DecodePageToken("flows", tok)
		if err != nil || !ok || got != after {
			t.Errorf("round trip of %d via %q = %d, %v, %v", after, tok, got, ok, err)
		}
	}
	if _, ok, err := store.DecodePageToken("flows", ""); ok || err != nil {
		t.Errorf("empty token: ok = %v, err = %v; want first page", ok, err)
	}
	for _, tc := range []struct{ name, list, token string }{
		{"other_list", "steps:FN1", store.EncodePageToken("steps:FN2", 3)},
		{"not_base64", "flows", "%%%"},
		{"not_a_number", "flows", "djE6Zmxvd3M6eA"}, // v1:flows:x
		{"no_version", "flows", "Zmxvd3M6Mw"},       // flows:3
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := store.DecodePageToken(tc.list, tc.token); !errors.Is(err, store.ErrInvalidArgument) {
				t.Errorf("DecodePageToken(%q, %q) = %v, want ErrInvalidArgument", tc.list, tc.token, err)
			}
		})
	}
}

func TestTimes(t *testing.T) {
	t.Parallel()
	if store.TimeToMicros(time.Time{}) != 0 || !store.MicrosToTime(0).IsZero() {
		t.Error("the zero time does not map to 0 and back")
	}
	in := time.Date(2026, 11, 25, 9, 8, 7, 654321987, time.FixedZone("X", 3600))
	got := store.Normalize(in)
	want := time.Date(2026, 11, 25, 8, 8, 7, 654321000, time.UTC)
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Normalize(%v) = %v, want %v", in, got, want)
	}
}

func TestErrorTypes(t *testing.T) {
	t.Parallel()
	var err error = &store.ActiveExecutionError{FlowSID: "FW1", ContactChannelAddress: "+1555", ExecutionSID: "FN1"}
	if !errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrConflict) {
		t.Errorf("%v: wrong sentinel", err)
	}
	if want := `execution FN1 of flow FW1 is already active for contact "+1555"`; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	err = &store.ActiveExecutionError{FlowSID: "FW1", ConversationSID: "CH1", ExecutionSID: "FN1"}
	if want := "execution FN1 of flow FW1 is already active for conversation CH1"; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	err = &store.LeaseHeldError{Name: "n", Owner: "o", ExpireTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if !errors.Is(err, store.ErrConflict) || err.Error() != `lease "n" is held by "o" until 2026-01-02T03:04:05Z` {
		t.Errorf("lease error %q", err)
	}
}
