package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/graceful-shutdown-lab/lab/internal/client"
	"golang.org/x/net/http2"
)

// promptExit guards "long before -timeout": a busy machine's room, far
// below the 60 s budget the lesson's tests give the server. Shutdown
// notices an idle connection only at its next poll (up to 500 ms); the
// figures measured are in the test logs.
const promptExit = 10 * time.Second

// startCurlStream starts `curl -N` on /events and returns once curl has
// printed the first tick: the stream is open end to end.
func startCurlStream(t *testing.T, s *server) *process {
	t.Helper()
	curl := startProcess(t, curlCommand("-N", s.url("/events")))
	s.waitLog(t, "GET /events: stream opened", 1)
	curl.waitLog(t, "event:tick", 1)
	return curl
}

// An SSE stream is a request that never ends by itself. 06-streaming's hook
// tells it the server is going away: curl gets a last "shutdown" event with
// data and a retry hint, the stream ends cleanly (curl exits 0) and the
// server exits 0 at once. Without the hook, Shutdown waits for the stream
// until the budget runs out (exit 1), and the stream is cut when the
// process exits: curl exits 18, a transfer closed with data outstanding.
func TestSSEAtShutdown(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"06-streaming", "streaming-no-hook"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			budget := 60 * time.Second
			if name == "streaming-no-hook" {
				budget = 2 * time.Second
			}
			s := startServer(t, name, "-tick", "100ms", "-timeout", budget.String())
			curl := startCurlStream(t, s)
			signalled := time.Now()
			s.signal(t, syscall.SIGTERM)
			curlState := curl.waitExit(t)
			streamEnded := time.Since(signalled)
			state := s.waitExit(t)
			exited := time.Since(signalled)
			events := client.ParseSSE(curl.out.String())
			t.Logf("%s: stream ended %s and server exited %s after SIGTERM (budget %s), curl %s, %d events",
				name, streamEnded.Round(time.Millisecond), exited.Round(time.Millisecond), budget, curlState, len(events))

			if len(events) == 0 {
				t.Fatalf("no event from the stream\ncurl:\n%s", curl.out)
			}
			last := events[len(events)-1]
			if name == "streaming-no-hook" {
				s.assertExitedWith(t, state, 1)
				curl.assertExitedWith(t, curlState, 18)
				if last.Name != "tick" {
					t.Errorf("want the stream cut after a tick, got last event %+v", last)
				}
				if exited < budget {
					t.Errorf("exit %s after the signal: want the whole %s budget held", exited.Round(time.Millisecond), budget)
				}
				if len(s.out.lines("Server Shutdown: context deadline exceeded")) != 1 {
					t.Errorf("want the timeout logged\noutput:\n%s", s.out)
				}
				return
			}
			s.assertExitedWith(t, state, 0)
			curl.assertExitedWith(t, curlState, 0)
			if last.Name != "shutdown" || last.Data == "" || last.Retry != "2000" {
				t.Errorf("want a last event shutdown with data and retry 2000, got %+v\ncurl:\n%s", last, curl.out)
			}
			if slices.ContainsFunc(events[:len(events)-1], func(e client.SSEEvent) bool { return e.Name != "tick" }) {
				t.Errorf("want only ticks before the shutdown event, got %+v", events)
			}
			if exited > promptExit {
				t.Errorf("exit %s after the signal, want it long before the %s budget", exited.Round(time.Millisecond), budget)
			}
		})
	}
}

// A WebSocket is a hijacked connection, which Shutdown neither waits for nor
// closes. 06-streaming closes it with 1001 (going away) and waits for the
// client's close before it exits. Without the hook the process exits 0 at
// once under the socket: the client reads EOF, no close frame (CloseStatus
// -1; a browser would report 1006).
func TestWebSocketAtShutdown(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"06-streaming", "streaming-no-hook"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, name, "-tick", "100ms", "-timeout", "60s")
			ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			if _, msg, err := conn.Read(ctx); err != nil || string(msg) != "tick 1" {
				t.Fatalf("want a first message %q, got %q, %v", "tick 1", msg, err)
			}

			signalled := time.Now()
			s.signal(t, syscall.SIGTERM)
			// Read on until the socket ends: the client library answers a
			// close frame with its own, as a browser does.
			for err == nil {
				_, _, err = conn.Read(ctx)
			}
			socketEnded := time.Since(signalled)
			state := s.waitExit(t)
			exited := time.Since(signalled)
			t.Logf("%s: socket ended %s and server exited %s after SIGTERM: %v",
				name, socketEnded.Round(time.Millisecond), exited.Round(time.Millisecond), err)

			s.assertExitedWith(t, state, 0)
			if exited > promptExit {
				t.Errorf("exit %s after the signal, want it long before the 60s budget", exited.Round(time.Millisecond))
			}
			if name == "streaming-no-hook" {
				if status := websocket.CloseStatus(err); status != -1 || !errors.Is(err, io.EOF) {
					t.Errorf("want the socket cut (EOF, no close status), got status %d: %v", status, err)
				}
				return
			}
			if status := websocket.CloseStatus(err); status != websocket.StatusGoingAway {
				t.Errorf("want close status 1001 going away, got %d: %v", status, err)
			}
			if len(s.out.lines("GET /ws: closed")) != 1 {
				t.Errorf("want the server to log the finished close handshake\noutput:\n%s", s.out)
			}
		})
	}
}

// The demo's scene: a stream, a socket and a slow request in flight at the
// signal. The stream and the socket are told to end at once, well before
// the request is answered; the request still gets its 200, and the process
// exits 0 once it has.
func TestStreamsEndWhileRequestsFinish(t *testing.T) {
	t.Parallel()
	s := startServer(t, "06-streaming", "-delay", "4s", "-tick", "100ms", "-timeout", "60s")
	curl := startCurlStream(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	s.waitLog(t, "GET /ws: socket opened", 1)
	pending := sendAsync(http.MethodGet, s.url("/"))
	s.waitLog(t, "GET / started", 1)

	signalled := time.Now()
	s.signal(t, syscall.SIGTERM)
	curlState := curl.waitExit(t)
	for err == nil {
		_, _, err = conn.Read(ctx)
	}
	streamsEnded := time.Since(signalled)
	select {
	case r := <-pending:
		t.Fatalf("the request was answered before the streams ended: %+v", r)
	default:
	}
	assertWelcome(t, receive(t, pending))
	state := s.waitExit(t)
	t.Logf("stream and socket ended %s after SIGTERM, server exited after %s",
		streamsEnded.Round(time.Millisecond), time.Since(signalled).Round(time.Millisecond))

	curl.assertExitedWith(t, curlState, 0)
	if events := client.ParseSSE(curl.out.String()); len(events) == 0 || events[len(events)-1].Name != "shutdown" {
		t.Errorf("want the stream to end with event shutdown\ncurl:\n%s", curl.out)
	}
	if status := websocket.CloseStatus(err); status != websocket.StatusGoingAway {
		t.Errorf("want close status 1001, got %d: %v", status, err)
	}
	s.assertExitedWith(t, state, 0)
}

// A WebSocket client that never answers the close frame (it stops
// reading) holds the shutdown, but only within the budget: the server gives
// up when -timeout runs out, says so and exits 1, as 02 does for a request.
func TestWebSocketCloseTimeout(t *testing.T) {
	t.Parallel()
	const budget = time.Second
	s := startServer(t, "06-streaming", "-tick", "100ms", "-timeout", budget.String())
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	s.waitLog(t, "GET /ws: socket opened", 1)

	signalled := time.Now()
	s.signal(t, syscall.SIGTERM)
	state := s.waitExit(t)
	took := time.Since(signalled)
	t.Logf("server exited %s after SIGTERM (budget %s)", took.Round(time.Millisecond), budget)

	s.assertExitedWith(t, state, 1)
	if len(s.out.lines("WebSockets: context deadline exceeded")) != 1 || len(s.out.lines("Server exiting")) != 0 {
		t.Errorf("want the sockets' timeout logged and no clean exit\noutput:\n%s", s.out)
	}
	// The library would wait 5 s for the client's close: the budget is
	// what ends the wait. The upper bound is a guard for a busy machine.
	if took < budget || took > budget+5*time.Second {
		t.Errorf("exit %s after the signal, want about %s", took.Round(time.Millisecond), budget)
	}
}

// While a socket waits for a close that never comes, a second signal ends
// the process at once, as in 02.
func TestWebSocketSecondSignal(t *testing.T) {
	t.Parallel()
	s := startServer(t, "06-streaming", "-tick", "100ms", "-timeout", "60s")
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	s.waitLog(t, "GET /ws: socket opened", 1)
	s.signal(t, syscall.SIGTERM)
	s.waitLog(t, "GET /ws: closing with 1001", 1)
	s.signal(t, syscall.SIGINT)
	s.assertKilledBy(t, s.waitExit(t), syscall.SIGINT)
	if len(s.out.lines("GET /ws: clos")) != 1 {
		t.Errorf("want the process killed while the socket waited for its close\noutput:\n%s", s.out)
	}
}

// HTTP/2 without TLS on the same port as HTTP/1.1: a slow request in flight
// at the signal is answered 200 over HTTP/2, to curl and to Go's client.
// curl -v shows the GOAWAY that Go's HTTP/2 server sends at Shutdown by
// itself, telling the client its stream 1 will still be answered.
func TestHTTP2InFlightRequest(t *testing.T) {
	t.Parallel()
	t.Run("curl", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "06-streaming", "-delay", "2s", "-timeout", "60s")
		curl := startProcess(t, curlCommand("-v", "--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}\n", s.url("/")))
		s.waitLog(t, "GET / started", 1)
		signalled := time.Now()
		s.signal(t, syscall.SIGTERM)
		curl.assertExitedWith(t, curl.waitExit(t), 0)
		state := s.waitExit(t)
		t.Logf("server exited %s after SIGTERM, 2 s request in flight", time.Since(signalled).Round(time.Millisecond))
		s.assertExitedWith(t, state, 0)
		out := curl.out.String()
		for _, want := range []string{"< HTTP/2 200", "GOAWAY, error=0, last_stream=1", "Welcome Gin Server\n2 200\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in curl's output\ncurl:\n%s", want, out)
			}
		}
	})
	t.Run("Go", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "06-streaming", "-delay", "2s", "-timeout", "60s")
		client := &http.Client{Transport: http2Transport(), Timeout: clientTimeout}
		type answer struct {
			proto, body string
			status      int
			err         error
		}
		pending := make(chan answer, 1)
		go func() {
			resp, err := client.Get(s.url("/"))
			if err != nil {
				pending <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			pending <- answer{proto: resp.Proto, body: string(body), status: resp.StatusCode, err: err}
		}()
		s.waitLog(t, "GET / started", 1)
		signalled := time.Now()
		s.signal(t, syscall.SIGTERM)
		var a answer
		select {
		case a = <-pending:
		case <-time.After(clientTimeout + 5*time.Second):
			t.Fatal("request never returned")
		}
		if a.err != nil || a.status != http.StatusOK || a.body != "Welcome Gin Server" || a.proto != "HTTP/2.0" {
			t.Errorf("want 200 %q over HTTP/2.0, got %+v", "Welcome Gin Server", a)
		}
		state := s.waitExit(t)
		t.Logf("server exited %s after SIGTERM, 2 s request in flight", time.Since(signalled).Round(time.Millisecond))
		s.assertExitedWith(t, state, 0)
	})
}

// The GOAWAY frame by frame, on a raw HTTP/2 connection: at the signal the
// server first sends GOAWAY (NO_ERROR, last stream 1: "I will answer stream
// 1, and nothing after it"), then the answer to stream 1, then it closes the
// connection.
func TestHTTP2GoAwayBeforeAnswer(t *testing.T) {
	t.Parallel()
	s := startServer(t, "06-streaming", "-delay", "2s", "-timeout", "60s")
	conn, err := dialHTTP2(s.addr, time.Now().Add(clientTimeout))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.get(1, s.addr, "/"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		events []h2Event
		err    error
	}
	frames := make(chan result, 1)
	go func() {
		events, err := conn.readUntilClosed()
		frames <- result{events, err}
	}()
	s.waitLog(t, "GET / started", 1)
	signalled := time.Now()
	s.signal(t, syscall.SIGTERM)
	var r result
	select {
	case r = <-frames:
	case <-time.After(clientTimeout + 5*time.Second):
		t.Fatal("the connection never closed")
	}
	closed := time.Since(signalled)
	state := s.waitExit(t)
	t.Logf("connection closed %s and server exited %s after SIGTERM, 2 s request in flight",
		closed.Round(time.Millisecond), time.Since(signalled).Round(time.Millisecond))
	s.assertExitedWith(t, state, 0)
	if r.err != nil {
		t.Fatalf("reading frames: %v (got %+v)", r.err, r.events)
	}
	var got []string
	body := ""
	for _, e := range r.events {
		switch e.kind {
		case "GOAWAY":
			got = append(got, fmt.Sprintf("GOAWAY last=%d %v", e.lastStreamID, e.code))
		case "status":
			got = append(got, fmt.Sprintf("stream %d status %s", e.streamID, e.text))
		case "data":
			body += e.text
		}
	}
	want := []string{"GOAWAY last=1 " + http2.ErrCodeNo.String(), "stream 1 status 200"}
	if !slices.Equal(got, want) || body != "Welcome Gin Server" {
		t.Errorf("want frames %q and body %q, got %q and %q", want, "Welcome Gin Server", got, body)
	}
}

// loadTally counts the outcomes of one kind of client under load.
type loadTally struct {
	mu       sync.Mutex
	counts   map[errorClass]int
	examples map[errorClass]string
}

func (l *loadTally) add(class errorClass, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[class]++
	if err != nil {
		l.examples[class] = err.Error()
	}
}

func (l *loadTally) get(class errorClass) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[class]
}

func (l *loadTally) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%v", l.counts)
}

// Under load from keep-alive clients that never resend, with a fast handler,
// at SIGTERM: HTTP/2 loses no request (GOAWAY says which requests will
// still be answered; the rest are unprocessed or refused, which the client
// knows it may resend), while HTTP/1.1 can lose requests sent on a
// connection the server was closing (cut: nobody knows whether they were
// read). Both kinds of client hit the same server at the same signal.
func TestHTTP2LosesNoRequestUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the load run")
	}
	t.Parallel()
	const (
		http1Clients = 32 // one keep-alive connection each
		http2Conns   = 4  // connections, each multiplexing
		http2Streams = 8  // clients per HTTP/2 connection
		warmUp       = 100
	)
	s := startServer(t, "06-streaming", "-delay", "1ms", "-timeout", "60s")
	url := s.url("/")
	tallies := map[string]*loadTally{}
	for _, kind := range []string{"HTTP/1.1", "HTTP/2"} {
		tallies[kind] = &loadTally{counts: map[errorClass]int{}, examples: map[errorClass]string{}}
	}
	stop := make(chan struct{})
	var workers sync.WaitGroup
	deadline := time.Now().Add(loadLimit)
	hammer := func(client *http.Client, tally *loadTally) {
		workers.Go(func() {
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				class, err := sendOnce(client, url)
				tally.add(class, err)
			}
		})
	}
	http1 := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: http1Clients}, Timeout: clientTimeout}
	for range http1Clients {
		hammer(http1, tallies["HTTP/1.1"])
	}
	for range http2Conns {
		client := &http.Client{Transport: http2Transport(), Timeout: clientTimeout}
		for range http2Streams {
			hammer(client, tallies["HTTP/2"])
		}
	}
	stopLoad := sync.OnceFunc(func() { close(stop); workers.Wait() })
	t.Cleanup(stopLoad)

	// Signal once both kinds are in full swing: evidence, not time.
	waitUntil := time.Now().Add(loadLimit)
	for tallies["HTTP/1.1"].get(answered) < warmUp || tallies["HTTP/2"].get(answered) < warmUp {
		if time.Now().After(waitUntil) {
			t.Fatalf("load never got going: HTTP/1.1 %v, HTTP/2 %v", tallies["HTTP/1.1"], tallies["HTTP/2"])
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	signalled := time.Now()
	s.signal(t, syscall.SIGTERM)
	state := s.waitExit(t)
	exited := time.Since(signalled)
	stopLoad()
	s.assertExitedWith(t, state, 0)

	for kind, tally := range tallies {
		t.Logf("%s: %v (e.g. %v)", kind, tally, tally.examples)
	}
	t.Logf("server exited %s after SIGTERM", exited.Round(time.Millisecond))
	h2 := tallies["HTTP/2"]
	for _, class := range []errorClass{cut, timeout, other} {
		if n := h2.get(class); n > 0 {
			t.Errorf("HTTP/2: want no %s request, got %d (e.g. %s)", class, n, h2.examples[class])
		}
	}
	// Every request that reached the handler was answered, whatever the
	// protocol: what HTTP/1.1 loses never reached it.
	started := len(s.out.lines("GET / started"))
	if served := tallies["HTTP/1.1"].get(answered) + h2.get(answered); served != started {
		t.Errorf("the server started %d requests, the clients got %d answers", started, served)
	}
}

// A -tick the program cannot use is reported like a bad flag: the error on
// the first line, exit status 2.
func TestBadTick(t *testing.T) {
	t.Parallel()
	trackSources(t)
	s := launch(t, filepath.Join(binDir, "06-streaming"), freePort(t), "-tick", "0s")
	s.assertExitedWith(t, s.waitExit(t), 2)
	if first, _, _ := strings.Cut(s.out.String(), "\n"); first != "-tick must be more than 0" {
		t.Errorf("want the error on the first line, got %q", first)
	}
}
