// grpc-no-deadline is a pitfall, not a lesson: 09-grpc's server with its
// health drain but a bare GracefulStop, the stop most examples show. Nothing
// tells the streams to end and nothing bounds the wait: an open Ticks stream,
// or a health Watch, holds GracefulStop for as long as its client keeps it
// open, for ever if need be. Only the process's death (SIGKILL, the
// kubelet's after its grace period) ends it, and its clients then see a
// transport error, not a status.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func main() {
	addr := flag.String("addr", ":50051", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long Slow takes to answer")
	drainDelay := flag.Duration("drain-delay", 5*time.Second, "how long to keep taking calls after the signal, with health NOT_SERVING")
	tick := flag.Duration("tick", time.Second, "how often Ticks sends a number")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	healthServer := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthServer)
	srv.RegisterService(labService(*delay, *tick), nil)

	go func() {
		if err := srv.Serve(lis); err != nil {
			log.Fatalf("serve: %v", err)
		}
	}()
	<-ctx.Done()
	stop()

	healthServer.Shutdown()
	log.Printf("Draining: health NOT_SERVING from now on; still taking calls for %s", *drainDelay)
	time.Sleep(*drainDelay)
	log.Println("Shutdown Server ...")
	// The pitfall: no deadline, and no stream told to end.
	srv.GracefulStop()
	log.Println("Server exiting")
}

// labService is lab.v1.Lab (09-grpc/lab.proto) without the generated code.
func labService(delay, tick time.Duration) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "lab.v1.Lab",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Slow",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				if err := dec(new(emptypb.Empty)); err != nil {
					return nil, err
				}
				log.Printf("Slow started, answering in %s", delay)
				select {
				case <-time.After(delay):
					log.Println("Slow answered")
					return wrapperspb.String("Welcome gRPC Server"), nil
				case <-ctx.Done():
					log.Printf("Slow cancelled: %v", ctx.Err())
					return nil, ctx.Err()
				}
			},
		}},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Ticks",
			ServerStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
					return err
				}
				log.Println("Ticks: stream opened")
				ticker := time.NewTicker(tick)
				defer ticker.Stop()
				for n := int64(1); ; n++ {
					select {
					case <-ticker.C:
						if err := stream.SendMsg(wrapperspb.Int64(n)); err != nil {
							return err
						}
					case <-stream.Context().Done():
						return stream.Context().Err()
					}
				}
			},
		}},
	}
}
