package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/pgcluster"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
)

// riverInstance is one of step 8's processes: its label, its address, and
// each process that served there (the first, then the one started again).
type riverInstance struct {
	label   string
	addr    string
	procs   []*proc.Server
	started []time.Time
	exits   []*os.ProcessState
}

func (r *riverInstance) live() *proc.Server { return r.procs[len(r.procs)-1] }

// runRiver is the step for lesson 08: a throwaway PostgreSQL, three
// instances sharing its jobs, jobs posted, kill -9 to the instance that
// runs job 1, a rolling restart of the two others while River's rescuer
// takes job 1 back, and every job asked about.
func (d *demo) runRiver(step lesson.Step) {
	_, portText, _ := net.SplitHostPort(d.addr)
	port, _ := strconv.Atoi(portText)
	var apps []*riverInstance
	for i := 1; i <= step.Instances; i++ {
		addr := "127.0.0.1:" + strconv.Itoa(port+i)
		if err := proc.RequireFreePort(addr); err != nil {
			d.die("%v", err)
		}
		apps = append(apps, &riverInstance{label: fmt.Sprintf("app%d", i), addr: addr})
	}
	flags := step.Flags(d.t)
	d.beginStep(step.Number, step.Title, step.Intro(d.t), []string{
		`DATABASE_URL=postgres://...   # a throwaway PostgreSQL (initdb, pg_ctl), or yours`,
		quote(append([]string{"GIN_MODE=release", "./" + step.Program, "-addr", apps[0].addr}, append(flags, "&")...)...) + "   # and app2, app3",
		fmt.Sprintf("curl -X POST http://%s/jobs   # %d times", apps[0].addr, step.Jobs),
		"kill -KILL <pid of the app that runs job 1>",
		"kill -TERM <each other app's pid>   # one at a time: wait until it exits, start it again",
		"curl http://<a live app>/jobs/N     # for each job, once all are done",
		"kill -TERM <each pid>",
	})

	cluster := d.startPostgres()
	db, err := cluster.CreateDatabase(context.Background(), "demo")
	if err != nil {
		d.die("%v", err)
	}
	if err := os.Setenv("DATABASE_URL", db); err != nil {
		d.die("%v", err)
	}
	launch := func(app *riverInstance) {
		d.show(quote(append([]string{"GIN_MODE=release", "./" + step.Program, "-addr", app.addr}, append(flags, "&")...)...))
		app.started = append(app.started, time.Now())
		s, err := d.drv.StartServer(filepath.Join(d.bin, step.Program), app.addr, flags...)
		if err != nil {
			d.die("%v", err)
		}
		if err := s.WaitReady(30 * time.Second); err != nil {
			d.die("%s did not start: %v: %s", app.label, err, lastLine(s.Out))
		}
		d.note("%s listening on %s, PID %d", app.label, app.addr, s.PID())
		app.procs = append(app.procs, s)
	}
	for _, app := range apps {
		launch(app)
	}

	d.stepT0 = time.Now()
	var ids []string
	for i := 1; i <= step.Jobs; i++ {
		args := client.CurlArgs(d.t.Timeout+10*time.Second, client.CurlStatus, "POST", "http://"+apps[0].addr+"/jobs")
		d.show(quote(args...))
		c := client.RunCurl(context.Background(), args)
		d.result(c.Outcome())
		ids = append(ids, jobID(c))
	}
	if ids[0] == "" {
		d.die("job 1 was not accepted")
	}
	victim := d.waitRunning(apps, ids[0])
	d.note("%s runs job %s", victim.label, ids[0])
	d.waitAllBusy(apps)
	if _, done := logLine(victim.live().Out, `job `+ids[0]+` done$`); done {
		d.die("job %s ended before every instance had started a job: the machine is too busy for -work %s", ids[0], lesson.RiverWork(d.t))
	}
	d.note("kill -9 %s", victim.label)
	killed := d.kill(syscall.SIGKILL, victim.live().PID())
	victim.exits = append(victim.exits, d.waitExit(victim.live()))

	for _, app := range apps {
		if app == victim {
			continue
		}
		d.note("%s: SIGTERM; River's soft stop lets a running job finish", app.label)
		d.kill(syscall.SIGTERM, app.live().PID())
		app.exits = append(app.exits, d.waitExit(app.live()))
		d.note("%s: %s; start it again", app.label, proc.ExitText(app.exits[0]))
		launch(app)
	}

	var live *riverInstance
	for _, app := range apps {
		if app != victim {
			live = app
		}
	}
	// River's rescue: -rescue-after, the dead leader's term (15 s), up to a
	// sweep (30 s), the retry and the scheduler (5 s), and room on top.
	d.note("job %s is still 'running' in PostgreSQL: River's rescuer takes it back after -rescue-after, at its next sweep (every 30 s)", ids[0])
	jobs := map[string]client.JobStatus{}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if err := waitRiverJob(live.live().Addr, id, 2*time.Minute); err != nil {
			d.die("%v", err)
		}
		args := client.CurlArgs(d.t.Timeout+10*time.Second, client.CurlStatus, "GET", "http://"+live.live().Addr+"/jobs/"+id)
		d.show(quote(args...))
		c := client.RunCurl(context.Background(), args)
		d.result(c.Outcome())
		var j client.JobStatus
		if c.Status() == 200 && json.Unmarshal([]byte(c.Body()), &j) == nil {
			jobs[id] = j
		}
	}
	for _, app := range apps {
		if app == victim {
			continue
		}
		d.kill(syscall.SIGTERM, app.live().PID())
		app.exits = append(app.exits, d.waitExit(app.live()))
	}

	var outs []*proc.Output
	for _, app := range apps {
		for _, p := range app.procs {
			outs = append(outs, p.Out)
		}
	}
	rescued, _ := firstLine(outs, `JobRescuer: Ran successfully .*num_jobs_retry_scheduled=[1-9]`)
	var verdicts []lesson.Verdict
	var rows []report.TimelineRow
	for i, want := range step.Expect {
		v := lesson.Verdict{Label: want.Label, Want: want.Want}
		if i < len(ids) {
			id := ids[i]
			v.Want = fmt.Sprintf("job %s %s", id, want.Want)
			if j, ok := jobs[id]; ok {
				v.Got = fmt.Sprintf("job %s %s", id, j.Outcome())
			} else {
				v.Got = "job " + id + ": not accepted"
			}
			rows = append(rows, riverJobRow(want.Label, id, outs, killed, rescued.At, jobs[id]))
		} else {
			v.Got = d.riverInstanceFate(want.Label, victim, apps)
		}
		verdicts = append(verdicts, v)
	}
	for _, app := range apps {
		rows = append(rows, riverInstanceRow(app))
	}
	if !rescued.At.IsZero() {
		d.note("River's rescuer took job %s back %s s after the kill", ids[0], report.Seconds(rescued.At.Sub(killed)))
	}
	d.report(step.Program, verdicts, report.Timeline{
		Start: d.stepT0, Signal: killed, SignalName: "SIGKILL",
		Rows: rows, Legend: report.LegendRiver,
	})
}

// startPostgres is DATABASE_URL's server, or a throwaway cluster that the
// demo's guard stops on every way out.
func (d *demo) startPostgres() *pgcluster.Cluster {
	if raw := os.Getenv("DATABASE_URL"); raw != "" {
		c, err := pgcluster.FromURL(raw)
		if err != nil {
			d.die("%v", err)
		}
		d.note("PostgreSQL: DATABASE_URL's server, a new database on it")
		return c
	}
	c, err := pgcluster.Start()
	if err != nil {
		d.die("%v", err)
	}
	d.drv.AtExit(func() { _ = c.Stop() })
	d.note("PostgreSQL: a throwaway cluster (initdb, pg_ctl) in %s, on 127.0.0.1:%d", c.Dir, c.Port)
	return c
}

// waitRunning waits until an instance logs job id started, and returns it.
func (d *demo) waitRunning(apps []*riverInstance, id string) *riverInstance {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, app := range apps {
			if _, ok := logLine(app.live().Out, `job `+id+` started \(attempt 1\)`); ok {
				return app
			}
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	d.die("no instance started job %s within 30 s", id)
	return nil
}

// waitAllBusy waits until every instance has started a job: then each
// stop in the rolling restart has a job to let finish.
func (d *demo) waitAllBusy(apps []*riverInstance) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		busy := 0
		for _, app := range apps {
			if _, ok := logLine(app.live().Out, `started \(attempt 1\)`); ok {
				busy++
			}
		}
		if busy == len(apps) {
			d.note("the logs show a job running in each instance")
			return
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	d.die("not every instance started a job within 30 s")
}

// waitRiverJob polls GET /jobs/id quietly until the job is done.
func waitRiverJob(addr, id string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		r := client.Send(context.Background(), "GET", "http://"+addr+"/jobs/"+id)
		var j client.JobStatus
		if r.Err == nil && r.Status == 200 && json.Unmarshal([]byte(r.Body), &j) == nil && j.State == "done" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("job %s not done after %s: %d %s", id, limit, r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond) // polling interval, not synchronisation
	}
}

// riverInstanceFate words how the instance a verdict row names ended:
// "killed" is the one that ran job 1, "stopped1" and "stopped2" the
// others' first processes, stopped by SIGTERM in the rolling restart.
func (d *demo) riverInstanceFate(label string, victim *riverInstance, apps []*riverInstance) string {
	if label == "killed" {
		return proc.ExitText(victim.exits[0])
	}
	n := 0
	for _, app := range apps {
		if app == victim {
			continue
		}
		n++
		if label == fmt.Sprintf("stopped%d", n) {
			p, state := app.procs[0], app.exits[0]
			text := proc.ExitText(state)
			if state.Exited() {
				text += " (" + lastWords(p.Out.All()) + ")"
			}
			return text
		}
	}
	return ""
}

// firstLine is the first line matching pattern in any of outs.
func firstLine(outs []*proc.Output, pattern string) (proc.Line, bool) {
	var first proc.Line
	found := false
	for _, out := range outs {
		if l, ok := logLine(out, pattern); ok && (!found || l.At.Before(first.At)) {
			first, found = l, true
		}
	}
	return first, found
}

// riverJobRow draws a job across every process: queued ('.'), running
// ('='), cut by the kill ('X'), held as "running" by a dead process until
// River's rescuer takes it back ('~'), queued again, run again, done.
func riverJobRow(label, id string, outs []*proc.Output, killed, rescued time.Time, j client.JobStatus) report.TimelineRow {
	row := report.TimelineRow{Label: label, OK: j.State == "done" && j.Effects == 1, Note: j.Outcome()}
	queued, ok := firstLine(outs, `job `+id+` queued$`)
	if !ok {
		return row
	}
	from := queued.At
	for attempt := 1; ; attempt++ {
		started, ok := firstLine(outs, fmt.Sprintf(`job %s started \(attempt %d\)`, id, attempt))
		if !ok {
			return row
		}
		row.Spans = append(row.Spans, report.Span{From: from, To: started.At, Fill: '.'})
		if _, again := firstLine(outs, fmt.Sprintf(`job %s started \(attempt %d\)`, id, attempt+1)); !again {
			if done, ok := firstLine(outs, `job `+id+` done$`); ok {
				row.Spans = append(row.Spans, report.Span{From: started.At, To: done.At, Fill: '=', End: 'o'})
			}
			return row
		}
		row.Spans = append(row.Spans, report.Span{From: started.At, To: killed, Fill: '=', End: 'X'})
		from = killed
		if rescued.After(killed) {
			row.Spans = append(row.Spans, report.Span{From: killed, To: rescued, Fill: '~'})
			from = rescued
		}
	}
}

// riverInstanceRow draws an instance: each of its processes up until it
// exited ('o' exit 0, 'X' otherwise: the one killed).
func riverInstanceRow(app *riverInstance) report.TimelineRow {
	row := report.TimelineRow{Label: app.label, OK: true}
	var notes []string
	for i, p := range app.procs {
		ok := app.exits[i].Exited() && app.exits[i].ExitCode() == 0
		row.OK = row.OK && ok
		row.Spans = append(row.Spans, report.Span{From: app.started[i], To: p.ExitedAt, Fill: '-', End: end(ok)})
		notes = append(notes, proc.ExitText(app.exits[i]))
	}
	row.Note = strings.Join(notes, ", then ")
	return row
}
