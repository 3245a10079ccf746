package client

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// CurlStreamArgs is the command line of an SSE client: curl -N (no
// buffering: each event shows as it comes), bounded by maxTime.
func CurlStreamArgs(maxTime time.Duration, url string) []string {
	return []string{"curl", "-N", "-sS", "--max-time", strconv.Itoa(int(maxTime.Seconds())), url}
}

// WebSocketClientArgs is the command line of the demo's WebSocket client,
// run from the folder it was built into, bounded by maxTime.
func WebSocketClientArgs(maxTime time.Duration, url string) []string {
	return []string{"./wsclient", "-max-time", maxTime.String(), url}
}

// StreamOutcome is what an SSE client got, in the verdict's words, from
// what curl -N printed (its stdout and stderr) and its exit status:
// StreamEndedClean, or for instance "cut after event: tick, curl exit 18".
func StreamOutcome(printed string, exit int) string {
	events := ParseSSE(printed)
	last := "no event"
	if len(events) > 0 {
		last = "event: " + events[len(events)-1].Name
	}
	if last == "event: shutdown" && exit == 0 {
		return lesson.StreamEndedClean
	}
	if exit == 0 {
		return fmt.Sprintf("ended after %s, curl exit 0", last)
	}
	return fmt.Sprintf("cut after %s, curl exit %d", last, exit)
}

// SocketOutcome is what the WebSocket client got: the last "close" line it
// printed ("close 1001 server shutting down", "close 1006 (no close
// frame)"), or "no close" when it printed none.
func SocketOutcome(lines []proc.Line) string {
	outcome := "no close"
	for _, l := range lines {
		if strings.HasPrefix(l.Text, "close ") {
			outcome = l.Text
		}
	}
	return outcome
}

// SSEEvent is one Server-Sent Event as a client reads it.
type SSEEvent struct {
	Name  string // event:, "message" when absent
	Data  string // data: lines, joined by "\n"
	Retry string // retry:, in milliseconds
}

// ParseSSE reads the complete events of a text/event-stream (an event ends
// with a blank line; a cut stream may end with half an event, left out).
// The space after the colon is optional, as in the spec; lines that are no
// field of an event (curl's own error line) are skipped.
func ParseSSE(stream string) []SSEEvent {
	var events []SSEEvent
	var ev SSEEvent
	var data []string
	for line := range strings.Lines(stream) {
		if !strings.HasSuffix(line, "\n") {
			break // the last line was cut
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if ev.Name != "" || data != nil {
				if ev.Name == "" {
					ev.Name = "message"
				}
				ev.Data = strings.Join(data, "\n")
				events = append(events, ev)
			}
			ev, data = SSEEvent{}, nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Name = value
		case "data":
			data = append(data, value)
		case "retry":
			ev.Retry = value
		}
	}
	return events
}
