package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
)

// runStreaming is step 6: 06-streaming stopped with SIGTERM while an SSE
// stream, a WebSocket and a slow GET / are open.
func (d *demo) runStreaming(step lesson.Step) {
	program := step.Program
	flags := step.Flags(d.t)
	maxTime := d.t.Timeout + 10*time.Second
	streamArgs := client.CurlStreamArgs(maxTime, "http://"+d.addr+"/events")
	socketArgs := client.WebSocketClientArgs(maxTime, "ws://"+d.addr+"/ws")
	d.beginStep(step, commented([][2]string{
		{quote(append([]string{"GIN_MODE=release", "./" + program, "-addr", d.addr}, append(flags, "&")...)...), ""},
		{quote(streamArgs...) + " &", d.w.T("the stream")},
		{quote(socketArgs...) + " &", d.w.T("the socket, once curl printed an event")},
		{d.curlLine(client.CurlStatus, "GET", "/") + " &", d.w.T("the request, once wsclient printed a message")},
		{"kill -TERM <server pid>", d.w.T("once 'GET / started' is logged")},
	}))

	s := d.launch(d.bin, program, flags...)
	d.stepT0 = time.Now()
	d.note("open http://%s/live in a browser to watch the stop as a page sees it", d.addr)
	stream, streamSent := d.background(streamArgs)
	d.waitLog(s, lesson.Evidence{Text: "GET /events: stream opened", N: 1})
	d.waitOutput(stream, "event:tick")
	d.note("curl prints each event as it comes: the stream is open. Now the socket")
	socket, socketSent := d.background(socketArgs)
	d.waitLog(s, lesson.Evidence{Text: "GET /ws: socket opened", N: 1})
	d.waitOutput(socket, "message: tick")
	d.note("wsclient prints each message: the socket is open. Now a slow request")
	request := d.send("request", "GET", "/")
	d.waitLog(s, lesson.Evidence{Text: "GET / started", N: 1})
	time.Sleep(d.t.Settle) // pacing, not synchronisation: see lesson.Timings
	d.note("the log shows 'GET / started': signal now")
	signalled := d.kill(syscall.SIGTERM, s.PID())

	streamState := d.waitClient(stream, maxTime)
	d.note("curl -N %s, %s after SIGTERM", d.w.Phrase(proc.ExitText(streamState)), millis(stream.ExitedAt.Sub(signalled)))
	d.waitClient(socket, maxTime)
	d.note("wsclient %s, %s after SIGTERM", d.w.Phrase(proc.ExitText(socket.Cmd.ProcessState)), millis(socket.ExitedAt.Sub(signalled)))
	answer := request.wait()
	d.note("the request got %s, %s s after SIGTERM; waiting for the server to exit", d.w.Phrase(answer.Short()), report.Seconds(answer.Done.Sub(signalled)))
	state := d.waitExit(s)
	if _, err := s.WaitExit(5 * time.Second); err != nil {
		d.die("%v", err)
	}

	for _, printed := range []struct {
		what string
		p    *proc.Process
	}{{d.w.T("What curl -N printed:"), stream}, {d.w.T("What ./wsclient printed:"), socket}, {d.w.T("The server log (%s):", program), s.Process}} {
		fmt.Printf("\n  %s%s%s\n", d.c.Bold, printed.what, d.c.Reset)
		for _, l := range printed.p.Out.All() {
			if l.Text == "" {
				fmt.Println() // an SSE event's end
				continue
			}
			fmt.Printf("    %s%s%s\n", d.c.Dim, l.Text, d.c.Reset)
		}
	}

	got := map[string]string{
		"stream":  client.StreamOutcome(stream.Out.String(), streamState.ExitCode()),
		"socket":  client.SocketOutcome(socket.Out.All()),
		"request": answer.Outcome(),
		"server":  proc.ExitText(state),
	}
	if state.Exited() {
		got["server"] += " (" + lastWords(s.Out.All()) + ")"
	}
	verdicts := judge(step.Expect, got)
	serverOK := state.Exited() && state.ExitCode() == 0
	d.report(program, verdicts, report.Timeline{
		Start: d.stepT0, Signal: signalled, SignalName: "SIGTERM", Legend: report.LegendStreaming,
		Rows: []report.TimelineRow{
			connectionRow("stream", streamSent, stream, signalled, got["stream"] == lesson.StreamEndedClean, "ended"),
			connectionRow("socket", socketSent, socket, signalled, got["socket"] == lesson.SocketGoingAway, "closed"),
			requestRow("request", answer),
			{Label: "server", OK: serverOK,
				Spans: []report.Span{{From: d.stepT0, To: s.ExitedAt, Fill: '-', End: end(serverOK)}},
				Note: fmt.Sprintf("%s at %s s, %s s after SIGTERM", proc.ExitText(state),
					report.Seconds(s.ExitedAt.Sub(d.stepT0)), report.Seconds(s.ExitedAt.Sub(signalled)))},
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
func (d *demo) background(args []string) (*proc.Process, time.Time) {
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
func (d *demo) waitOutput(p *proc.Process, text string) {
	if err := p.WaitLog(text, 1, 10*time.Second); err != nil {
		d.die("%v: %s", err, lastLine(p.Out))
	}
}

// waitClient waits for a client to exit; maxTime bounds it itself.
func (d *demo) waitClient(p *proc.Process, maxTime time.Duration) *os.ProcessState {
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
func connectionRow(label string, sent time.Time, p *proc.Process, signalled time.Time, ok bool, how string) report.TimelineRow {
	if !ok {
		how = "cut"
	}
	return report.TimelineRow{Label: label, OK: ok,
		Spans: []report.Span{{From: sent, To: p.ExitedAt, Fill: '=', End: end(ok)}},
		Note:  fmt.Sprintf("%s %s after SIGTERM", how, millis(p.ExitedAt.Sub(signalled)))}
}
