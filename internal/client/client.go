package client

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/lesson"
)

// RequestTimeout bounds every request, so a hung server fails a run
// instead of hanging it.
const RequestTimeout = 60 * time.Second

// Class sorts a failed request the way the lesson talks about it.
type Class string

const (
	Refused Class = "refused" // the listener was closed: never accepted
	Cut     Class = "cut"     // accepted, then the connection died
	Timeout Class = "timeout" // no answer in time
	Other   Class = "other"
)

// Classes are the error classes in the order the tables show them.
var Classes = []Class{Refused, Cut, Timeout, Other}

// Classify sorts a Go client's error.
func Classify(err error) Class {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Cut
	case errors.As(err, &netErr) && netErr.Timeout():
		return Timeout
	}
	return ClassifyText(err.Error())
}

// ClassifyText sorts an error known only by its text, as hey reports it:
// the one rule for every report. First match wins.
func ClassifyText(text string) Class {
	switch {
	case strings.Contains(text, "connection refused"):
		return Refused
	case strings.HasSuffix(text, "EOF"), strings.Contains(text, "connection reset by peer"),
		strings.Contains(text, "broken pipe"), strings.Contains(text, "server closed idle connection"):
		return Cut
	case strings.Contains(text, "Client.Timeout exceeded"), strings.Contains(text, "deadline exceeded"),
		strings.Contains(text, "i/o timeout"):
		return Timeout
	}
	return Other
}

// Response is what a client saw: a status, headers and body, or an error.
type Response struct {
	Status  int
	Body    string
	Header  http.Header
	Err     error
	Sent    time.Time
	Done    time.Time
	Version string // X-Version: which build answered
	PID     string // X-Pid: which process answered
}

// OK reports whether the request got the lesson's happy ending.
func (r Response) OK() bool {
	return r.Err == nil && r.Status == http.StatusOK && r.Body == lesson.Welcome
}

// Send makes one request on a connection of its own (no keep-alive), so
// each in-flight request is exactly one connection the server must drain.
func Send(ctx context.Context, method, url string) Response {
	return SendBody(ctx, method, url, "", nil)
}

// SendBody is Send with a body and headers: a job's payload and its
// Idempotency-Key. On a connection of its own, the request cannot be
// resent silently: Go's client resends one with an Idempotency-Key when a
// reused connection dies, which would hide what the server did.
func SendBody(ctx context.Context, method, url, body string, header http.Header) Response {
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   RequestTimeout,
	}
	r := Response{Sent: time.Now()}
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		r.Err = err
		return r
	}
	maps.Copy(req.Header, header)
	resp, err := client.Do(req)
	if err != nil {
		r.Err, r.Done = err, time.Now()
		return r
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	r.Status, r.Body, r.Header, r.Err, r.Done = resp.StatusCode, string(respBody), resp.Header, err, time.Now()
	r.Version, r.PID = resp.Header.Get("X-Version"), resp.Header.Get("X-Pid")
	return r
}
