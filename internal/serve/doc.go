// Package serve is the server plumbing FlowService and ParticipantService
// share, so that neither copies it: one port serving Connect, gRPC and
// gRPC-Web over HTTP/1.1 and unencrypted HTTP/2 (h2c, prior knowledge), gRPC
// reflection v1 and v1alpha, grpc.health.v1, GET /healthz, extra plain HTTP
// routes, request size limits, request logging with panic recovery, and a
// graceful shutdown.
//
// A service builds its connect handler with the generated constructor and
// hands it over:
//
//	path, h := flowv1connect.NewFlowServiceHandler(svc, serve.HandlerOptions(0)...)
//	srv, err := serve.New(serve.Config{
//		Name:     "flowservice",
//		Addr:     "127.0.0.1:8081",
//		Logger:   logger,
//		Services: []serve.Service{{Name: flowv1connect.FlowServiceName, Path: path, Handler: h}},
//		Routes:   []serve.Route{{Pattern: "POST /v1/Accounts/{AccountSid}/Flows/{FlowSid}", Handler: webhook}},
//	})
//	...
//	err = srv.Run(ctx) // returns after ctx is cancelled and the server has shut down
//
// Run logs "listening on ADDR" with the bound address once it accepts
// connections; Addr and Ready let tests that listen on 127.0.0.1:0 learn the
// port.
package serve
