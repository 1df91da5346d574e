// Command fakeconversations serves a stateful fake of the Twilio
// Conversations REST API. See fakes/conversations/README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/convoflow/convoflow/fakes/conversations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := conversations.Run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fakeconversations:", err)
		os.Exit(1)
	}
}
