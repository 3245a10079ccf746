// Package grpcclient is the client side of 09-grpc, as any gRPC client
// would see the server: it calls lab.v1.Lab's Slow, reads its Ticks stream
// and the standard health service's Watch, each message and ending stamped
// with the time it arrived, and tells a status the server chose from a
// transport error. It knows the service only by its method names (the
// contract in 09-grpc/lab.proto), never by the lesson's generated code.
package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The methods of lab.v1.Lab (09-grpc/lab.proto).
const (
	SlowMethod  = "/lab.v1.Lab/Slow"
	TicksMethod = "/lab.v1.Lab/Ticks"
)

// Welcome is what Slow answers.
const Welcome = "Welcome gRPC Server"

// Dial makes a client connection to addr (host:port, plaintext) that never
// retries a call: what it reports is what happened to that one call.
func Dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDisableRetry())
}

// Answer is how one unary call ended, and when.
type Answer struct {
	At   time.Time
	Body string // Slow's answer, when Err is nil
	Err  error
}

// Slow calls lab.v1.Lab/Slow.
func Slow(ctx context.Context, conn *grpc.ClientConn) Answer {
	var out wrapperspb.StringValue
	err := conn.Invoke(ctx, SlowMethod, &emptypb.Empty{}, &out)
	return Answer{At: time.Now(), Body: out.GetValue(), Err: err}
}

// Check asks the health service for the whole server's status (service "").
func Check(ctx context.Context, conn *grpc.ClientConn) (healthpb.HealthCheckResponse_ServingStatus, error) {
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return resp.GetStatus(), err
}

// Message is one message a stream received: a tick's number, a health
// status's name.
type Message struct {
	At   time.Time
	Text string
}

// Stream is a server stream read in the background until it ends.
type Stream struct {
	messages chan Message
	done     chan struct{}
	end      Answer // set before done is closed; Body unused
}

// Ticks opens lab.v1.Lab/Ticks. The stream ends when the server ends it,
// the connection dies or ctx is done.
func Ticks(ctx context.Context, conn *grpc.ClientConn) (*Stream, error) {
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, TicksMethod)
	if err != nil {
		return nil, err
	}
	if err := cs.SendMsg(&emptypb.Empty{}); err != nil {
		return nil, err
	}
	if err := cs.CloseSend(); err != nil {
		return nil, err
	}
	return read(func() (string, error) {
		var n wrapperspb.Int64Value
		if err := cs.RecvMsg(&n); err != nil {
			return "", err
		}
		return fmt.Sprint(n.GetValue()), nil
	}), nil
}

// Watch opens the health service's Watch for the whole server: the stream a
// client-side load balancer keeps open. Its messages are status names
// (SERVING, NOT_SERVING).
func Watch(ctx context.Context, conn *grpc.ClientConn) (*Stream, error) {
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return nil, err
	}
	return read(func() (string, error) {
		resp, err := w.Recv()
		return resp.GetStatus().String(), err
	}), nil
}

func read(recv func() (string, error)) *Stream {
	s := &Stream{messages: make(chan Message, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.messages)
		for {
			text, err := recv()
			if err != nil {
				s.end = Answer{At: time.Now(), Err: err}
				return
			}
			s.messages <- Message{At: time.Now(), Text: text}
		}
	}()
	return s
}

// ErrEnded is Next's error once the stream has ended.
var ErrEnded = errors.New("the stream ended")

// Next waits up to limit for the stream's next message.
func (s *Stream) Next(limit time.Duration) (Message, error) {
	select {
	case m, ok := <-s.messages:
		if !ok {
			return Message{}, fmt.Errorf("%w: %v", ErrEnded, s.end.Err)
		}
		return m, nil
	case <-time.After(limit):
		return Message{}, fmt.Errorf("no message within %s", limit)
	}
}

// WaitFor reads messages until one says text, and returns it.
func (s *Stream) WaitFor(text string, limit time.Duration) (Message, error) {
	deadline := time.Now().Add(limit)
	for {
		m, err := s.Next(time.Until(deadline))
		if err != nil {
			return Message{}, fmt.Errorf("waiting for %s: %w", text, err)
		}
		if m.Text == text {
			return m, nil
		}
	}
}

// End waits up to limit for the stream to end and says how and when. The
// messages not yet read are dropped.
func (s *Stream) End(limit time.Duration) (Answer, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case <-s.messages: // keep the reader from blocking
		case <-s.done:
			return s.end, nil
		case <-timer.C:
			return Answer{}, fmt.Errorf("the stream did not end within %s", limit)
		}
	}
}

// Ended reports whether the stream has ended.
func (s *Stream) Ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Shutting down is the status 09-grpc ends its streams with: UNAVAILABLE
// tells a client to try again, elsewhere.
const (
	ShuttingDownCode    = codes.Unavailable
	ShuttingDownMessage = "server shutting down"
)

// FromServer reports whether err is a status the server sent, rather than
// one grpc-go made up on the client when the connection died under the
// call ("error reading from server: EOF", "closing transport due to: …").
func FromServer(err error) bool {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return false
	}
	msg := st.Message()
	return !strings.Contains(msg, "error reading from server") &&
		!strings.Contains(msg, "closing transport") &&
		!strings.HasPrefix(msg, "connection error")
}

// Describe names an ending the way a reader of the lesson talks about it:
// the answer, the server's status, or the transport error.
func Describe(a Answer) string {
	switch {
	case a.Err == nil && a.Body != "":
		return fmt.Sprintf("answered %q", a.Body)
	case a.Err == nil:
		return "OK"
	case FromServer(a.Err):
		st := status.Convert(a.Err)
		return fmt.Sprintf("server's status %s %q", st.Code(), st.Message())
	default:
		st := status.Convert(a.Err)
		return fmt.Sprintf("transport error %s %q", st.Code(), st.Message())
	}
}

// Is reports whether err is the status code with message msg.
func Is(err error, code codes.Code, msg string) bool {
	st, ok := status.FromError(err)
	return ok && err != nil && st.Code() == code && st.Message() == msg
}

var (
	grpcurlStatus = regexp.MustCompile(`^"status": "([A-Z_]+)"$`)
	grpcurlValue  = regexp.MustCompile(`^"[^"]*"$`)
)

// GrpcurlOutcome words what grpcurl printed, line by line: the health
// statuses it received, then the status that ended the call ("Unavailable:
// server shutting down"), or, for a call answered, its last value as
// printed (`"Welcome gRPC Server"`). Numbers a stream sent are left out.
func GrpcurlOutcome(lines []string) string {
	var parts []string
	var code, message, last string
	for _, line := range lines {
		line = strings.TrimSpace(line)
		switch {
		case grpcurlStatus.MatchString(line):
			parts = append(parts, grpcurlStatus.FindStringSubmatch(line)[1])
		case strings.HasPrefix(line, "Code: "):
			code = strings.TrimPrefix(line, "Code: ")
		case strings.HasPrefix(line, "Message: "):
			message = strings.TrimPrefix(line, "Message: ")
		case grpcurlValue.MatchString(line):
			last = line
		}
	}
	switch {
	case code != "":
		parts = append(parts, code+": "+message)
	case last != "":
		parts = append(parts, last)
	}
	if len(parts) == 0 {
		return "(nothing printed)"
	}
	return strings.Join(parts, ", ")
}
