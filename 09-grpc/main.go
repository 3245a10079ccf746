// 09-grpc is the same stop for a gRPC server: 05-load-balancer's readiness
// drain and 06-streaming's streams told to end, on grpc-go.
//
// grpc-go's GracefulStop waits for every call and every stream in flight,
// with no deadline of its own. A stream that never ends by itself (a feed,
// or the health Watch a client-side load balancer keeps open) holds it for
// ever; and a stream cut by the process exit reaches its client as a
// transport error ("error reading from server: EOF"), not as a status it
// can act on. So at the first SIGINT or SIGTERM this server:
//  1. says NOT_SERVING on the standard health service, at once, and keeps
//     taking calls for -drain-delay, until the load balancer has noticed;
//  2. tells every stream to end, with a status it chose: UNAVAILABLE
//     "server shutting down", which tells the client to retry elsewhere;
//  3. runs GracefulStop beside a timer: it waits for the calls in flight,
//     and when -timeout runs out Stop cancels what is left (exit 1).
//
// Start it, open `go tool grpcurl -plaintext localhost:50051 lab.v1.Lab/Ticks`,
// press Ctrl+C: the ticks end with "server shutting down" after the drain,
// and the process exits 0 at once.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// handshakeTimeout bounds how long a new connection may take to send
// HTTP/2's preface. grpc-go waits 120 s by default, and a connection still
// in its handshake holds GracefulStop and even Stop: one port scan, or a
// client that connected and stalled, would hold the whole stop. (grpc-go
// marks grpc.ConnectionTimeout experimental.)
const handshakeTimeout = 2 * time.Second

func main() {
	// Flags as in 05: a slow call, a drain, a budget; and 06's tick.
	addr := flag.String("addr", ":50051", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long Slow takes to answer")
	drainDelay := flag.Duration("drain-delay", 5*time.Second, "how long to keep taking calls after the signal, with health NOT_SERVING, before the stop starts")
	timeout := flag.Duration("timeout", 5*time.Second, "how long the stop may wait for calls in flight, counted from the end of the drain")
	tick := flag.Duration("tick", time.Second, "how often Ticks sends a number")
	flag.Parse()
	if *tick <= 0 {
		// A value the flag package accepts but this program cannot use:
		// report it the way the flag package reports a bad flag.
		fmt.Fprintln(flag.CommandLine.Output(), "-tick must be more than 0")
		flag.Usage()
		os.Exit(2)
	}

	// run returns instead of calling log.Fatal itself, so its deferred
	// cleanup always runs before the process exits non-zero.
	if err := run(*addr, *delay, *drainDelay, *timeout, *tick); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, drainDelay, timeout, tick time.Duration) error {
	// The post makes a channel and calls signal.Notify; NotifyContext does
	// the same job and hands back a context that is done at the first
	// SIGINT (Ctrl+C, kill -2) or SIGTERM (kill, docker stop, Kubernetes).
	// It comes first, before the port opens: from then on a client or a
	// probe sees the server up, and a signal that beat it would kill the
	// process (TestGRPCIdleConnection saw it under load).
	// SIGKILL (kill -9) cannot be caught by any program.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Then listen: a busy port ends the program here, with one line.
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	// goingAway is done once the stop starts: every stream watches it,
	// through the interceptor below. Nothing else would tell them.
	goingAway, endStreams := context.WithCancel(context.Background())
	defer endStreams()

	srv := grpc.NewServer(
		grpc.ChainStreamInterceptor(endStreamsWhenGoingAway(goingAway)),
		grpc.ConnectionTimeout(handshakeTimeout),
	)
	// The standard health service, grpc.health.v1.Health: what Kubernetes'
	// gRPC probe, grpc-health-probe and client-side load balancers ask.
	// It says SERVING for the whole server (service "") until Shutdown.
	healthServer := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthServer)
	RegisterLabServer(srv, &labServer{delay: delay, tick: tick})
	// Reflection lets clients such as grpcurl list and call the services
	// without lab.proto.
	reflection.Register(srv)

	// Serve in the background so that run can wait for a signal.
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- srv.Serve(lis)
	}()
	log.Printf("Serving lab.v1.Lab and grpc.health.v1.Health on %s", lis.Addr())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	// Stop catching signals: from now on a second Ctrl+C gets Go's default
	// action and kills the process at once, during the drain or the stop.
	stop()

	// NOT_SERVING at once, while the server still takes calls: a Watch
	// already open receives it now, a Check gets it from now on, and the
	// status stays NOT_SERVING whatever sets it later. This is 05's /readyz
	// answering 503: the load balancer moves the traffic elsewhere first.
	healthServer.Shutdown()
	log.Printf("Draining: health NOT_SERVING from now on; still taking calls for %s (press Ctrl+C again to force exit)", drainDelay)
	time.Sleep(drainDelay)

	log.Println("Shutdown Server ... (press Ctrl+C again to force exit)")

	// 06's hook: every stream ends now, with the server's status. Without
	// this, GracefulStop waits for them until the budget runs out.
	endStreams()

	// GracefulStop closes the listener, sends GOAWAY on every connection
	// (the client opens no new call here), and waits for the calls in
	// flight. It has no deadline: run it beside a timer, and call Stop when
	// the timer fires. Stop closes every connection, which cancels the
	// contexts of the calls left; their clients get UNAVAILABLE.
	//
	// The budget starts now, after the drain: the whole stop takes at most
	// drain-delay + timeout, what Kubernetes' grace period must cover.
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	stopCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case <-stopped:
	case <-stopCtx.Done():
		// Stop closes every connection: the calls left see their contexts
		// cancelled, their clients get UNAVAILABLE. GracefulStop then
		// returns once their handlers have returned (Slow watches its
		// context), so what they log is not lost at exit. It takes
		// grpc-go v1.85.0 or later: before, a GracefulStop waiting for
		// handlers held a lock that Stop needs (grpc-go#9393).
		srv.Stop()
		<-stopped
		//lint:ignore ST1005 the post's "Server Shutdown: " line, said of gRPC's GracefulStop
		return fmt.Errorf("Server GracefulStop: %w, Stop cancelled the calls left", stopCtx.Err())
	}

	log.Println("Server exiting")
	return nil
}

// endStreamsWhenGoingAway ends every stream when goingAway is done: the
// lesson's Ticks and the streams it did not write, such as the health
// Watch. The stream's handler sees its context cancelled and returns;
// its client then gets UNAVAILABLE "server shutting down", a status it can
// act on, rather than whatever the handler says on a cancelled context.
// It can only tell: a handler blocked in Recv (the reflection service's,
// waiting for its client's next request) ends when its client closes it.
func endStreamsWhenGoingAway(goingAway context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		stopWatching := context.AfterFunc(goingAway, cancel)
		defer stopWatching()

		err := handler(srv, &streamWithContext{ServerStream: ss, ctx: ctx})
		// Ended by us, while the client was still there. A handler that
		// finished by itself (err nil) keeps its OK.
		if err != nil && goingAway.Err() != nil && ss.Context().Err() == nil {
			log.Printf("%s: stream ended: server shutting down", info.FullMethod)
			return status.Error(codes.Unavailable, "server shutting down")
		}
		return err
	}
}

// streamWithContext is a ServerStream whose Context is ctx.
type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *streamWithContext) Context() context.Context { return s.ctx }

// labServer is the lab.v1.Lab service of lab.proto.
type labServer struct {
	UnimplementedLabServer
	delay, tick time.Duration
}

// Slow answers after delay: 02's GET / as a gRPC call.
func (l *labServer) Slow(ctx context.Context, _ *emptypb.Empty) (*wrapperspb.StringValue, error) {
	// This line lets you (and the tests) see that the call is inside the
	// handler before the signal is sent.
	log.Printf("Slow started, answering in %s", l.delay)
	select {
	case <-time.After(l.delay):
		log.Println("Slow answered")
		return wrapperspb.String("Welcome gRPC Server"), nil
	case <-ctx.Done():
		// The client went away, or Stop closed its connection.
		log.Printf("Slow cancelled: %v", ctx.Err())
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// Ticks sends 1, 2, 3, … every tick: 06's /events as a gRPC stream.
func (l *labServer) Ticks(_ *emptypb.Empty, stream Lab_TicksServer) error {
	log.Println("Ticks: stream opened")
	ticker := time.NewTicker(l.tick)
	defer ticker.Stop()
	for n := int64(1); ; n++ {
		select {
		case <-ticker.C:
			if err := stream.Send(wrapperspb.Int64(n)); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}
