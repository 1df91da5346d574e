package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/convoflow/convoflow/internal/apikey"
)

// Defaults for the Config fields left zero.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultShutdownTimeout   = 15 * time.Second
)

// Service is one connect service to serve: the pair a generated
// New…ServiceHandler returns, plus the service's fully-qualified name (the
// generated …ServiceName constant), which reflection and health use.
type Service struct {
	// Name is the fully-qualified protobuf service name, for example
	// flowv1connect.FlowServiceName. It must be registered in
	// protoregistry.GlobalFiles, which importing the generated package does.
	Name string
	// Path is the URL path prefix the handler serves, as returned by the
	// generated constructor ("/convoflow.flow.v1.FlowService/").
	Path string
	// Handler is the connect handler. Build it with HandlerOptions so the
	// request size limit applies.
	Handler http.Handler
}

// Route is a plain HTTP route served next to the RPCs, such as
// ParticipantService's /functions/… endpoints or FlowService's webhook.
type Route struct {
	// Pattern is an http.ServeMux pattern, for example
	// "POST /functions/add-support-agent".
	Pattern string
	// Handler serves the route. Its request body is limited to
	// Config.MaxRequestBytes; see IsTooLarge.
	Handler http.Handler
	// Streaming marks a long-lived response such as server-sent events:
	// like a streaming RPC it is exempt from WriteTimeout and is cancelled
	// when shutdown begins, so it neither breaks after a minute nor holds
	// shutdown up.
	Streaming bool
}

// Config describes a server. Name, Addr, Logger and at least one Service are
// required; zero durations and sizes take the Default… values.
type Config struct {
	// Name identifies the program in logs ("flowservice").
	Name string
	// Addr is the TCP address to listen on; port 0 picks a free port.
	Addr string
	// Logger receives the start-up line and the request log.
	Logger *slog.Logger
	// Services are the connect services to serve.
	Services []Service
	// Routes are extra plain HTTP routes.
	Routes []Route
	// MaxRequestBytes bounds the body of plain routes
	// (DefaultMaxRequestBytes when 0). RPC messages are bounded by the
	// handler options, see HandlerOptions.
	MaxRequestBytes int64
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole unary request. Streaming RPCs are
	// exempt, because their request body may legitimately stay open.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to the
	// end of the response of unary RPCs and plain routes. It is applied per
	// request and not as http.Server.WriteTimeout, because the server-wide
	// timeout would reset long-lived streams such as WatchExecution.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the size of request headers.
	MaxHeaderBytes int
	// ShutdownTimeout bounds how long Run waits for in-flight unary requests
	// once its context is cancelled; connections still open after it are
	// closed.
	ShutdownTimeout time.Duration

	// APIKeys, when set, are required (as "authorization: Bearer KEY") by
	// every RPC and by reflection; health and the plain routes stay open.
	// Reload reads its file again.
	APIKeys *apikey.Set
	// InsecureNoAuth allows serving without APIKeys on an address other
	// than loopback; New refuses that otherwise (ErrNoAuth).
	InsecureNoAuth bool
	// TLSCertFile and TLSKeyFile, when set, make Run serve HTTPS (HTTP/2
	// and HTTP/1.1 negotiated by ALPN) instead of h2c. Reload reads them
	// again.
	TLSCertFile, TLSKeyFile string

	// Metrics, when set, is served as GET /metrics (without an API key,
	// as health is) and counts refused keys; the services' handlers count
	// RPCs with Metrics.HandlerOption.
	Metrics *Metrics
	// MetricsAddr, when set, serves /metrics on this address (plain HTTP)
	// instead of the main port, for example to keep it on an internal
	// interface.
	MetricsAddr string
	// Pprof serves net/http/pprof's handlers under /debug/pprof/ on
	// MetricsAddr, which it needs (they would expose the process on the
	// main port).
	Pprof bool
	// Tracing, when set, gives every request (but health checks and
	// scrapes) a server span that continues the caller's trace; see
	// internal/telemetry.
	Tracing trace.TracerProvider
}

// Server serves one or more connect services and their plain routes on one
// port. Create it with New and start it with Run.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	health  *grpchealth.StaticChecker
	names   []string
	// protected holds the path prefixes that need an API key.
	protected []string
	tls       *certificate // nil without TLS
	// streaming holds the procedure paths ("/pkg.Service/Method") of
	// streaming RPCs, which are exempt from the per-request deadlines.
	streaming map[string]bool

	// streamsCtx is cancelled when shutdown begins: streams (which may last
	// for hours) end promptly so that Shutdown need only wait for unary
	// requests.
	streamsCtx    context.Context
	cancelStreams context.CancelFunc

	mu          sync.Mutex
	started     bool
	addr        net.Addr
	metricsAddr net.Addr
	ready       chan struct{}
	serving     bool
}

// New checks cfg and builds the server's handler. It does not listen; Run
// does.
func New(cfg Config) (*Server, error) {
	if cfg.Name == "" {
		return nil, errors.New("serve: Config.Name is required")
	}
	if cfg.Addr == "" {
		return nil, errors.New("serve: Config.Addr is required")
	}
	if cfg.Logger == nil {
		return nil, errors.New("serve: Config.Logger is required")
	}
	if len(cfg.Services) == 0 {
		return nil, errors.New("serve: at least one Service is required")
	}
	if cfg.Pprof && cfg.MetricsAddr == "" {
		return nil, errors.New("serve: Config.Pprof needs Config.MetricsAddr")
	}
	if cfg.MetricsAddr != "" && cfg.Metrics == nil {
		return nil, errors.New("serve: Config.MetricsAddr needs Config.Metrics")
	}
	setDefaults(&cfg)
	if err := checkExposure(cfg); err != nil {
		return nil, err
	}
	cert, err := loadCertificate(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, err
	}

	s := &Server{
		protected: protectedPrefixes(cfg.Services),
		tls:       cert,
		cfg:       cfg,
		log:       cfg.Logger.With("svc", cfg.Name),
		streaming: map[string]bool{},
		ready:     make(chan struct{}),
		serving:   true,
	}
	s.streamsCtx, s.cancelStreams = context.WithCancel(context.Background())

	for _, svc := range cfg.Services {
		if svc.Name == "" || svc.Path == "" || svc.Handler == nil {
			return nil, fmt.Errorf("serve: service %q needs Name, Path and Handler", svc.Name)
		}
		if err := s.addStreamingProcedures(svc.Name); err != nil {
			return nil, err
		}
		s.names = append(s.names, svc.Name)
	}
	// Standard streaming procedures of the services registered below; their
	// descriptors live under connect's own package names, so they are listed
	// rather than looked up.
	s.streaming["/"+grpchealth.HealthV1ServiceName+"/Watch"] = true
	s.streaming["/"+grpcreflect.ReflectV1ServiceName+"/ServerReflectionInfo"] = true
	s.streaming["/"+grpcreflect.ReflectV1AlphaServiceName+"/ServerReflectionInfo"] = true

	s.health = grpchealth.NewStaticChecker(s.names...)
	s.health.SetStatus("", grpchealth.StatusServing)

	mux, err := s.buildMux()
	if err != nil {
		return nil, err
	}
	s.handler = s.traced(s.middleware(mux))
	return s, nil
}

func setDefaults(cfg *Config) {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// addStreamingProcedures records the streaming methods of the named service,
// read from its registered descriptor so that a new streaming RPC needs no
// change here.
func (s *Server) addStreamingProcedures(name string) error {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return fmt.Errorf("serve: service %q is not registered (import its generated package): %w", name, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return fmt.Errorf("serve: %q is not a service", name)
	}
	methods := sd.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		if m.IsStreamingClient() || m.IsStreamingServer() {
			s.streaming["/"+name+"/"+string(m.Name())] = true
		}
	}
	return nil
}

func (s *Server) buildMux() (mux *http.ServeMux, err error) {
	mux = http.NewServeMux()
	// ServeMux panics on an invalid or conflicting pattern; that is a
	// configuration error of the caller, so report it as one.
	defer func() {
		if p := recover(); p != nil {
			mux, err = nil, fmt.Errorf("serve: %v", p)
		}
	}()
	for _, svc := range s.cfg.Services {
		mux.Handle(svc.Path, svc.Handler)
	}
	reflected := append(append([]string(nil), s.names...), grpchealth.HealthV1ServiceName)
	reflector := grpcreflect.NewStaticReflector(reflected...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.Handle(grpchealth.NewHandler(s.health))
	mux.HandleFunc("GET /healthz", s.serveHealthz)
	if s.cfg.Metrics != nil && s.cfg.MetricsAddr == "" {
		mux.Handle("GET "+metricsPath, s.cfg.Metrics.Handler())
	}
	for _, rt := range s.cfg.Routes {
		if rt.Pattern == "" || rt.Handler == nil {
			return nil, fmt.Errorf("serve: route %q needs Pattern and Handler", rt.Pattern)
		}
		h := limitBody(rt.Handler, s.cfg.MaxRequestBytes)
		if rt.Streaming {
			h = s.streamRoute(h)
		}
		mux.Handle(rt.Pattern, h)
	}
	return mux, nil
}

// serveHealthz answers plain-HTTP liveness and readiness probes, following
// the gRPC health status so both report the same thing during shutdown.
func (s *Server) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !s.Serving() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("shutting down\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Handler returns the server's complete handler (RPCs, reflection, health,
// /healthz and routes behind the logging middleware), for tests that serve
// it themselves.
func (s *Server) Handler() http.Handler { return s.handler }

// SetServing sets the gRPC health status of every service and of the server
// as a whole ("") to SERVING or NOT_SERVING; GET /healthz follows it. Run
// sets NOT_SERVING when shutdown begins.
func (s *Server) SetServing(serving bool) {
	s.mu.Lock()
	s.serving = serving
	s.mu.Unlock()
	status := grpchealth.StatusNotServing
	if serving {
		status = grpchealth.StatusServing
	}
	s.health.SetStatus("", status)
	for _, name := range s.names {
		s.health.SetStatus(name, status)
	}
}

// Serving reports the status last set by SetServing (initially true).
func (s *Server) Serving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving
}

// Reload reads the API keys file and the TLS certificate again, what the
// programs do on SIGHUP. What fails to load is logged and returned, and the
// keys or certificate in use stay.
func (s *Server) Reload() error {
	var errs []error
	if k := s.cfg.APIKeys; k != nil {
		if err := k.Reload(); err != nil {
			s.log.Error("reloading API keys; the previous keys stay in use", "err", err)
			errs = append(errs, err)
		} else {
			s.log.Info("API keys reloaded", "keys", k.Len(), "file", k.File())
		}
	}
	if s.tls != nil {
		if err := s.tls.reload(); err != nil {
			s.log.Error("reloading the TLS certificate; the previous one stays in use", "err", err)
			errs = append(errs, err)
		} else {
			s.log.Info("TLS certificate reloaded", "cert", s.tls.certFile)
		}
	}
	return errors.Join(errs...)
}

// Ready returns a channel that is closed once Run listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound address once Ready is closed, and nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL returns "http://" + Addr() ("https://" with TLS), the base URL for
// clients, once Ready is closed; "" before.
func (s *Server) URL() string {
	a := s.Addr()
	if a == nil {
		return ""
	}
	if s.tls != nil {
		return "https://" + a.String()
	}
	return "http://" + a.String()
}

// Run listens on Config.Addr and serves until ctx is cancelled, then shuts
// down gracefully: health turns NOT_SERVING, open streams are cancelled, and
// unary requests in flight get up to ShutdownTimeout to finish. It returns
// nil after a graceful shutdown and an error if listening or serving fails.
// Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("serve: Run called twice")
	}
	s.started = true
	s.mu.Unlock()
	defer s.cancelStreams()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", s.cfg.Addr, err)
	}
	stopMetrics, err := s.serveMetrics(ctx, lc)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics()
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	if s.tls != nil {
		protocols.SetHTTP2(true)
	} else {
		// Prior-knowledge h2c, what grpc-go and grpcurl -plaintext speak.
		protocols.SetUnencryptedHTTP2(true)
	}
	srv := &http.Server{
		Handler:           s.handler,
		Protocols:         protocols,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		// ReadTimeout and WriteTimeout are left zero: applied server-wide
		// they would end streams (on HTTP/1.1 an expired read deadline
		// cancels the request context; on HTTP/2 an expired write deadline
		// resets the stream). The middleware sets them per request instead.
		IdleTimeout:    s.cfg.IdleTimeout,
		MaxHeaderBytes: s.cfg.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.tls != nil {
		srv.TLSConfig = s.tls.config()
	}

	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	// Log before announcing readiness, so whoever waits on Ready also finds
	// the line in the log.
	s.logSecurity(ln.Addr().String())
	s.log.Info("listening on "+ln.Addr().String(), "addr", ln.Addr().String())
	close(s.ready)

	serveErr := make(chan error, 1)
	go func() {
		if s.tls != nil {
			// The certificate comes from TLSConfig.GetCertificate.
			serveErr <- srv.ServeTLS(ln, "", "")
			return
		}
		serveErr <- srv.Serve(ln)
	}()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	s.SetServing(false)
	s.cancelStreams()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("graceful shutdown incomplete; closing connections", "err", err)
		_ = srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// streamRoute lifts the write deadline the middleware set for a plain
// route (Route.Streaming) and ends the response when shutdown begins, as
// the middleware does for streaming RPCs.
func (s *Server) streamRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.streamsCtx, cancel)
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isStreaming reports whether the request is a streaming RPC.
func (s *Server) isStreaming(r *http.Request) bool {
	// Connect GET requests carry the procedure in the path as well, and
	// gRPC-Web uses the same paths; only the path matters.
	return s.streaming[strings.TrimSuffix(r.URL.Path, "/")]
}

// serveMetrics serves /metrics on Config.MetricsAddr, when set, until the
// returned function is called.
func (s *Server) serveMetrics(ctx context.Context, lc net.ListenConfig) (stop func(), err error) {
	if s.cfg.MetricsAddr == "" {
		return func() {}, nil
	}
	ln, err := lc.Listen(ctx, "tcp", s.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("serve: listen on %s for metrics: %w", s.cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+metricsPath, s.cfg.Metrics.Handler())
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	s.metricsAddr = ln.Addr()
	s.mu.Unlock()
	s.log.Info("metrics on http://"+ln.Addr().String()+metricsPath, "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "err", err)
		}
	}()
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}

// MetricsAddr returns the address /metrics is served on when
// Config.MetricsAddr is set, once Ready is closed; nil otherwise.
func (s *Server) MetricsAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metricsAddr
}
