package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Clients for long-lived connections and HTTP/2, free of testing.T: Go's
// client speaking HTTP/2 without TLS, a request Go's client never resends,
// and a raw HTTP/2 connection that shows the frames the server sends. The
// SSE events curl printed are read by client.ParseSSE, which the demo uses too.

// curlCommand is curl with args, bounded by clientTimeout, its errors
// shown (-sS).
func curlCommand(args ...string) *exec.Cmd {
	limit := strconv.Itoa(int(clientTimeout / time.Second))
	return exec.Command("curl", append([]string{"-sS", "--max-time", limit}, args...)...)
}

// http2Transport speaks HTTP/2 without TLS ("prior knowledge"), like
// `curl --http2-prior-knowledge`. Each transport keeps one connection to
// a host and multiplexes its requests over it.
func http2Transport() *http.Transport {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	return &http.Transport{Protocols: &protocols}
}

// unreplayableGet is a GET whose body Go's client cannot rewind (it is not
// one of the readers NewRequest knows, so GetBody stays nil): the client
// then never resends it, over HTTP/1.1 or HTTP/2, as it would a POST. A
// plain GET would be resent silently when its keep-alive connection died,
// and hide the loss.
func unreplayableGet(url string) (*http.Request, error) {
	return http.NewRequest(http.MethodGet, url, io.NopCloser(strings.NewReader("no resend")))
}

// Outcomes of a request sent once and never resent.
const (
	answered errorClass = "answered"
	// unprocessed: the client knows the server never processed the
	// request, so it is safe to send again: HTTP/2's GOAWAY said so, or
	// the request never left the client.
	unprocessed errorClass = "unprocessed"
)

// classifyOnce sorts the outcome of a request that is never resent: an
// answer, or classify's classes plus unprocessed. Go's client reports both
// of these only in the error's text.
func classifyOnce(err error) errorClass {
	switch {
	case err == nil:
		return answered
	case strings.Contains(err.Error(), "GOAWAY"):
		return unprocessed
	case strings.Contains(err.Error(), "cannot rewind body after connection loss"):
		// For a request that cannot be replayed, Go's client says this only
		// when its HTTP/2 connection, after a GOAWAY, took no new request:
		// it would have sent the request on a new connection, but had
		// closed the body it would have to send again (net/http's
		// shouldRetryRequest and rewindBody).
		return unprocessed
	case strings.Contains(err.Error(), "server closed idle connection"), errors.Is(err, net.ErrClosed):
		// HTTP/1.1's keep-alive race: the request went out on a connection
		// the server was closing (or was being written when the client saw
		// it close), and nothing says whether it was read.
		return cut
	default:
		return classify(err)
	}
}

// sendOnce sends an unreplayable GET and sorts its outcome; a 200 with
// another body counts as other.
func sendOnce(client *http.Client, url string) (errorClass, error) {
	req, err := unreplayableGet(url)
	if err != nil {
		return other, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return classifyOnce(err), err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return classifyOnce(err), err
	}
	if resp.StatusCode != http.StatusOK || string(body) != "Welcome Gin Server" {
		return other, fmt.Errorf("status %d body %q", resp.StatusCode, body)
	}
	return answered, nil
}

// rawHTTP2 is an HTTP/2 connection without TLS, driven frame by frame, so
// a test sees every frame the server sends and in which order.
type rawHTTP2 struct {
	conn   net.Conn
	framer *http2.Framer
}

// dialHTTP2 opens a connection, sends the client preface and its SETTINGS.
func dialHTTP2(addr string, deadline time.Time) (*rawHTTP2, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Until(deadline))
	if err != nil {
		return nil, err
	}
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		conn.Close()
		return nil, err
	}
	framer := http2.NewFramer(conn, conn)
	framer.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := framer.WriteSettings(); err != nil {
		conn.Close()
		return nil, err
	}
	return &rawHTTP2{conn: conn, framer: framer}, nil
}

// get sends GET path on a new stream.
func (c *rawHTTP2) get(streamID uint32, authority, path string) error {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", authority}, {":path", path}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			return err
		}
	}
	return c.framer.WriteHeaders(http2.HeadersFrameParam{
		StreamID: streamID, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true,
	})
}

// h2Event is what the server sent, in order: a GOAWAY, a response's status
// or its body.
type h2Event struct {
	kind         string // "GOAWAY", "status" or "data"
	streamID     uint32
	text         string // the status code, or the body bytes
	lastStreamID uint32
	code         http2.ErrCode
}

// readUntilClosed reads the server's frames until it closes the connection,
// acknowledging its SETTINGS, and returns the GOAWAYs, statuses and bodies
// in the order they came. The error is nil when the server closed the
// connection cleanly (EOF).
func (c *rawHTTP2) readUntilClosed() ([]h2Event, error) {
	defer c.conn.Close()
	var events []h2Event
	for {
		frame, err := c.framer.ReadFrame()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		switch f := frame.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := c.framer.WriteSettingsAck(); err != nil {
					return events, err
				}
			}
		case *http2.GoAwayFrame:
			events = append(events, h2Event{kind: "GOAWAY", lastStreamID: f.LastStreamID, code: f.ErrCode})
		case *http2.MetaHeadersFrame:
			events = append(events, h2Event{kind: "status", streamID: f.StreamID, text: f.PseudoValue("status")})
		case *http2.DataFrame:
			events = append(events, h2Event{kind: "data", streamID: f.StreamID, text: string(f.Data())})
		}
	}
}
