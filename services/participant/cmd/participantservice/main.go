// Command participantservice serves ParticipantService: see package
// github.com/convoflow/convoflow/services/participant and its README.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/convoflow/convoflow/services/participant"
)

func main() {
	// SIGINT and SIGTERM shut down gracefully; SIGHUP (roster reload) is
	// handled inside participant.Run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := participant.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
