package serve

import (
	"errors"
	"flag"
	"fmt"

	"github.com/convoflow/convoflow/internal/apikey"
	"github.com/convoflow/convoflow/internal/flagenv"
)

// Security is how a server is guarded, as both programs' flags give it:
// the API keys it requires, whether it may run open on a reachable
// address, and its TLS certificate.
type Security struct {
	// APIKeys are the keys given on the command line (--api-key,
	// repeatable; comma-separated in the environment).
	APIKeys flagenv.StringList
	// APIKeysFile holds more keys, one per line, read again on SIGHUP.
	APIKeysFile string
	// InsecureNoAuth allows serving without keys on a non-loopback address.
	InsecureNoAuth bool
	// TLSCert and TLSKey are PEM files; with them the server speaks HTTPS
	// instead of h2c. Read again on SIGHUP.
	TLSCert, TLSKey string
}

// Register defines the security flags on fs.
func (s *Security) Register(fs *flag.FlagSet) {
	fs.Var(&s.APIKeys, "api-key", "API key clients must send as \"authorization: Bearer KEY\" to call RPCs and reflection (repeatable; comma-separated in the environment; at least 16 characters)")
	fs.StringVar(&s.APIKeysFile, "api-keys-file", s.APIKeysFile, "file of API keys, one per line (# comments), read again on SIGHUP so keys rotate without a restart")
	fs.BoolVar(&s.InsecureNoAuth, "insecure-no-auth", s.InsecureNoAuth, "serve without API keys on an address other machines can reach (refused otherwise)")
	fs.StringVar(&s.TLSCert, "tls-cert", s.TLSCert, "PEM certificate (chain) to serve HTTPS with HTTP/2 instead of h2c; needs --tls-key; read again on SIGHUP")
	fs.StringVar(&s.TLSKey, "tls-key", s.TLSKey, "PEM private key of --tls-cert")
}

// Validate checks the flags for a server listening on listen: that the
// keys and the certificate load, and that a reachable address has keys or
// --insecure-no-auth. It reports every problem at once.
func (s Security) Validate(listen string) error {
	var errs []error
	keys, err := s.keys()
	if err != nil {
		errs = append(errs, err)
	}
	if _, err := loadCertificate(s.TLSCert, s.TLSKey); err != nil {
		errs = append(errs, err)
	}
	if keys != nil && s.InsecureNoAuth {
		errs = append(errs, errors.New("--insecure-no-auth contradicts --api-key/--api-keys-file: give one or the other"))
	}
	if err == nil && listen != "" {
		if err := checkExposure(Config{Addr: listen, APIKeys: keys, InsecureNoAuth: s.InsecureNoAuth}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Apply loads the keys into cfg and copies the rest of the settings.
func (s Security) Apply(cfg *Config) error {
	keys, err := s.keys()
	if err != nil {
		return err
	}
	cfg.APIKeys = keys
	cfg.InsecureNoAuth = s.InsecureNoAuth
	cfg.TLSCertFile, cfg.TLSKeyFile = s.TLSCert, s.TLSKey
	return nil
}

// keys is the key set the flags give, nil when they give none.
func (s Security) keys() (*apikey.Set, error) {
	if len(s.APIKeys) == 0 && s.APIKeysFile == "" {
		return nil, nil
	}
	k, err := apikey.New(s.APIKeys, s.APIKeysFile)
	if err != nil {
		return nil, fmt.Errorf("API keys: %w", err)
	}
	return k, nil
}
