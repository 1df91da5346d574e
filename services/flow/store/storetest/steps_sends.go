package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/store"
)

func testSteps(t *testing.T, s store.Store) {
	_, e := flowWithExecution(t, s)
	_, other := flowWithExecution(t, s)
	empty := must[store.StepPage](t)(s.ListSteps(ctxOf(t), e.SID, store.PageParams{}))
	if len(empty.Steps) != 0 || empty.NextPageToken != "" {
		t.Fatalf("new execution has steps: %+v", empty)
	}
	var want []store.Step
	subflow := newSID(store.PrefixFlow)
	for i, to := range []string{"check", "send", "wait", "reply", "Ended"} {
		in := store.Step{
			SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Name: "incomingConversationMessage",
			TransitionedFrom: "Trigger", TransitionedTo: to, Type: "split-based-on",
			Context:    json.RawMessage(`{"i":` + string(rune('0'+i)) + `}`),
			CreateTime: t0.Add(time.Duration(i) * time.Millisecond),
		}
		// Steps 3 and 4 ran inside a subflow entered by step 2.
		if i == 2 || i == 3 {
			in.FlowSID, in.ParentStepSID = subflow, want[1].SID
		}
		got := must[store.Step](t)(s.AppendStep(ctxOf(t), in))
		in.Sequence = int64(i + 1)
		if in.FlowSID == "" {
			in.FlowSID = e.FlowSID // the execution's flow, when none is given
		}
		diff(t, "appended step", in, got)
		want = append(want, in)
		// Another execution's steps number independently.
		if o := must[store.Step](t)(s.AppendStep(ctxOf(t), store.Step{SID: newSID(store.PrefixStep), ExecutionSID: other.SID})); o.Sequence != int64(i+1) {
			t.Errorf("other execution's step sequence = %d, want %d", o.Sequence, i+1)
		}
	}
	for _, size := range []int{0, 1, 2, 5} {
		var got []store.Step
		p := store.PageParams{PageSize: size}
		for range 10 {
			page := must[store.StepPage](t)(s.ListSteps(ctxOf(t), e.SID, p))
			got = append(got, page.Steps...)
			if page.NextPageToken == "" {
				break
			}
			p.PageToken = page.NextPageToken
		}
		diff(t, "listed steps", want, got)
	}
	diff(t, "step", want[2], must[store.Step](t)(s.GetStep(ctxOf(t), want[2].SID)))
	diff(t, "step context", want[2].Context, must[json.RawMessage](t)(s.GetStepContext(ctxOf(t), want[2].SID)))

	// An explicit sequence is kept; a taken one is refused.
	explicit := must[store.Step](t)(s.AppendStep(ctxOf(t), store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Sequence: 10}))
	if explicit.Sequence != 10 || explicit.Context != nil {
		t.Errorf("explicit step = %+v", explicit)
	}
	if next := must[store.Step](t)(s.AppendStep(ctxOf(t), store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID})); next.Sequence != 11 {
		t.Errorf("sequence after 10 = %d, want 11", next.Sequence)
	}
	for _, tc := range []struct {
		name string
		step store.Step
		want error
	}{
		{"sequence_taken", store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Sequence: 3}, store.ErrAlreadyExists},
		{"sid_taken", store.Step{SID: want[0].SID, ExecutionSID: e.SID}, store.ErrAlreadyExists},
		{"execution_unknown", store.Step{SID: newSID(store.PrefixStep), ExecutionSID: newSID(store.PrefixExecution)}, store.ErrNotFound},
		{"sid_malformed", store.Step{SID: "FT1", ExecutionSID: e.SID}, store.ErrInvalidArgument},
		{"context_not_json", store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Context: json.RawMessage(`x`)}, store.ErrInvalidArgument},
		{"negative_sequence", store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, Sequence: -1}, store.ErrInvalidArgument},
		{"flow_sid_malformed", store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, FlowSID: "FW1"}, store.ErrInvalidArgument},
		{"parent_step_sid_malformed", store.Step{SID: newSID(store.PrefixStep), ExecutionSID: e.SID, ParentStepSID: e.SID}, store.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.AppendStep(ctxOf(t), tc.step)
			wantErr(t, err, tc.want)
		})
	}
	_, err := s.GetStep(ctxOf(t), newSID(store.PrefixStep))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetStepContext(ctxOf(t), newSID(store.PrefixStep))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.ListSteps(ctxOf(t), newSID(store.PrefixExecution), store.PageParams{})
	wantErr(t, err, store.ErrNotFound)
	_, err = s.ListSteps(ctxOf(t), e.SID, store.PageParams{PageToken: "AAAA"})
	wantErr(t, err, store.ErrInvalidArgument)
}

func testSends(t *testing.T, s store.Store) {
	_, e := flowWithExecution(t, s)
	key := e.SID + "/FT00000000000000000000000000000001"
	_, err := s.GetSend(ctxOf(t), key)
	wantErr(t, err, store.ErrNotFound)
	in := store.Send{Key: key, ExecutionSID: e.SID, Result: json.RawMessage(`{"sid":"IM123","index":4}`), CreateTime: t0}
	diff(t, "recorded send", in, must[store.Send](t)(s.RecordSend(ctxOf(t), in)))
	diff(t, "read send", in, must[store.Send](t)(s.GetSend(ctxOf(t), key)))

	again := in
	again.Result = json.RawMessage(`{"sid":"IM999"}`)
	_, err = s.RecordSend(ctxOf(t), again)
	wantErr(t, err, store.ErrAlreadyExists)
	diff(t, "send after duplicate", in, must[store.Send](t)(s.GetSend(ctxOf(t), key)))

	// DeleteSends deletes those that exist and skips the others.
	other := store.Send{Key: e.SID + "/FT00000000000000000000000000000002", ExecutionSID: e.SID, CreateTime: t0}
	must[store.Send](t)(s.RecordSend(ctxOf(t), other))
	kept := store.Send{Key: e.SID + "/FT00000000000000000000000000000003", ExecutionSID: e.SID, CreateTime: t0}
	must[store.Send](t)(s.RecordSend(ctxOf(t), kept))
	if n := must[int](t)(s.DeleteSends(ctxOf(t), []string{key, "no such key", other.Key, "bad\x00key"})); n != 2 {
		t.Errorf("DeleteSends deleted %d, want 2", n)
	}
	for _, k := range []string{key, other.Key} {
		_, err = s.GetSend(ctxOf(t), k)
		wantErr(t, err, store.ErrNotFound)
	}
	must[store.Send](t)(s.GetSend(ctxOf(t), kept.Key))
	if n := must[int](t)(s.DeleteSends(ctxOf(t), nil)); n != 0 {
		t.Errorf("DeleteSends(nil) deleted %d", n)
	}
	// A deleted key can be recorded again.
	diff(t, "send recorded again", in, must[store.Send](t)(s.RecordSend(ctxOf(t), in)))

	for _, tc := range []struct {
		name string
		send store.Send
		want error
	}{
		{"key_empty", store.Send{ExecutionSID: e.SID}, store.ErrInvalidArgument},
		{"execution_malformed", store.Send{Key: "k", ExecutionSID: "FN"}, store.ErrInvalidArgument},
		{"execution_unknown", store.Send{Key: "k", ExecutionSID: newSID(store.PrefixExecution)}, store.ErrNotFound},
		{"result_not_json", store.Send{Key: "k", ExecutionSID: e.SID, Result: json.RawMessage(`{`)}, store.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.RecordSend(ctxOf(t), tc.send)
			wantErr(t, err, tc.want)
		})
	}
}
