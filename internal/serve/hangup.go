package serve

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// OnHangup calls fn each time the process receives SIGHUP, until ctx ends:
// the Unix way to tell a server to read its files (keys, certificate,
// roster) again. fn runs on one goroutine, so reloads never overlap.
func OnHangup(ctx context.Context, fn func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				fn()
			}
		}
	}()
}
