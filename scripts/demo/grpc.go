package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/grpcclient"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
)

// runGRPC runs a step of the OpenCalls shape (step 9): 09-grpc stopped
// with SIGTERM while a health Watch, a Ticks stream and a Slow call are
// open, each a grpcurl.
func (d *demo) runGRPC(step lesson.Step) {
	program := step.Program
	flags := step.Flags(d.t)
	maxTime := lesson.GRPCDrainDelay(d.t) + d.t.Timeout + 10*time.Second
	grpcurl := func(method string) []string {
		return []string{"./grpcurl", "-plaintext", "-max-time", strconv.Itoa(int(maxTime.Seconds())), d.addr, method}
	}
	watchArgs, streamArgs, callArgs := grpcurl("grpc.health.v1.Health/Watch"), grpcurl("lab.v1.Lab/Ticks"), grpcurl("lab.v1.Lab/Slow")
	d.beginStep(step, commented([][2]string{
		{quote(append([]string{"GIN_MODE=release", "./" + program, "-addr", d.addr}, append(flags, "&")...)...), ""},
		{quote(watchArgs...) + " &", d.w.T("the health watch")},
		{quote(streamArgs...) + " &", d.w.T("the stream, once the watch printed SERVING")},
		{quote(callArgs...) + " &", d.w.T("the call, once the stream printed a number")},
		{"kill -TERM <server pid>", d.w.T("once 'Slow started' is logged")},
	}))

	s := d.launch(d.bin, program, flags...)
	d.stepT0 = time.Now()
	watch, watchSent := d.background(watchArgs)
	d.waitOutput(watch, `"SERVING"`)
	d.note("grpcurl prints each status the health service sends: SERVING. Now the stream")
	stream, streamSent := d.background(streamArgs)
	d.waitLog(s, lesson.Evidence{Text: "Ticks: stream opened", N: 1})
	d.waitOutput(stream, `"1"`)
	d.note("grpcurl prints each number: the stream is open. Now a slow call")
	call, callSent := d.background(callArgs)
	d.waitLog(s, lesson.Evidence{Text: "Slow started", N: 1})
	time.Sleep(d.t.Settle) // pacing, not synchronisation: see lesson.Timings
	d.note("the log shows 'Slow started': signal now")
	signalled := d.kill(syscall.SIGTERM, s.PID())

	d.waitOutput(watch, `"NOT_SERVING"`)
	notServing, _ := watch.Out.First(`"NOT_SERVING"`)
	d.note("the watch printed NOT_SERVING, %s after SIGTERM", millis(notServing.At.Sub(signalled)))
	d.waitClient(stream, maxTime)
	d.note("the stream's grpcurl %s, %s s after SIGTERM", d.w.Phrase(proc.ExitText(stream.Cmd.ProcessState)), report.Seconds(stream.ExitedAt.Sub(signalled)))
	d.waitClient(watch, maxTime)
	d.waitClient(call, maxTime)
	d.note("the call's grpcurl %s, %s s after SIGTERM; waiting for the server to exit", d.w.Phrase(proc.ExitText(call.Cmd.ProcessState)), report.Seconds(call.ExitedAt.Sub(signalled)))
	state := d.waitExit(s)
	if _, err := s.WaitExit(5 * time.Second); err != nil {
		d.die("%v", err)
	}

	for _, printed := range []struct {
		what string
		p    *proc.Process
	}{{d.w.T("What the watch's grpcurl printed:"), watch}, {d.w.T("What the stream's grpcurl printed:"), stream},
		{d.w.T("What the call's grpcurl printed:"), call}, {d.w.T("The server log (%s):", program), s.Process}} {
		fmt.Printf("\n  %s%s%s\n", d.c.Bold, printed.what, d.c.Reset)
		for _, l := range printed.p.Out.All() {
			fmt.Printf("    %s%s%s\n", d.c.Dim, l.Text, d.c.Reset)
		}
	}

	got := map[string]string{
		"watch":  grpcurlOutcome(watch),
		"stream": grpcurlOutcome(stream),
		"call":   grpcurlOutcome(call),
		"server": proc.ExitText(state),
	}
	if state.Exited() {
		got["server"] += " (" + lastWords(s.Out.All()) + ")"
	}
	verdicts := judge(step.Expect, got)
	drainEnd := signalled
	if l, ok := s.Out.First("Shutdown Server"); ok {
		drainEnd = l.At
	}
	serverOK := state.Exited() && state.ExitCode() == 0
	watchOK := got["watch"] == lesson.WatchNotServingThenEnded
	d.report(program, verdicts, report.Timeline{
		Start: d.stepT0, Signal: signalled, SignalName: "SIGTERM", Legend: report.LegendGRPC,
		Rows: []report.TimelineRow{
			{Label: "watch", OK: watchOK,
				Spans: []report.Span{{From: watchSent, To: notServing.At, Fill: '='}, {From: notServing.At, To: watch.ExitedAt, Fill: '~', End: end(watchOK)}},
				Note:  fmt.Sprintf("NOT_SERVING %s after SIGTERM, ended %s s after", millis(notServing.At.Sub(signalled)), report.Seconds(watch.ExitedAt.Sub(signalled)))},
			{Label: "drain", OK: true,
				Spans: []report.Span{{From: signalled, To: drainEnd, Fill: 'd'}},
				Note:  fmt.Sprintf("calls still taken for %s s", report.Seconds(drainEnd.Sub(signalled)))},
			grpcurlRow("stream", streamSent, stream, signalled, got["stream"] == lesson.GRPCShuttingDown, "ended"),
			grpcurlRow("call", callSent, call, signalled, got["call"] == lesson.GRPCWelcome, "answered"),
			{Label: "server", OK: serverOK,
				Spans: []report.Span{{From: d.stepT0, To: s.ExitedAt, Fill: '-', End: end(serverOK)}},
				Note: fmt.Sprintf("%s at %s s, %s s after SIGTERM", proc.ExitText(state),
					report.Seconds(s.ExitedAt.Sub(d.stepT0)), report.Seconds(s.ExitedAt.Sub(signalled)))},
		},
	})
}

// grpcurlOutcome is what a grpcurl printed, worded for the verdict.
func grpcurlOutcome(p *proc.Process) string {
	var lines []string
	for _, l := range p.Out.All() {
		lines = append(lines, l.Text)
	}
	return grpcclient.GrpcurlOutcome(lines)
}

// grpcurlRow draws a stream or a call: open from its start until its
// grpcurl exited, with how long after the signal it ended.
func grpcurlRow(label string, sent time.Time, p *proc.Process, signalled time.Time, ok bool, how string) report.TimelineRow {
	if !ok {
		how = strings.Fields(grpcurlOutcome(p))[0]
	}
	return report.TimelineRow{Label: label, OK: ok,
		Spans: []report.Span{{From: sent, To: p.ExitedAt, Fill: '=', End: end(ok)}},
		Note:  fmt.Sprintf("%s %s s after SIGTERM", how, report.Seconds(p.ExitedAt.Sub(signalled)))}
}
