package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/lab"
)

// runStreaming is step 6: 06-streaming stopped with SIGTERM while an SSE
// stream, a WebSocket and a slow GET / are open.
func (d *demo) runStreaming(number int) {
	step := lab.StreamingStep
	program := step.Program
	flags := []string{"-delay", d.t.Delay.String(), "-timeout", d.t.Timeout.String(), "-tick", step.Tick.String()}
	maxTime := d.t.Timeout + 10*time.Second
	streamArgs := lab.CurlStreamArgs(maxTime, "http://"+d.addr+"/events")
	socketArgs := lab.WebSocketClientArgs(maxTime, "ws://"+d.addr+"/ws")
	d.beginStep(number, program+", a stream, a WebSocket and a request open, stopped with SIGTERM", []string{
		"Server-Sent Events and WebSockets keep a connection open as long as the page",
		"is open. Shutdown waits for a stream as for any request, until its budget",
		"runs out, and forgets a WebSocket, whose connection was hijacked. 06-streaming",
		"registers a hook with srv.RegisterOnShutdown: at the signal the stream gets",
		"a last `event: shutdown` and ends, the socket gets a close frame 1001 (going",
		fmt.Sprintf("away), and the budget (%s) is left for the request in flight (GET / takes", d.t.Timeout),
		fmt.Sprintf("%s): it gets its 200, and the process exits 0 as soon as it has.", d.t.Delay),
		"The stream's client is curl -N. The WebSocket's is ./wsclient, built from",
		"scripts/wsclient: curl cannot speak WebSocket and Debian has no client the",
		"lab uses, so it is a few lines of Go on coder/websocket (the server's",
		"library) that print each message and the close, as a browser reports them.",
	}, commented([][2]string{
		{quote(append([]string{"GIN_MODE=release", "./" + program, "-addr", d.addr}, append(flags, "&")...)...), ""},
		{quote(streamArgs...) + " &", "the stream"},
		{quote(socketArgs...) + " &", "the socket, once curl printed an event"},
		{d.curlLine(lab.CurlStatus, "GET", "/") + " &", "the request, once wsclient printed a message"},
		{"kill -TERM <server pid>", "once 'GET / started' is logged"},
	}))

	s := d.launch(program, flags...)
	d.stepT0 = time.Now()
	d.note("open http://%s/live in a browser to watch the stop as a page sees it", d.addr)
	stream, streamSent := d.background(streamArgs)
	d.waitLog(s, lab.Evidence{Text: "GET /events: stream opened", N: 1})
	d.waitOutput(stream, "event:tick")
	d.note("curl prints each event as it comes: the stream is open. Now the socket")
	socket, socketSent := d.background(socketArgs)
	d.waitLog(s, lab.Evidence{Text: "GET /ws: socket opened", N: 1})
	d.waitOutput(socket, "message: tick")
	d.note("wsclient prints each message: the socket is open. Now a slow request")
	request := d.send("request", "GET", "/")
	d.waitLog(s, lab.Evidence{Text: "GET / started", N: 1})
	time.Sleep(d.t.Settle) // pacing, not synchronisation: see lab.Timings
	d.note("the log shows 'GET / started': signal now")
	signalled := d.kill(syscall.SIGTERM, s.PID())

	streamState := d.waitClient(stream, maxTime)
	d.note("curl -N %s, %s after SIGTERM", lab.ExitText(streamState), millis(stream.ExitedAt.Sub(signalled)))
	d.waitClient(socket, maxTime)
	d.note("wsclient %s, %s after SIGTERM", lab.ExitText(socket.Cmd.ProcessState), millis(socket.ExitedAt.Sub(signalled)))
	answer := request.wait()
	d.note("the request got %s, %s s after SIGTERM; waiting for the server to exit", answer.Short(), lab.Seconds(answer.Done.Sub(signalled)))
	state := d.waitExit(s)
	if _, err := s.WaitExit(5 * time.Second); err != nil {
		d.die("%v", err)
	}

	for _, printed := range []struct {
		what string
		p    *lab.Process
	}{{"What curl -N printed", stream}, {"What ./wsclient printed", socket}, {"The server log (" + program + ")", s.Process}} {
		fmt.Printf("\n  %s%s:%s\n", d.c.Bold, printed.what, d.c.Reset)
		for _, l := range printed.p.Out.All() {
			if l.Text == "" {
				fmt.Println() // an SSE event's end
				continue
			}
			fmt.Printf("    %s%s%s\n", d.c.Dim, l.Text, d.c.Reset)
		}
	}

	got := map[string]string{
		"stream":  lab.StreamOutcome(stream.Out.String(), streamState.ExitCode()),
		"socket":  lab.SocketOutcome(socket.Out.All()),
		"request": answer.Outcome(),
		"server":  lab.ExitText(state),
	}
	if state.Exited() {
		got["server"] += " (" + lastWords(s.Out.All()) + ")"
	}
	var verdicts []lab.Verdict
	for _, want := range step.Expect {
		verdicts = append(verdicts, lab.Verdict{Label: want.Label, Got: got[want.Label], Want: want.Want})
	}
	serverOK := state.Exited() && state.ExitCode() == 0
	d.report(program, verdicts, lab.Timeline{
		Start: d.stepT0, Signal: signalled, SignalName: "SIGTERM", Legend: lab.LegendStreaming,
		Rows: []lab.TimelineRow{
			connectionRow("stream", streamSent, stream, signalled, got["stream"] == lab.StreamEndedClean, "ended"),
			connectionRow("socket", socketSent, socket, signalled, got["socket"] == lab.SocketGoingAway, "closed"),
			requestRow("request", answer),
			{Label: "server", OK: serverOK,
				Spans: []lab.Span{{From: d.stepT0, To: s.ExitedAt, Fill: '-', End: end(serverOK)}},
				Note: fmt.Sprintf("%s at %s s, %s s after SIGTERM", lab.ExitText(state),
					lab.Seconds(s.ExitedAt.Sub(d.stepT0)), lab.Seconds(s.ExitedAt.Sub(signalled)))},
		},
	})
}

// commented lines up each command's comment ("# ...") after the longest
// command that has one.
func commented(lines [][2]string) []string {
	width := 0
	for _, l := range lines {
		if l[1] != "" {
			width = max(width, len(l[0]))
		}
	}
	var out []string
	for _, l := range lines {
		if l[1] == "" {
			out = append(out, l[0])
		} else {
			out = append(out, fmt.Sprintf("%-*s   # %s", width, l[0], l[1]))
		}
	}
	return out
}

// background starts a client from the build folder, as `args &` would, and
// returns it and when it started.
func (d *demo) background(args []string) (*lab.Process, time.Time) {
	d.show(quote(args...) + " &")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = d.bin
	started := time.Now()
	p, err := d.drv.Start(cmd)
	if err != nil {
		d.die("%v", err)
	}
	return p, started
}

// waitOutput waits for a client to print text, or dies.
func (d *demo) waitOutput(p *lab.Process, text string) {
	if err := p.WaitLog(text, 1, 10*time.Second); err != nil {
		d.die("%v: %s", err, lastLine(p.Out))
	}
}

// waitClient waits for a client to exit; maxTime bounds it itself.
func (d *demo) waitClient(p *lab.Process, maxTime time.Duration) *os.ProcessState {
	state, err := p.WaitExit(maxTime + 5*time.Second)
	if err != nil {
		d.die("%v", err)
	}
	return state
}

// millis is a duration in whole milliseconds: the stream and the socket
// end within a few, which a timeline's 0.00 s would hide.
func millis(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// connectionRow draws a stream or a socket: open from its start until its
// client exited, with how long after the signal it ended.
func connectionRow(label string, sent time.Time, p *lab.Process, signalled time.Time, ok bool, how string) lab.TimelineRow {
	if !ok {
		how = "cut"
	}
	return lab.TimelineRow{Label: label, OK: ok,
		Spans: []lab.Span{{From: sent, To: p.ExitedAt, Fill: '=', End: end(ok)}},
		Note:  fmt.Sprintf("%s %s after SIGTERM", how, millis(p.ExitedAt.Sub(signalled)))}
}
