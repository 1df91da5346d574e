package serve

import (
	"errors"
	"net/http"

	"connectrpc.com/connect"
)

// DefaultMaxRequestBytes bounds request messages and plain request bodies
// when no other limit is configured. It matches grpc-go's default maximum
// receive message size, so clients see the same limit whichever stack they
// are used to; Studio flow definitions are far smaller.
const DefaultMaxRequestBytes = 4 << 20

// HandlerOptions returns the connect handler options every service should
// pass to its generated New…ServiceHandler: a maximum request message size
// of maxRequestBytes (DefaultMaxRequestBytes when 0 or less). A larger
// message is rejected with ResourceExhausted before it is decoded; the limit
// applies to the decompressed size too, so a small compressed body cannot
// expand past it.
func HandlerOptions(maxRequestBytes int) []connect.HandlerOption {
	if maxRequestBytes <= 0 {
		maxRequestBytes = DefaultMaxRequestBytes
	}
	return []connect.HandlerOption{
		connect.WithReadMaxBytes(maxRequestBytes),
	}
}

// limitBody wraps a plain HTTP handler so that reading more than maxBytes of
// its request body fails with *http.MaxBytesError (and makes the server
// close the connection afterwards). Handlers report that as 413, see
// IsTooLarge.
func limitBody(h http.Handler, maxBytes int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
		h.ServeHTTP(w, r)
	})
}

// IsTooLarge reports whether err comes from reading a plain route's request
// body past the configured limit, so the route can answer 413 instead of
// 400.
func IsTooLarge(err error) bool {
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}
