package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
	"golang.org/x/sys/unix"
)

// curlClient is one of the load clients of steps 4 and 5: GET / again and again with a
// real curl, each answer kept.
type curlClient struct {
	mu      sync.Mutex
	answers []*client.Curl
}

func (c *curlClient) all() []*client.Curl {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.answers)
}

// okFrom counts the client's 200 answers from a version.
func (c *curlClient) okFrom(version string) int {
	n := 0
	for _, a := range c.all() {
		if a.OK() && a.Version() == version {
			n++
		}
	}
	return n
}

// loadMax bounds each client's requests, whatever happens.
const loadMax = 60

// curlLoad is the load of steps 4 and 5: clients that each send GET / with
// a real curl again and again, each answer kept.
type curlLoad struct {
	clients []*curlClient
	stop    chan struct{}
	wg      sync.WaitGroup
}

// startCurlLoad starts n clients, UpStagger apart, and shows each one's
// command (get). Each stops after LoadFor or loadMax requests at the
// latest.
func (d *demo) startCurlLoad(n int, get string) *curlLoad {
	l := &curlLoad{clients: make([]*curlClient, n), stop: make(chan struct{})}
	deadline := time.Now().Add(d.t.LoadFor)
	for i := range l.clients {
		if i > 0 {
			time.Sleep(d.t.UpStagger) // pacing: the clients start apart
		}
		d.show(d.w.T("%s &   # client%d, again and again", get, i+1))
		c := &curlClient{}
		l.clients[i] = c
		l.wg.Go(func() {
			for range loadMax {
				select {
				case <-l.stop:
					return
				default:
				}
				if time.Now().After(deadline) {
					return
				}
				a := d.curl(client.CurlHeaders, "GET", "/")
				c.mu.Lock()
				c.answers = append(c.answers, a)
				c.mu.Unlock()
			}
		})
	}
	return l
}

// finish stops the load, waits for each client's request in flight, and
// returns every client's answers.
func (l *curlLoad) finish() [][]*client.Curl {
	close(l.stop)
	l.wg.Wait()
	answers := make([][]*client.Curl, len(l.clients))
	for n, c := range l.clients {
		answers[n] = c.all()
	}
	return answers
}

// runUpgrade is step 4: 04-zero-downtime upgraded from v1 to v2 with SIGHUP
// under load.
func (d *demo) runUpgrade(step lesson.Step) {
	program, pidfile := step.Program, lesson.PIDFile
	flags := step.Flags(d.t)
	get := d.curlLine(client.CurlHeaders, "GET", "/")
	commands := [][]string{
		proc.BuildCommand(program, "./"+program, "v1"),
		proc.BuildCommand(program+"-v2", "./"+program, "v2"),
	}
	lines := []string{quote(commands[0]...), quote(commands[1]...),
		quote(append([]string{"GIN_MODE=release", "./" + program, "-addr", d.addr}, append(flags, "&")...)...),
		d.w.T("%s   # %d clients, %s apart, each again as soon as it has an answer", get, step.Clients, d.t.UpStagger)}
	install := proc.InstallCommands(program+"-v2", program)
	lines = append(lines, d.w.T("%s   # once each client has %d answers from v1", quote(install[0]...), step.Answers), quote(install[1]...),
		"kill -HUP <v1 pid>",
		d.w.T("cat %s    # once 'Upgrade done' is logged and v1 has exited: v2's PID", pidfile),
		d.w.T("kill -TERM <v2 pid>       # once each client has %d answers from v2, and the load stopped", step.Answers))
	d.beginStep(step, lines)

	// v1 and v2 are this run's own, built into its temporary folder: the
	// upgrade moves v2 over v1 there.
	d.show(quote("cd", d.root))
	for _, c := range commands {
		c[len(c)-2] = filepath.Join(d.work, c[len(c)-2]) // -o into the run's folder
		d.run(d.root, c...)
	}
	d.show(quote("cd", d.work))

	old := d.launch(d.work, program, flags...)
	// v2 will be v1's child, not the demo's: the cleanup finds it here.
	d.drv.WatchSuccessors(old.Process, d.pidFile())
	d.waitLog(old, lesson.Evidence{Text: " serving on ", N: 1})
	d.showPIDFile()

	// The clients.
	d.stepT0 = time.Now()
	load := d.startCurlLoad(step.Clients, get)
	if !d.waitClients(load.clients, "v1", step.Answers, 15*time.Second) {
		d.die("the clients did not get %d answers each from v1 within 15 s", step.Answers)
	}

	d.note("each client has %d answers from v1. Install v2 where v1 runs from: cp onto", step.Answers)
	d.note("a running binary fails (text file busy), so copy it beside and mv it over.")
	d.note("mv swaps the name; v1 keeps running its own file, which no name points to")
	for _, c := range proc.InstallCommands(program+"-v2", program) {
		d.run(d.work, c...)
	}
	d.note("SIGHUP: v1 starts ./%s, v2 now, and hands it the socket", program)
	signalled := d.kill(syscall.SIGHUP, old.PID())

	// The evidence: 'Upgrade done' in the log, v1 gone, the PID file naming v2.
	var oldState *os.ProcessState
	var newPID int
	var newStart, newExit time.Time
	newTermed := false
	if old.WaitLog("Upgrade ", 1, 10*time.Second) != nil && old.Running() {
		d.die("v1 logged neither 'Upgrade done' nor 'Upgrade failed' within 10 s of SIGHUP")
	}
	if failed := old.Out.Lines("Upgrade failed"); len(failed) > 0 {
		d.note("the upgrade failed, v1 still serves: %s", failed[0])
	} else {
		if len(old.Out.Lines("Upgrade done")) > 0 {
			d.note("'Upgrade done' is logged: v2 serves; v1 finishes its requests, then exits")
		}
		oldState = d.waitExit(old)
		d.note("v1 (PID %d) has exited; the PID file names the process that serves now", old.PID())
		if pid := d.showPIDFile(); pid != 0 && pid != old.PID() && proc.PIDRunning(pid) {
			newPID = pid
			newStart = old.ExitedAt
			if l, ok := logLine(old.Out, `serving on .*\(pid `+strconv.Itoa(pid)+`\)$`); ok {
				newStart = l.At
			}
			if !d.waitClients(load.clients, "v2", step.Answers, 15*time.Second) {
				d.note("not every client got %d answers from v2 within 15 s", step.Answers)
			}
		}
	}

	d.note("stop the load: each client finishes the request it has in flight")
	answers := load.finish()

	var newState syscall.WaitStatus
	switch {
	case newPID != 0:
		d.note("stop v2 as 02-graceful was stopped; it was handed to the demo when v1 exited")
		if proc.PIDRunning(newPID) {
			d.kill(syscall.SIGTERM, newPID)
			newTermed = true
		}
		ws, err := proc.WaitOrphan(newPID, d.t.Timeout+10*time.Second)
		if err != nil {
			d.die("v2 (PID %d) %v after SIGTERM", newPID, err)
		}
		newState, newExit = ws, time.Now()
	case old.Running():
		d.note("stop v1, which still serves")
		d.kill(syscall.SIGTERM, old.PID())
		oldState = d.waitExit(old)
	}
	if _, err := old.WaitExit(5 * time.Second); err != nil {
		d.die("%v", err)
	}

	all := old.Out.All()
	fmt.Printf("\n  %s%s%s\n", d.c.Bold, d.w.T("The server log (%s; v1 and v2 write to the same one):", program), d.c.Reset)
	started, access := 0, 0
	for _, l := range all {
		switch {
		case strings.Contains(l.Text, "GET / started"):
			started++
		case strings.HasPrefix(l.Text, "[GIN]"):
			access++
		default:
			fmt.Printf("    %s%s%s\n", d.c.Dim, l.Text, d.c.Reset)
		}
	}
	fmt.Printf("    %s%s%s\n", d.c.Dim, d.w.T("(left out: %d x \"GET / started\" and %d [GIN] access lines)", started, access), d.c.Reset)

	// The verdict, measured from the clients' answers, the PID file and the log.
	got := map[string]string{
		"requests": requestsVerdict(answers),
		"v1":       versionVerdict(answers, "v1", "old", old.PID()),
		"v2":       versionVerdict(answers, "v2", "new", newPID),
		"clients":  clientsVerdict(answers),
		"old":      "did not exit",
		"new":      "never served",
	}
	if oldState != nil {
		got["old"] = proc.ExitText(oldState)
		if oldState.Exited() {
			got["old"] += " (" + oldLastWords(all, old.ExitedAt) + ")"
		}
	}
	if newPID != 0 {
		how := "exited before SIGTERM"
		if newTermed {
			how = "exited on SIGTERM"
		}
		got["new"] = fmt.Sprintf("%s (%s)", how, lastWords(all))
		if !newState.Exited() || newState.ExitStatus() != 0 {
			got["new"] = fmt.Sprintf("%s (%s)", how, waitText(newState))
		}
	}
	verdicts := judge(step.Expect, got)
	newOK := got["new"] == step.Expect[len(step.Expect)-1].Want

	rows := make([]report.TimelineRow, 0, len(answers)+2)
	for n, as := range answers {
		row := report.TimelineRow{Label: fmt.Sprintf("client%d", n+1), OK: true}
		v1, v2, bad := 0, 0, 0
		for _, a := range as {
			s := report.Span{From: a.Sent, To: a.Done, Fill: '=', End: 'o'}
			switch {
			case !a.OK():
				s.End, row.OK = 'X', false
				bad++
			case a.Version() == "v1":
				s.Fill = '1'
				v1++
			case a.Version() == "v2":
				s.Fill = '2'
				v2++
			}
			row.Spans = append(row.Spans, s)
		}
		row.Note = fmt.Sprintf("%d x v1, %d x v2, %d failed", v1, v2, bad)
		rows = append(rows, row)
	}
	oldOK := oldState != nil && oldState.Exited() && oldState.ExitCode() == 0
	oldRow := report.TimelineRow{Label: "old", OK: oldOK,
		Spans: []report.Span{{From: d.stepT0, To: old.ExitedAt, Fill: '-', End: end(oldOK)}},
		Note:  fmt.Sprintf("v1, PID %d: exit %d at %s s", old.PID(), exitCode(oldState), report.Seconds(old.ExitedAt.Sub(d.stepT0)))}
	newRow := report.TimelineRow{Label: "new", Note: "v2 never served"}
	if newPID != 0 {
		newRow = report.TimelineRow{Label: "new", OK: newOK,
			Spans: []report.Span{{From: newStart, To: newExit, Fill: '-', End: end(newOK)}},
			Note: fmt.Sprintf("v2, PID %d: serving at %s s, gone at %s s", newPID,
				report.Seconds(newStart.Sub(d.stepT0)), report.Seconds(newExit.Sub(d.stepT0)))}
	}
	d.report(program, verdicts, report.Timeline{
		Start: d.stepT0, Signal: signalled, SignalName: "SIGHUP",
		Rows: append(rows, oldRow, newRow), Legend: report.LegendUpgrade,
	})
}

// showPIDFile runs cat on the PID file, as the class would, and returns the PID.
func (d *demo) showPIDFile() int {
	d.show(quote("cat", filepath.Base(d.pidFile())))
	pid := proc.ReadPIDFile(d.pidFile())
	if pid == 0 {
		d.result(d.w.T("(no PID)"))
	} else {
		d.result(strconv.Itoa(pid))
	}
	return pid
}

// waitClients waits until every client has count 200s from version.
func (d *demo) waitClients(clients []*curlClient, version string, count int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if !slices.ContainsFunc(clients, func(c *curlClient) bool { return c.okFrom(version) < count }) {
			return true
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
	return false
}

func exitCode(state *os.ProcessState) int {
	if state == nil {
		return -1
	}
	return state.ExitCode()
}

func waitText(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

// oldLastWords is v1's last log line: the last one logged before it exited,
// leaving out what v2 logged meanwhile while it served.
func oldLastWords(all []proc.Line, exited time.Time) string {
	var mine []proc.Line
	for _, l := range all {
		if !l.At.After(exited) && !strings.Contains(l.Text, "GET / started") && !strings.Contains(l.Text, " serving on ") {
			mine = append(mine, l)
		}
	}
	return lastWords(mine)
}

func requestsVerdict(answers [][]*client.Curl) string {
	total, failed, first := 0, 0, ""
	for _, as := range answers {
		for _, a := range as {
			total++
			if !a.OK() {
				failed++
				if first == "" {
					first = a.Outcome()
				}
			}
		}
	}
	switch {
	case total == 0:
		return "no request was answered"
	case failed == 0:
		return "0 failed, all answered 200"
	}
	return fmt.Sprintf("%d of %d failed: %s", failed, total, first)
}

// versionVerdict says which processes answered for a version: v1 must be
// the PID the demo started, v2 the one the PID file named after the upgrade.
func versionVerdict(answers [][]*client.Curl, version, word string, pid int) string {
	var pids []string
	for _, as := range answers {
		for _, a := range as {
			if a.OK() && a.Version() == version && !slices.Contains(pids, a.PID()) {
				pids = append(pids, a.PID())
			}
		}
	}
	switch {
	case len(pids) == 0:
		return "no answer from " + version
	case pid == 0:
		return fmt.Sprintf("answers from %s, no %s PID", version, word)
	case len(pids) == 1 && pids[0] == strconv.Itoa(pid):
		return fmt.Sprintf("answers from %s, the %s PID", version, word)
	}
	return fmt.Sprintf("answers from %s, PIDs %s", version, strings.Join(pids, " "))
}

// clientsVerdict checks that each client's answers are v1s, then v2s.
func clientsVerdict(answers [][]*client.Curl) string {
	for n, as := range answers {
		var seen []string
		for _, a := range as {
			if a.OK() && (len(seen) == 0 || seen[len(seen)-1] != a.Version()) {
				seen = append(seen, a.Version())
			}
		}
		if !slices.Equal(seen, []string{"v1", "v2"}) {
			if len(seen) == 0 {
				return fmt.Sprintf("client%d saw: no answer", n+1)
			}
			return fmt.Sprintf("client%d saw: %s", n+1, strings.Join(seen, " "))
		}
	}
	return "each saw v1, then v2"
}
