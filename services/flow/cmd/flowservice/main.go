// Command flowservice serves FlowService, a self-hosted Twilio Studio for
// Conversations, over gRPC, Connect and gRPC-Web, with the Studio webhook
// Conversations delivers events to. See services/flow/README.md.
//
// `flowservice healthcheck` asks a running flowservice for GET /healthz and
// exits non-zero unless it is serving (for container health checks).
//
// `flowservice render-flow FILE > flow.svg` draws a flow definition as the
// console's canvas does, without a server.
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
	run := flow.Run
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "render-flow" {
		if err := flow.RenderFlow(args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "flowservice:", err)
			os.Exit(1)
		}
		return
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		// For container health checks: the image has no shell or curl.
		run, args = flow.Healthcheck, args[1:]
	}
	if err := run(ctx, args, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "flowservice:", err)
		os.Exit(1)
	}
}
