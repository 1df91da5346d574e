package engine

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/convoflow/convoflow/internal/cputime"
)

// nopMessenger answers every send without keeping it.
type nopMessenger struct{}

func (nopMessenger) Send(ctx context.Context, o OutboundMessage) (SentMessage, error) {
	return SentMessage{Sid: "SM00000000000000000000000000000001", Status: "queued", From: o.From, To: o.To, Body: o.Body}, nil
}

// BenchmarkSteps measures steps per second through the split →
// set-variables → send-message loop of testdata/flows/split-set-send.json,
// raised to 300 rounds (901 steps per execution, under the 1000-step
// budget), with a messenger that answers at once. Every step renders its
// Liquid, snapshots the context as JSON and gets a SID, as in production.
func BenchmarkSteps(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "flows", "split-set-send.json"))
	if err != nil {
		b.Fatal(err)
	}
	data = bytes.Replace(data, []byte(`"value": "3"`), []byte(`"value": "300"`), 1)
	e, err := New(Options{Clock: SystemClock{}, IDs: RandomIDs{}, Messenger: nopMessenger{}, Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	def, err := e.Read(context.Background(), data)
	if err != nil {
		b.Fatal(err)
	}
	tr := (&triggerSpec{}).trigger()
	tr.Conversation.Body = "go"
	steps := 0
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for b.Loop() {
		res, err := e.Start(context.Background(), def, tr)
		if err != nil {
			b.Fatal(err)
		}
		if res.Execution.EndedReason != EndedFlowEnd {
			b.Fatalf("ended with %s: %s", res.Execution.EndedReason, res.Execution.EndedError)
		}
		steps += len(res.Steps)
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
	if cpu := cputime.Process() - cpu0; cpu > 0 {
		b.ReportMetric(float64(steps)/cpu.Seconds(), "steps/cpu-s")
	}
}

// BenchmarkValidate measures reading and validating the largest shared-size
// local definition (Liquid checks included).
func BenchmarkValidate(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "flows", "split-set-send.json"))
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(Options{Clock: SystemClock{}, IDs: RandomIDs{}, Messenger: nopMessenger{}, Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Read(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSession measures whole sessions, one per iteration, on the three
// kinds of flow issue 14 compares with nyaruka/goflow: split → send, a
// loopback run-function call, and wait → persist → resume. The messenger
// answers at once; the Function is a real HTTP server on loopback, so
// run_function includes a net/http round trip, as goflow's webhook does.
func BenchmarkSession(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"shipped"}`)
	}))
	b.Cleanup(srv.Close)
	e, err := New(Options{Clock: SystemClock{}, IDs: RandomIDs{}, Messenger: nopMessenger{}, Location: time.UTC,
		HTTP: &clientDoer{client: srv.Client(), from: "https://bench-1234-dev.twil.io", to: srv.URL}})
	if err != nil {
		b.Fatal(err)
	}
	read := func(b *testing.B, name string) *Definition {
		data, err := os.ReadFile(filepath.Join("testdata", "flows", name))
		if err != nil {
			b.Fatal(err)
		}
		def, err := e.Read(context.Background(), data)
		if err != nil {
			b.Fatal(err)
		}
		return def
	}
	// start runs one execution from a message and checks the last step, so
	// that a flow taking a failure or noMatch path cannot pass as fast.
	start := func(b *testing.B, def *Definition, body, wantLast string) *Result {
		tr := (&triggerSpec{}).trigger()
		tr.Conversation.Body = body
		res, err := e.Start(context.Background(), def, tr)
		if err != nil {
			b.Fatal(err)
		}
		if last := res.Steps[len(res.Steps)-1]; last.TransitionedFrom != wantLast {
			b.Fatalf("last step from %s (%s), want %s", last.TransitionedFrom, last.Name, wantLast)
		}
		return res
	}
	// ended checks that the reply was sent with the body the flow should
	// have rendered (nopMessenger echoes it into widgets.reply.outbound).
	ended := func(b *testing.B, res *Result, wantBody string) {
		x := res.Execution
		if x.EndedReason != EndedFlowEnd || res.Steps[len(res.Steps)-1].Name != "sent" {
			b.Fatalf("ended with %s: %s", x.EndedReason, x.EndedError)
		}
		if body := x.Context.Widgets["reply"].(map[string]any)["outbound"].(map[string]any)["Body"]; body != wantBody {
			b.Fatalf("reply %q, want %q", body, wantBody)
		}
	}

	b.Run("split_send", func(b *testing.B) {
		def := read(b, "bench-split-send.json")
		b.ReportAllocs()
		for b.Loop() {
			ended(b, start(b, def, "order", "reply"), "Thanks +15550001111, we got your order")
		}
	})
	b.Run("run_function", func(b *testing.B) {
		def := read(b, "bench-run-function.json")
		b.ReportAllocs()
		for b.Loop() {
			ended(b, start(b, def, "where is my order", "reply"), "Your order is shipped")
		}
	})
	b.Run("wait_persist_resume", func(b *testing.B) {
		def := read(b, "bench-wait-resume.json")
		reply := Resume{Kind: ResumeReply, Conversation: &ConversationMessage{
			ConversationSid: "CH00000000000000000000000000000001", MessageSid: "IM00000000000000000000000000000002",
			Author: "+15550001111", Body: "Ann", Attributes: "{}", Index: 2,
		}}
		b.ReportAllocs()
		for b.Loop() {
			res := start(b, def, "hello", "Trigger")
			if res.Wait == nil {
				b.Fatal("the execution does not wait")
			}
			// Persist as the runner does (runner/commit.go): the execution
			// goes to the store as JSON and comes back into a fresh value
			// for the resume, through its own MarshalJSON and UnmarshalJSON.
			data, err := res.Execution.MarshalJSON()
			if err != nil {
				b.Fatal(err)
			}
			var x Execution
			if err := x.UnmarshalJSON(data); err != nil {
				b.Fatal(err)
			}
			res, err = e.Resume(context.Background(), def, &x, reply)
			if err != nil {
				b.Fatal(err)
			}
			ended(b, res, "Hello Ann")
		}
	})
}
