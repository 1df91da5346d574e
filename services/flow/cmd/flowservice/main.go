// Command flowservice serves FlowService, a self-hosted Twilio Studio for
// Conversations, over gRPC, Connect and gRPC-Web, with the Studio webhook
// Conversations delivers events to. See services/flow/README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/convoflow/convoflow/services/flow"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := flow.Run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "flowservice:", err)
		os.Exit(1)
	}
}
