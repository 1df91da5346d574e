package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/internal/serve"
)

// keepAlive is how often an idle event stream gets a comment line, so
// that proxies do not close it and a vanished browser is noticed.
const keepAlive = 15 * time.Second

// events is /console/flows/{flow}/executions/{execution}/events: the
// execution's WatchExecution stream as server-sent events. Every message
// is an event "step" whose data is the WatchExecutionResponse in protojson
// ({"step": …, "execution": …}); after the execution's end comes an event
// "end" and the stream closes. The browser's EventSource reconnects on
// its own after a network failure and is then sent every step again.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rc := http.NewResponseController(w)
	stream, err := c.watch.WatchExecution(ctx, &flowv1.WatchExecutionRequest{FlowSid: r.PathValue("flow"), ExecutionSid: r.PathValue("execution")})
	if err != nil {
		http.Error(w, connectMessage(err), serve.HTTPStatus(connect.CodeOf(err)))
		return
	}
	msgs := make(chan *flowv1.WatchExecutionResponse)
	done := make(chan error, 1) // the stream's end: nil, or why it broke off
	finished := make(chan struct{})
	// The stream is closed only once the goroutine receiving from it has
	// returned: a stream must not be closed while it is read.
	defer func() {
		cancel()
		<-finished
		_ = stream.Close()
	}()
	go func() {
		var err error
		defer close(finished)
		defer func() { done <- err; close(msgs) }()
		for stream.Receive() {
			select {
			case msgs <- stream.Msg():
			case <-ctx.Done():
				err = ctx.Err()
				return
			}
		}
		err = stream.Err()
	}()
	// The first message tells whether the execution exists; only then is
	// the response committed as an event stream.
	first, ok := <-msgs
	if !ok {
		err := <-done
		if err == nil {
			err = connect.NewError(connect.CodeInternal, errors.New("the stream ended without a message"))
		}
		http.Error(w, connectMessage(err), serve.HTTPStatus(connect.CodeOf(err)))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	w.WriteHeader(http.StatusOK)
	send := func(event, data string) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		_ = rc.Flush()
		return true
	}
	step := func(m *flowv1.WatchExecutionResponse) bool {
		b, err := protojson.Marshal(m)
		if err != nil {
			c.log.ErrorContext(ctx, "console: encoding a step", "err", err)
			return false
		}
		return send("step", string(b))
	}
	if !step(first) {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for open := true; open; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			_ = rc.Flush()
		case m, ok := <-msgs:
			if open = ok; ok && !step(m) {
				return
			}
		}
	}
	if err := <-done; err != nil {
		// The stream broke off (shutdown, an internal error): say so; the
		// browser's EventSource reconnects.
		send("error", connectMessage(err))
		return
	}
	send("end", "{}")
}

// connectMessage is the message of an RPC error, as a client would read
// it (without the code prefix connect's Error() adds).
func connectMessage(err error) string {
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		return cerr.Message()
	}
	return err.Error()
}
