package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// The bounds of a check: generous on a busy machine, far shorter than the
// 20 s and 60 s requests and the 10 s budget the pitfalls hold on to.
const (
	logWait  = 10 * time.Second // for a log line the program prints at once
	stopWait = 5 * time.Second  // for what should end right after SIGTERM
	exitWait = 15 * time.Second // for the exit once the work is done
)

// checkAnswersInFlight (01): the request in flight at SIGTERM gets its
// answer, and only then does the process exit 0.
func checkAnswersInFlight(s *proc.Server) error {
	pending, err := inFlight(s)
	if err != nil {
		return err
	}
	if err := s.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	r := <-pending
	state, err := s.WaitExit(exitWait)
	if !r.OK() {
		return fmt.Errorf("the request in flight at SIGTERM got %s, not 200 %q: the process ended before Shutdown had answered it", describe(r), lesson.Welcome)
	}
	if err != nil {
		return fmt.Errorf("%w %s after the answer", errNoExit, exitWait)
	}
	if got := proc.ExitText(state); got != "exit 0" {
		return fmt.Errorf("the request got its answer, but the process ended with %s, want exit 0", got)
	}
	return nil
}

// checkCleanupAfterTimeout (02): a shutdown that runs out of its budget
// still runs the deferred cleanup, and the process exits non-zero.
func checkCleanupAfterTimeout(s *proc.Server) error {
	const cleanup = "cleanup: database connection closed"
	if _, err := inFlight(s); err != nil {
		return err
	}
	if err := s.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	state, err := s.WaitExit(exitWait)
	if err != nil {
		return fmt.Errorf("%w %s after SIGTERM, with a 1 s budget", errNoExit, exitWait)
	}
	if len(s.Out.Lines(cleanup)) == 0 {
		return fmt.Errorf("the shutdown timed out (-timeout 1s, a 20 s request in flight) and the process ended with %s, but it never printed %q: the deferred cleanup did not run", proc.ExitText(state), cleanup)
	}
	if got := proc.ExitText(state); got == "exit 0" {
		return fmt.Errorf("the cleanup ran, but the process exited 0 after a timed-out shutdown: want a non-zero exit status")
	}
	return nil
}

// checkHandlerStopsAtSignal (03): a 60 s request stops early at SIGTERM
// with 503 "cancelled", and the process exits 0 without waiting for it.
func checkHandlerStopsAtSignal(s *proc.Server) error {
	pending, err := inFlight(s)
	if err != nil {
		return err
	}
	if err := s.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	var r client.Response
	select {
	case r = <-pending:
	case <-time.After(stopWait):
		return fmt.Errorf("%s after SIGTERM the 60 s request is still in the handler: the signal never reached c.Request.Context()", stopWait)
	}
	if r.Err != nil || r.Status != http.StatusServiceUnavailable || r.Body != "cancelled" {
		return fmt.Errorf(`the request in flight at SIGTERM got %s, want 503 "cancelled"`, describe(r))
	}
	state, err := s.WaitExit(exitWait)
	if err != nil {
		return fmt.Errorf("%w %s after the answer", errNoExit, exitWait)
	}
	if got := proc.ExitText(state); got != "exit 0" {
		return fmt.Errorf("the handler stopped early, but the process ended with %s, want exit 0", got)
	}
	return nil
}

// checkStreamsEndAtSignal (04): at SIGTERM an SSE stream gets a last
// "event: shutdown" and ends, a WebSocket gets a close frame 1001, and the
// process exits 0 at once, long before its 10 s budget.
func checkStreamsEndAtSignal(s *proc.Server) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	stream, err := openStream(ctx, s)
	if err != nil {
		return err
	}
	socket, err := openSocket(ctx, s)
	if err != nil {
		return err
	}
	if err := s.Signal(syscall.SIGTERM); err != nil {
		return err
	}

	select {
	case <-stream.done:
	case <-time.After(stopWait):
		return fmt.Errorf("%s after SIGTERM the SSE stream on /events is still open: nothing told it that the server is shutting down", stopWait)
	}
	events := client.ParseSSE(stream.text())
	if len(events) == 0 || events[len(events)-1].Name != "shutdown" {
		return fmt.Errorf("the SSE stream ended without a last \"event: shutdown\" (it got %d events)", len(events))
	}
	var status websocket.StatusCode
	select {
	case status = <-socket:
	case <-time.After(stopWait):
		return fmt.Errorf("%s after SIGTERM the WebSocket on /ws is still open: nothing closed it", stopWait)
	}
	if status != websocket.StatusGoingAway {
		return fmt.Errorf("the WebSocket ended with status %d, want a close frame 1001 (going away); -1 means no close frame at all", status)
	}
	state, err := s.WaitExit(stopWait)
	if err != nil {
		return fmt.Errorf("%w %s after SIGTERM, with the stream and the socket closed", errNoExit, stopWait)
	}
	if got := proc.ExitText(state); got != "exit 0" {
		return fmt.Errorf("the stream and the socket ended well, but the process ended with %s, want exit 0", got)
	}
	return nil
}

// inFlight sends GET / and waits until the program logs that the request
// is inside its handler.
func inFlight(s *proc.Server) (<-chan client.Response, error) {
	pending := make(chan client.Response, 1)
	go func() { pending <- client.Send(context.Background(), http.MethodGet, s.URL("/")) }()
	if err := s.WaitLog("GET / started", 1, logWait); err != nil {
		return nil, fmt.Errorf("no %q line after a GET /: %v", "GET / started", err)
	}
	return pending, nil
}

// describe words what a client got: "200 \"Welcome Gin Server\"", or its
// error.
func describe(r client.Response) string {
	if r.Err != nil {
		return "an error (" + r.Err.Error() + ")"
	}
	return fmt.Sprintf("%d %q", r.Status, r.Body)
}

// sseStream is an open /events stream, read to its end in the background.
type sseStream struct {
	mu   sync.Mutex
	buf  strings.Builder
	done chan struct{}
}

func (st *sseStream) text() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.buf.String()
}

// openStream opens GET /events and returns once the first event arrived.
func openStream(ctx context.Context, s *proc.Server) (*sseStream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL("/events"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("GET /events: %v", err)
	}
	st := &sseStream{done: make(chan struct{})}
	first := make(chan struct{})
	go func() {
		defer close(st.done)
		defer resp.Body.Close()
		lines := bufio.NewScanner(resp.Body)
		seen := false // the first event, which ends with an empty line
		for lines.Scan() {
			st.mu.Lock()
			st.buf.WriteString(lines.Text() + "\n")
			st.mu.Unlock()
			if lines.Text() == "" && !seen {
				seen = true
				close(first)
			}
		}
	}()
	select {
	case <-first:
		return st, nil
	case <-st.done:
		return nil, fmt.Errorf("GET /events ended before its first event")
	case <-time.After(logWait):
		return nil, fmt.Errorf("no event on GET /events after %s", logWait)
	}
}

// openSocket opens /ws, waits for its first message, then reads on in the
// background and sends how the socket ended: the close frame's status, or
// -1 when there was none.
func openSocket(ctx context.Context, s *proc.Server) (<-chan websocket.StatusCode, error) {
	conn, _, err := websocket.Dial(ctx, "ws://"+s.Addr+"/ws", nil)
	if err != nil {
		return nil, fmt.Errorf("WebSocket /ws: %v", err)
	}
	firstCtx, cancel := context.WithTimeout(ctx, logWait)
	defer cancel()
	if _, _, err := conn.Read(firstCtx); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("no message on the WebSocket /ws: %v", err)
	}
	ended := make(chan websocket.StatusCode, 1)
	go func() {
		defer conn.CloseNow()
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				ended <- websocket.CloseStatus(err)
				return
			}
		}
	}()
	return ended, nil
}
