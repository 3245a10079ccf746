package lesson

import "time"

// StreamingStep is the demo's step 6: 06-streaming stopped with SIGTERM
// while an SSE stream (`curl -N` on /events), a WebSocket (WebSocketClient
// on /ws) and a slow GET / (curl) are open. The demo runs it; its verdicts
// and the tests read Expect.
var StreamingStep = struct {
	Program string
	// Tick is 06-streaming's -tick: how often the stream and the socket
	// send a message.
	Tick time.Duration
	// Expect lists the verdict rows in order, with what the lesson expects.
	Expect []Verdict
}{
	Program: "06-streaming",
	Tick:    500 * time.Millisecond,
	Expect: []Verdict{
		{Label: "stream", Want: StreamEndedClean},
		{Label: "socket", Want: SocketGoingAway},
		{Label: "request", Want: Answered},
		{Label: "server", Want: ExitedClean},
	},
}

// WebSocketClient is the package of the demo's WebSocket client (see its
// doc comment: what it prints, why it exists).
const WebSocketClient = "scripts/wsclient"

// The outcomes of step 6's stream and socket, as the demo words them: the
// stream's last event was "shutdown" and curl exited 0; the socket got a
// close frame with 1001, going away, and 06-streaming's reason.
const (
	StreamEndedClean = "event: shutdown, curl exit 0"
	SocketGoingAway  = "close 1001 server shutting down"
)
