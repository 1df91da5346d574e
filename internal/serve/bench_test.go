package serve_test

import (
	"io"
	"log/slog"
	"testing"

	"connectrpc.com/connect"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/gen/convoflow/flow/v1/flowv1connect"
	"github.com/convoflow/convoflow/internal/serve"
)

// BenchmarkServer_unary measures the plumbing alone (h2c, middleware with
// an Info-level text request log, connect) for a trivial unary RPC over
// loopback, from parallel clients: the ceiling the services' own work
// comes on top of.
func BenchmarkServer_unary(b *testing.B) {
	ts := startServer(b, 0, func(c *serve.Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	clients := map[string]func() func() error{
		"connect_grpc_h2c": func() func() error {
			c := flowv1connect.NewFlowServiceClient(h2cClient(b), ts.url, connect.WithGRPC())
			return func() error {
				_, err := c.GetFlow(b.Context(), &flowv1.GetFlowRequest{Sid: "FW1"})
				return err
			}
		},
		"grpc_go": func() func() error {
			c := flowv1.NewFlowServiceClient(grpcConn(b, ts.addr))
			return func() error {
				_, err := c.GetFlow(b.Context(), &flowv1.GetFlowRequest{Sid: "FW1"})
				return err
			}
		},
	}
	for name, newCall := range clients {
		b.Run(name, func(b *testing.B) {
			call := newCall()
			b.ReportAllocs()
			// 50 callers per CPU: the services are benchmarked with ~100
			// concurrent conversations, not one caller per core.
			b.SetParallelism(50)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
