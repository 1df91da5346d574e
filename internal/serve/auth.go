package serve

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
)

// errorWriter answers in the protocol the client spoke: a Connect JSON
// error, gRPC trailers or a gRPC-Web trailer frame.
var errorWriter = connect.NewErrorWriter()

// needsKey reports whether a request must carry an API key: the services'
// RPCs and reflection do; grpc.health.v1, /healthz and the plain routes
// (which authenticate their own callers, by Twilio signature) do not.
func (s *Server) needsKey(path string) bool {
	for _, p := range s.protected {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// authenticate checks the request's API key when one is required and, when
// it is missing or wrong, answers Unauthenticated and returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.APIKeys == nil || !s.needsKey(r.URL.Path) {
		return true
	}
	err := s.cfg.APIKeys.Authenticate(r.Header.Get("Authorization"))
	if err == nil {
		return true
	}
	s.cfg.Metrics.refused(err)
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.cfg.Name+`"`)
	if errorWriter.IsSupported(r) {
		_ = errorWriter.Write(w, r, connect.NewError(connect.CodeUnauthenticated, err))
		return false
	}
	http.Error(w, err.Error(), http.StatusUnauthorized)
	return false
}

// protectedPrefixes are the paths that need a key: every service's and
// reflection's.
func protectedPrefixes(services []Service) []string {
	out := []string{
		"/" + grpcreflect.ReflectV1ServiceName + "/",
		"/" + grpcreflect.ReflectV1AlphaServiceName + "/",
	}
	for _, svc := range services {
		out = append(out, svc.Path)
	}
	return out
}

// ErrNoAuth is returned by New for a server without API keys on an address
// others can reach, unless Config.InsecureNoAuth says that is intended.
var ErrNoAuth = errors.New("refusing to serve without API keys on an address other machines can reach")

// checkExposure enforces "secure by default": no keys is fine on loopback,
// where only this machine reaches the server, and elsewhere only when asked
// for explicitly.
func checkExposure(cfg Config) error {
	if cfg.APIKeys != nil || cfg.InsecureNoAuth || isLoopback(cfg.Addr) {
		return nil
	}
	return fmt.Errorf("%w (%s): anyone reaching it could call every RPC; give --api-key or --api-keys-file, or --insecure-no-auth to serve without authentication", ErrNoAuth, cfg.Addr)
}

// isLoopback reports whether addr listens on loopback only. An empty host,
// 0.0.0.0 and :: listen everywhere; a host name other than localhost may
// resolve to anything.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// logSecurity says at start how the server is guarded, so that an open
// server is never open by surprise.
func (s *Server) logSecurity(addr string) {
	scheme := "h2c and HTTP/1.1 (no TLS)"
	if s.tls != nil {
		scheme = "TLS (HTTP/2 and HTTP/1.1)"
	}
	switch {
	case s.cfg.APIKeys != nil:
		s.log.Info("RPCs and reflection require an API key", "keys", s.cfg.APIKeys.Len(), "transport", scheme)
	case s.cfg.InsecureNoAuth:
		s.log.Warn("--insecure-no-auth: serving without API keys; anyone reaching "+addr+" can call every RPC", "transport", scheme)
	default:
		s.log.Warn("no API keys configured: every RPC is open to processes on this machine; give --api-key to require one", "transport", scheme)
	}
}
