// Command devstack runs convoflow's tutorial on one machine: the
// Conversations fake, FlowService and ParticipantService as three separate
// processes, wired together and loaded with the demo flow and agent roster.
//
//	devstack run    start the stack, print how to use it, stop on Ctrl-C (make run)
//	devstack demo   play the tutorial against a running stack, or a fresh one (make demo)
//
// It drives the servers only through their public interfaces (FlowService's
// gRPC API, the Conversations API through twilio-go, the fake's control
// plane), exactly as a user would.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}
