package conversations

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/convoflow/convoflow/internal/flagenv"
)

// EnvPrefix prefixes the environment variables that set the binary's flags.
const EnvPrefix = "FAKECONVERSATIONS_"

// Run is the fakeconversations program: it parses args (flags, each also
// settable by FAKECONVERSATIONS_<FLAG>), serves until ctx ends, then shuts
// down gracefully. It logs one line "listening on ADDR" when ready.
func Run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakeconversations", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8083", "address to serve the fake Conversations API on")
	accountSid := fs.String("account-sid", DefaultAccountSid, "account SID accepted by Basic auth")
	authToken := fs.String("auth-token", DefaultAuthToken, "auth token accepted by Basic auth and used to sign webhooks")
	studioURL := fs.String("studio-url", "", "base URL that target=studio webhooks are posted to ({url}/v1/Accounts/{AC}/Flows/{FW})")
	publicURL := fs.String("public-url", "", "base URL used in url, links and paging URLs (default: derived from each request's Host)")
	seed := fs.Uint64("seed", 0, "seed for deterministic SIDs (0 = random)")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	if err := flagenv.Parse(fs, EnvPrefix, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("comp", "fakeconversations")
	if *seed != 0 {
		log.Warn("seed set: SIDs are deterministic", "seed", *seed)
	}
	srv, err := NewServer(Options{
		Listen: *listen, AccountSid: *accountSid, AuthToken: *authToken, StudioURL: *studioURL,
		PublicBaseURL: *publicURL, Seed: *seed, Logger: log,
	})
	if err != nil {
		return err
	}
	log.Info("listening on " + srv.Addr().String())
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
