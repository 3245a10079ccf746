package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
)

// runDurable is the step for lesson 07: post jobs, a real kill -9 while two
// of them run, start the server again on the same -db, and ask it about
// every job.
func (d *demo) runDurable(step lesson.Step) {
	flags := step.Flags(d.t)
	work := lesson.DurableWork(d.t)
	launchLine := quote(append([]string{"GIN_MODE=release", "./" + step.Program, "-addr", d.addr}, append(flags, "&")...)...)
	d.beginStep(step, []string{
		launchLine,
		d.w.T("%s         # %d times", d.curlLine(client.CurlStatus, "POST", "/jobs"), step.Jobs),
		d.w.T("kill -KILL <server pid>    # once %d x 'started (attempt 1)' are logged", step.Workers),
		d.w.T("%s    # the same jobs.db", launchLine),
		d.w.T("%s      # for each job, once all are done", d.curlLine(client.CurlStatus, "GET", "/jobs/N")),
		"kill -TERM <server pid>",
	})

	firstUp := time.Now()
	first := d.launch(d.bin, step.Program, flags...)
	var posts []*request
	for i := 1; i <= step.Jobs; i++ {
		posts = append(posts, d.sendNow(fmt.Sprintf("job%d", i), "POST", "/jobs"))
	}
	for _, e := range step.Before {
		d.waitLog(first, e)
	}
	time.Sleep(d.t.Settle) // pacing, not synchronisation: see lesson.Timings
	d.note("the log shows %d jobs running, the others queued: kill -9 now", step.Workers)
	killed := d.kill(syscall.SIGKILL, first.PID())
	firstState := d.waitExit(first)
	d.note("%s; start it again on the same jobs.db", d.w.Phrase(proc.ExitText(firstState)))

	secondUp := time.Now()
	second := d.launch(d.bin, step.Program, flags...)
	// One job after the other: each takes work, and a rescue comes within
	// a lease and a quarter. The wait is for the next job's line, so a
	// busy machine that runs them slowly gets all the time it needs, and a
	// server that stops making progress is caught.
	next := work + 2*lesson.DurableLease(d.t) + 20*time.Second
	for n := 1; n <= step.Jobs; n++ {
		if err := second.WaitLog(" done", n, next); err != nil {
			d.die("%v", err)
		}
	}
	d.note("the log shows %d jobs done: ask the server about each", step.Jobs)
	jobs := map[string]client.JobStatus{}
	for _, p := range posts {
		id := jobID(p.curl)
		if id == "" {
			continue
		}
		path := "/jobs/" + id
		d.show(d.curlLine(client.CurlStatus, "GET", path))
		c := d.curl(client.CurlStatus, "GET", path)
		d.result(c.Outcome())
		var j client.JobStatus
		if c.Status() == 200 && json.Unmarshal([]byte(c.Body()), &j) == nil {
			jobs[id] = j
		}
	}
	d.kill(syscall.SIGTERM, second.PID())
	secondState := d.waitExit(second)
	if _, err := second.WaitExit(5 * time.Second); err != nil {
		d.die("%v", err)
	}

	for _, s := range []struct {
		name string
		out  *proc.Output
	}{{d.w.T("the first process, killed"), first.Out}, {d.w.T("the second process, on the same jobs.db"), second.Out}} {
		fmt.Printf("\n  %s%s%s\n", d.c.Bold, d.w.T("The server log (%s):", s.name), d.c.Reset)
		for _, l := range s.out.All() {
			if !strings.HasPrefix(l.Text, "[GIN]") {
				fmt.Printf("    %s%s%s\n", d.c.Dim, l.Text, d.c.Reset)
			}
		}
	}

	byLabel := map[string]*client.Curl{}
	for _, p := range posts {
		byLabel[p.label] = p.curl
	}
	var verdicts []lesson.Verdict
	var rows []report.TimelineRow
	for _, want := range step.Expect {
		v := lesson.Verdict{Label: want.Label, Want: want.Want}
		switch want.Label {
		case "server1":
			v.Got = proc.ExitText(firstState)
			rows = append(rows, report.TimelineRow{Label: "server1", OK: false,
				Spans: []report.Span{{From: firstUp, To: first.ExitedAt, Fill: '-', End: 'X'}},
				Note:  fmt.Sprintf("%s at %s s", v.Got, report.Seconds(first.ExitedAt.Sub(d.stepT0)))})
		case "server2":
			v.Got = proc.ExitText(secondState)
			if secondState.Exited() {
				v.Got += " (" + lastWords(second.Out.All()) + ")"
			}
			ok := secondState.Exited() && secondState.ExitCode() == 0
			rows = append(rows, report.TimelineRow{Label: "server2", OK: ok,
				Spans: []report.Span{{From: secondUp, To: second.ExitedAt, Fill: '-', End: end(ok)}},
				Note:  fmt.Sprintf("%s at %s s", proc.ExitText(secondState), report.Seconds(second.ExitedAt.Sub(d.stepT0)))})
		default:
			c := byLabel[want.Label]
			id := jobID(c)
			v.Want = fmt.Sprintf("job %s %s", id, want.Want)
			if j, ok := jobs[id]; ok {
				v.Got = fmt.Sprintf("job %s %s", id, j.Outcome())
			} else {
				v.Got = "POST /jobs: " + c.Outcome()
			}
			rows = append(rows, durableJobRow(want.Label, id, first.Out, second.Out, killed, jobs[id]))
		}
		verdicts = append(verdicts, v)
	}
	d.report(step.Program, verdicts, report.Timeline{
		Start: d.stepT0, Signal: killed, SignalName: "SIGKILL",
		Rows: rows, Legend: report.LegendDurable,
	})
}

// durableJobRow draws a job across the two processes, as their logs stamp
// it: queued ('.'), running ('='), cut by the kill ('X'), held by the dead
// process's lease until the rescue ('~'), queued again, run again, done.
func durableJobRow(label, id string, first, second *proc.Output, killed time.Time, j client.JobStatus) report.TimelineRow {
	row := report.TimelineRow{Label: label, OK: j.State == "done" && j.Effects == 1,
		Note: j.Outcome()}
	queued, ok := logLine(first, `job `+id+` queued$`)
	if !ok {
		return row
	}
	from := queued.At
	for _, out := range []*proc.Output{first, second} {
		if rescued, ok := logLine(out, `job `+id+` rescued`); ok {
			row.Spans = append(row.Spans, report.Span{From: from, To: rescued.At, Fill: '~'})
			from = rescued.At
		}
		started, ok := logLine(out, `job `+id+` started`)
		if !ok {
			continue
		}
		row.Spans = append(row.Spans, report.Span{From: from, To: started.At, Fill: '.'})
		if done, ok := logLine(out, `job `+id+` done$`); ok {
			row.Spans = append(row.Spans, report.Span{From: started.At, To: done.At, Fill: '=', End: 'o'})
			return row
		}
		row.Spans = append(row.Spans, report.Span{From: started.At, To: killed, Fill: '=', End: 'X'})
		from = killed
	}
	return row
}
