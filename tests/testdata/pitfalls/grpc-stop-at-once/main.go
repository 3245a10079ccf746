// grpc-stop-at-once is a pitfall, not a lesson: a gRPC server that calls
// Stop at the signal. Stop closes every connection at once: the call in
// flight is cut, and its client, like every open stream's, gets a transport
// error ("error reading from server: EOF") instead of an answer. The
// process exits 0 and logs "Server exiting" as if all went well.
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
	tick := flag.Duration("tick", time.Second, "how often Ticks sends a number")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	srv.RegisterService(labService(*delay, *tick), nil)

	go func() {
		if err := srv.Serve(lis); err != nil {
			log.Fatalf("serve: %v", err)
		}
	}()
	<-ctx.Done()
	stop()

	log.Println("Shutdown Server ...")
	// The pitfall: no drain, no GracefulStop.
	srv.Stop()
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
