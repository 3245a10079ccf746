package client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"
)

// NeverResendOptions are the clients of a NeverResend.
type NeverResendOptions struct {
	Addr    string // 127.0.0.1:port
	Clients int    // each one connection at a time, requests back to back
	// Connections: Fresh, a new connection per request (the request says
	// "Connection: close"), or KeepAlive (the default): each client keeps
	// its connection for the next request, until the server closes it or
	// answers "Connection: close".
	Connections Connections
	// Methods are sent in turn, on / (default: GET). A POST carries a
	// 1-byte body.
	Methods []string
	Until   time.Time // no request starts after this
}

// Connections is how the clients of a NeverResend use their connections.
type Connections string

// The two kinds, as load.sh's tables name them.
const (
	KeepAlive Connections = "keep-alive" // requests back to back on a kept connection
	Fresh     Connections = "fresh"      // a new connection per request
)

// NeverResendTimeout bounds each request of a NeverResend, connect included.
const NeverResendTimeout = 10 * time.Second

// failurePause is how long a client waits after a failed request before
// its next one, as hey's -q does: without it, clients facing a closed port
// would fire tens of thousands of refused connections a second.
const failurePause = 10 * time.Millisecond

// NeverResend is load from clients that never resend a request, whatever its
// method: a small HTTP/1.1 client over net.Conn that writes a request,
// reads the answer with http.ReadResponse, and counts what happened. Go's
// http.Client resends a request that has no body (and a GET's) when a
// reused keep-alive connection dies before the answer, and so hides the
// loss; wrk, curl, browsers' POSTs and this client do not.
type NeverResend struct {
	opts    NeverResendOptions
	stop    chan struct{}
	clients sync.WaitGroup

	mu      sync.Mutex
	counts  Counts
	changed chan struct{} // closed and replaced on every request
}

// Answer is an answer's status and which build gave it (X-Version; ""
// for a route 404 answers, which the lesson's handler never sees).
type Answer struct {
	Status  int
	Version string
}

// Counts are the requests of a NeverResend so far: the answers, and the
// failures by what the client saw (see FailureText).
type Counts struct {
	Requests int
	Answers  map[Answer]int
	Failures map[string]int
	Examples []string // the first failures: when, the method, the error
	// KeptFailed counts the failed requests sent on a kept connection (one
	// that had answered before), and KeptPause is the shortest time any of
	// them was sent after the previous request on its connection: the
	// server can have seen that connection idle for less, never for longer.
	// A client's own pauses are microseconds, unless its process starves.
	KeptFailed int
	KeptPause  time.Duration
}

// Answered counts the answers with status from version ("" for any).
func (c Counts) Answered(status int, version string) int {
	n := 0
	for a, count := range c.Answers {
		if a.Status == status && (version == "" || a.Version == version) {
			n += count
		}
	}
	return n
}

// Failed counts the failures.
func (c Counts) Failed() int {
	n := 0
	for _, count := range c.Failures {
		n += count
	}
	return n
}

// StartNeverResend starts the clients. They stop at opts.Until, or when Stop
// is called.
func StartNeverResend(opts NeverResendOptions) *NeverResend {
	if len(opts.Methods) == 0 {
		opts.Methods = []string{http.MethodGet}
	}
	l := &NeverResend{
		opts:    opts,
		stop:    make(chan struct{}),
		changed: make(chan struct{}),
		counts:  Counts{Answers: make(map[Answer]int), Failures: make(map[string]int)},
	}
	for range opts.Clients {
		l.clients.Go(l.client)
	}
	return l
}

// client sends requests one after the other until the load stops. A
// failed request is counted, never sent again.
func (l *NeverResend) client() {
	var conn net.Conn
	var reader *bufio.Reader
	var lastSent time.Time // the previous request on conn; zero: none yet
	hangUp := func() {
		if conn != nil {
			conn.Close()
			conn = nil
		}
	}
	defer hangUp()
	for n := 0; time.Now().Before(l.opts.Until); n++ {
		select {
		case <-l.stop:
			return
		default:
		}
		method := l.opts.Methods[n%len(l.opts.Methods)]
		if conn == nil {
			c, err := net.DialTimeout("tcp", l.opts.Addr, NeverResendTimeout)
			if err != nil {
				l.record(method, nil, err, false, 0)
				l.pause()
				continue
			}
			conn, reader, lastSent = c, bufio.NewReader(c), time.Time{}
		}
		kept, sent := !lastSent.IsZero(), time.Now()
		pause := sent.Sub(lastSent) // on a kept connection
		lastSent = sent
		resp, err := l.roundTrip(conn, reader, method)
		l.record(method, resp, err, kept, pause)
		if err != nil || l.opts.Connections == Fresh || resp.Close {
			hangUp()
		}
		if err != nil {
			l.pause()
		}
	}
}

// roundTrip writes one request on conn and reads its answer in full.
func (l *NeverResend) roundTrip(conn net.Conn, reader *bufio.Reader, method string) (*http.Response, error) {
	if err := conn.SetDeadline(time.Now().Add(NeverResendTimeout)); err != nil {
		return nil, err
	}
	request := method + " / HTTP/1.1\r\nHost: " + l.opts.Addr + "\r\n"
	body := ""
	if method == http.MethodPost {
		request += "Content-Type: text/plain\r\nContent-Length: 1\r\n"
		body = "x"
	}
	if l.opts.Connections == Fresh {
		request += "Connection: close\r\n"
	}
	if _, err := io.WriteString(conn, request+"\r\n"+body); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(reader, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

func (l *NeverResend) pause() {
	select {
	case <-l.stop:
	case <-time.After(failurePause):
	}
}

// record counts one request. kept: it was sent on a kept connection, pause
// after the previous request there.
func (l *NeverResend) record(method string, resp *http.Response, err error, kept bool, pause time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := &l.counts
	c.Requests++
	if err != nil {
		c.Failures[FailureText(err)]++
		on := "on a new connection"
		if kept {
			on = fmt.Sprintf("on a kept connection, %s after its previous request", pause.Round(time.Microsecond))
			if c.KeptFailed == 0 || pause < c.KeptPause {
				c.KeptPause = pause
			}
			c.KeptFailed++
		}
		if len(c.Examples) < 10 {
			c.Examples = append(c.Examples, fmt.Sprintf("%s %s %s: %v", time.Now().Format("15:04:05.000000"), method, on, err))
		}
	} else {
		c.Answers[Answer{resp.StatusCode, resp.Header.Get("X-Version")}]++
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// FailureText names what a client saw when a request failed, as the
// lesson tells the mechanisms apart; ClassifyText sorts these names too.
//
//	connection refused        nothing listens: the listener was closed
//	connection reset by peer  the connection was reset; at a stop, one the
//	                          kernel had completed but the server never
//	                          accepted, reset when the listener closed
//	unexpected EOF            the server closed the connection without an
//	                          answer, after reading the request or while
//	                          it was on its way
//	broken pipe, i/o timeout  as the system says; anything else: its text
func FailureText(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "i/o timeout"
	}
	return err.Error()
}

// Counts returns the counts so far, while the clients go on.
func (l *NeverResend) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts
	c.Answers, c.Failures = maps.Clone(c.Answers), maps.Clone(c.Failures)
	c.Examples = slices.Clone(c.Examples)
	return c
}

// WaitUntil waits, limit at most, until ok holds for the counts so far:
// evidence, not time.
func (l *NeverResend) WaitUntil(what string, ok func(Counts) bool, limit time.Duration) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		if ok(l.Counts()) {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("still waiting for %s after %s", what, limit)
		}
	}
}

// Wait waits until the clients stop by themselves, at opts.Until
// (NeverResendTimeout later at most), and returns every count.
func (l *NeverResend) Wait() Counts {
	l.clients.Wait()
	return l.Counts()
}

// Stop stops the clients, waits for their last requests (NeverResendTimeout at
// most) and returns every count.
func (l *NeverResend) Stop() Counts {
	l.mu.Lock()
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.mu.Unlock()
	l.clients.Wait()
	return l.Counts()
}
