package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/graceful-shutdown-lab/lab/internal/haproxy"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// demoReport is what scripts/demo.sh --json writes: each step's verdicts.
type demoReport struct {
	Steps []struct {
		Program  string           `json:"program"`
		Verdicts []lesson.Verdict `json:"verdicts"`
		Timeline []timelineBar    `json:"timeline"`
	} `json:"steps"`
}

// timelineBar is a timeline row as --json writes it.
type timelineBar struct {
	Label string `json:"label"`
	Bar   string `json:"bar"`
}

// startDemo runs scripts/demo.sh unattended (no terminal on stdin) on a
// free port, with its temporary files in a folder of the test's own and
// its report in tmp/report.json. With shell, the command runs through
// bash -c, "$@" being the demo's arguments.
func startDemo(t *testing.T, shell string, args ...string) (demo *process, port, tmp string) {
	t.Helper()
	return startDemoWith(t, nil, shell, args...)
}

// startDemoWith is startDemo with more environment variables (the last
// value of a variable counts).
func startDemoWith(t *testing.T, env []string, shell string, args ...string) (demo *process, port, tmp string) {
	t.Helper()
	trackSources(t)
	// PORT, and for step 5 the three ports after it (see proc.FreePorts).
	_, port, _ = strings.Cut(freePorts(t, 4)[0], ":")
	tmp = t.TempDir()
	proc.RememberArgument(tmp) // the demo's HAProxy names its configuration in there
	args = append(args, "--json", filepath.Join(tmp, "report.json"))
	cmd := exec.Command("bash", append([]string{"scripts/demo.sh"}, args...)...)
	if shell != "" {
		cmd = exec.Command("bash", append([]string{"-c", shell, "bash"}, args...)...)
	}
	cmd.Dir = repoRoot()
	cmd.Env = append(append(demoEnv(), "PORT="+port, "TMPDIR="+tmp, "NO_COLOR=1"), env...)
	// Registered first, so it runs after the demo's own group is killed:
	// then no demo is left to start another server.
	t.Cleanup(func() {
		for _, arg := range append(stepFiveAddrs(port), "127.0.0.1:"+port, tmp) {
			killByArgument(arg)
		}
	})
	demo = startProcess(t, cmd)
	return demo, port, tmp
}

// readReport reads the demo's --json report.
func readReport(t *testing.T, tmp string) demoReport {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tmp, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r demoReport
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// expectedSteps are the verdict rows of every step as internal/lesson's
// Steps state them, the demo's own source of what to expect.
func expectedSteps() map[string][]lesson.Verdict {
	want := map[string][]lesson.Verdict{}
	for _, s := range lesson.Steps {
		want[s.Program] = s.Expect
	}
	return want
}

// assertLesson checks a report's steps: exactly programs, in order, each
// with the lesson's rows in the lesson's order, each as the lesson says.
// A job's row wants "job ID done", ID as the server gave it.
func assertLesson(t *testing.T, r demoReport, programs ...string) {
	t.Helper()
	expected := expectedSteps()
	if len(r.Steps) != len(programs) {
		t.Fatalf("want the steps %v, got %d steps: %+v", programs, len(r.Steps), r.Steps)
	}
	for i, step := range r.Steps {
		want := expected[programs[i]]
		if step.Program != programs[i] || len(step.Verdicts) != len(want) {
			t.Fatalf("step %d: want %s with %d rows, got %s with %+v", i+1, programs[i], len(want), step.Program, step.Verdicts)
		}
		for j, v := range step.Verdicts {
			w := want[j]
			if v.Label != w.Label || !v.Matched() || (v.Want != w.Want && !(strings.HasPrefix(v.Label, "job") && strings.HasSuffix(v.Want, " "+w.Want))) {
				t.Errorf("%s %s: got %q, want %q (lesson: %q)", step.Program, v.Label, v.Got, v.Want, w.Want)
			}
		}
	}
}

// The classroom demo, unattended as in CI, one step per subtest, all at
// once in this test's turn (inTurn: step 8 waits for River's rescuer),
// each on its own ports (`--step N`; step 1 started in the
// background by a shell): exit 0, every verdict row as the lesson says,
// one timeline drawn as the lesson tells it, the PASS line, and nothing
// left running. The demo builds its step's programs
// first; the test only reads the demo's exit and report, so no wait of
// its own counts the build.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the demo")
	}
	t.Parallel()
	steps := inTurn(t)
	defer steps.Wait()
	for _, step := range lesson.Steps {
		steps.Run(step.Program, func(t *testing.T) {
			requireCommand(t, step.Needs)
			shell := ""
			if step.Program == "01-basic" {
				// Started in the background by a shell (`demo.sh &`), the
				// demo inherits SIGINT ignored; it must still start 01-basic
				// with SIGINT at its default action, or 01-basic would
				// shrug off the demo's kill -INT.
				shell = `trap '' INT; scripts/demo.sh "$@" & wait $!`
			}
			demo, port, tmp := startDemo(t, shell, "--fast", "--no-pause", "--step", strconv.Itoa(step.Number))
			demo.assertExitedWith(t, demo.waitExitWithin(t, scriptTimeout), 0)
			report := readReport(t, tmp)
			assertLesson(t, report, step.Program)
			if check, ok := timelineChecks[step.Program]; ok {
				check(t, report.Steps[0].Timeline)
			}
			if step.Program == "06-streaming" {
				if live := "open http://127.0.0.1:" + port + "/live in a browser"; len(demo.out.lines(live)) != 1 {
					t.Errorf("want step 6 to print %q\noutput:\n%s", live, demo.out)
				}
			}
			pass := fmt.Sprintf("RESULT: PASS %d/%d outcomes matched the lesson", len(step.Expect), len(step.Expect))
			if len(demo.out.lines(pass)) != 1 {
				t.Errorf("want %q\noutput:\n%s", pass, demo.out)
			}
			if n := len(demo.out.lines("Timeline (")); n != 1 {
				t.Errorf("want 1 timeline, got %d\noutput:\n%s", n, demo.out)
			}
			assertDemoLeftNothing(t, port, tmp)
		})
	}
}

// timelineChecks are what a step's timeline must draw, beyond its rows.
var timelineChecks = map[string]func(*testing.T, []timelineBar){
	"03-workers":      assertJobsQueued,
	"06-streaming":    assertStreamsEndAtSignal,
	"07-durable-jobs": assertJobsRescued,
	"08-river":        assertRiverRescue,
	"09-grpc":         assertGRPCTimeline,
}

// assertJobsQueued checks step 3's timeline: 2 workers, 4 jobs posted one
// after the other. A job posted while both workers run earlier jobs waits
// in the queue (drawn '.') before it runs ('='). On an idle machine jobs 3
// and 4 are; on a busy one the posts may come so far apart that a worker
// is free again, and then the timeline rightly draws no wait: what is
// checked is read from the timeline itself, never assumed.
func assertJobsQueued(t *testing.T, rows []timelineBar) {
	t.Helper()
	type span struct{ posted, ended, queued int }
	var jobs []span
	for _, row := range rows {
		if strings.HasPrefix(row.Label, "job") {
			bar := strings.TrimRight(row.Bar, " ")
			jobs = append(jobs, span{
				posted: strings.IndexAny(bar, ".="),
				ended:  strings.LastIndexAny(bar, "oX"),
				queued: strings.Count(bar, "."),
			})
		}
	}
	if len(jobs) != 4 {
		t.Fatalf("03-workers timeline: want 4 jobs, got %d: %+v", len(jobs), rows)
	}
	waited := 0
	for k, job := range jobs {
		busy := 0
		for _, earlier := range jobs[:k] {
			if earlier.posted <= job.posted && job.posted < earlier.ended {
				busy++
			}
		}
		if busy >= 2 {
			waited++
			if job.queued == 0 {
				t.Errorf("03-workers timeline: job%d was posted while both workers were busy, want it drawn queued ('.'): %+v", k+1, rows)
			}
		}
	}
	t.Logf("03-workers timeline: %d of 4 jobs posted while both workers were busy", waited)
}

// assertJobsRescued checks step 7's timeline, across the two processes:
// jobs 1 and 2 run, are cut by the kill ('X'), held by the dead process's
// lease ('~'), and run again; jobs 3 and 4 wait queued across the kill.
func assertJobsRescued(t *testing.T, rows []timelineBar) {
	t.Helper()
	for _, row := range rows {
		if !strings.HasPrefix(row.Label, "job") {
			continue
		}
		rescued := row.Label == "job1" || row.Label == "job2"
		if strings.Contains(row.Bar, "X") != rescued || strings.Contains(row.Bar, "~") != rescued || !strings.HasSuffix(strings.TrimRight(row.Bar, " "), "o") {
			t.Errorf("07-durable-jobs timeline: %s %q: want cut and held by the lease for job1 and job2 only, and done", row.Label, row.Bar)
		}
	}
}

// assertRiverRescue checks step 8's timeline: job 1 runs, is cut by the
// kill ('X'), stays "running" in PostgreSQL until River's rescuer takes it
// back ('~'), and is done; the other jobs are never cut.
func assertRiverRescue(t *testing.T, rows []timelineBar) {
	t.Helper()
	for _, row := range rows {
		if !strings.HasPrefix(row.Label, "job") {
			continue
		}
		rescued := row.Label == "job1"
		if strings.Contains(row.Bar, "X") != rescued || strings.Contains(row.Bar, "~") != rescued || !strings.HasSuffix(strings.TrimRight(row.Bar, " "), "o") {
			t.Errorf("08-river timeline: %s %q: want cut and held until the rescue for job1 only, and done", row.Label, row.Bar)
		}
	}
}

// requireCommand skips the test when a step's command is missing (it
// fails it under CI=true, where .ci/run installs it); "" needs nothing.
func requireCommand(t *testing.T, command string) {
	t.Helper()
	switch command {
	case "haproxy":
		requireHAProxy(t)
		return
	case "postgresql": // its binaries are not on PATH (see pgcluster)
		requirePostgresInstalled(t)
		return
	}
	if _, err := exec.LookPath(command); command != "" && err != nil {
		missing(t, command+" is not installed")
	}
}

// assertDemoLeftNothing fails the test if a process the demo started is
// still running, a server on PORT or on step 5's instance ports, or the
// HAProxy whose configuration is in the demo's folder, or if the demo
// left a file behind.
func assertDemoLeftNothing(t *testing.T, port, tmp string) {
	t.Helper()
	assertNothingLeft(t, "127.0.0.1:"+port)
	for _, addr := range stepFiveAddrs(port) {
		assertNothingLeft(t, addr)
	}
	assertNothingLeft(t, tmp)
	assertNoFiles(t, tmp, "report.json")
}

// assertStreamsEndAtSignal checks step 6's timeline: the stream and the
// socket end after the signal and before the request in flight is answered
// (drawn in an earlier column), not when the budget runs out.
func assertStreamsEndAtSignal(t *testing.T, rows []timelineBar) {
	t.Helper()
	ends := map[string]int{}
	signal := -1
	for _, row := range rows {
		ends[row.Label] = strings.LastIndexAny(row.Bar, "oX")
		if i := strings.IndexByte(row.Bar, '|'); i >= 0 {
			signal = i
		}
	}
	for _, label := range []string{"stream", "socket"} {
		if ends[label] < signal || ends[label] >= ends["request"] {
			t.Errorf("06-streaming timeline: the %s ends in column %d, want from the signal's (%d) to before the request's answer (%d): %+v",
				label, ends[label], signal, ends["request"], rows)
		}
	}
}

// assertGRPCTimeline checks step 9's timeline, in the order the lesson
// tells it: the watch turns NOT_SERVING ('~') at the signal; the stream
// ends after the drain, not before, and before the call is answered; the
// server exits with the answer, not before it. What a grpcurl saw is drawn
// when it printed or exited, which on a busy machine comes late: the watch
// and the call may lag by a tenth of the timeline (seen: the call's grpcurl
// exited 2 columns of 50 after the server, in a -race soak with both cores
// busy). A server that stopped at the signal would exit some 30 columns
// before the answer.
func assertGRPCTimeline(t *testing.T, rows []timelineBar) {
	t.Helper()
	bars := map[string]string{}
	lag := 1
	for _, row := range rows {
		bars[row.Label] = row.Bar
		lag = max(lag, len(row.Bar)/10)
	}
	signal := strings.IndexByte(bars["drain"], '|')
	notServing := strings.IndexByte(bars["watch"], '~')
	drainEnd := strings.LastIndexByte(bars["drain"], 'd')
	streamEnd := strings.LastIndexByte(bars["stream"], 'o')
	callEnd := strings.LastIndexByte(bars["call"], 'o')
	serverEnd := strings.LastIndexByte(bars["server"], 'o')
	if signal < 0 || notServing < signal || notServing > signal+lag || streamEnd < drainEnd || streamEnd >= callEnd || serverEnd < callEnd-lag {
		t.Errorf("09-grpc timeline: want NOT_SERVING at the signal (column %d, %d later at most), the stream's end after the drain's (%d) and before the call's answer (%d), the exit not before the answer (%d later at most); got NOT_SERVING %d, the stream's end %d, the exit %d: %+v",
			signal, lag, drainEnd, callEnd, lag, notServing, streamEnd, serverEnd, rows)
	}
}

// Ctrl+C in the middle of the demo: it stops at once, ends every process
// it started (the server; in step 6 also curl -N, wsclient and the curl of
// the request in flight; in step 9 the grpcurls), and removes its temporary
// files.
func TestDemoInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the demo")
	}
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		// The demo's own lines that show the moment: after the last, the
		// processes are up.
		evidence []string
	}{
		// Without haproxy, as on a fresh machine: the whole demo leaves
		// step 5 out, says so, and runs the others.
		{"step-2-server-up", nil, []string{"step 5 left out: " + haproxy.HAProxyMissing, "== Step 2: ", "# listening, PID", "# listening, PID"}},
		{"step-6-stream-and-socket-open", []string{"--step", "6"}, []string{"== Step 6: ", "the socket is open. Now a slow request"}},
		{"step-9-watch-and-stream-open", []string{"--step", "9"}, []string{"== Step 9: ", "the stream is open. Now a slow call"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := []string{"PATH=" + pathWithout(t, "haproxy")}
			demo, port, tmp := startDemoWith(t, env, "", append([]string{"--fast", "--no-pause"}, tc.args...)...)
			// The demo first builds its programs, then shows `cd` into
			// their folder: the build, slow on a busy machine when the
			// sources changed, counts against no wait for a step's line.
			builds, err := proc.CacheDir("demo")
			if err != nil {
				t.Fatal(err)
			}
			if err := demo.WaitLog("$ cd "+builds, 1, scriptTimeout); err != nil {
				t.Fatalf("the demo's build: %v\noutput:\n%s", err, demo.out)
			}
			seen := map[string]int{}
			for _, e := range tc.evidence {
				seen[e]++
				demo.waitLog(t, e, seen[e])
			}
			// A terminal's Ctrl+C signals the whole foreground process group.
			if err := syscall.Kill(-demo.cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			demo.assertExitedWith(t, demo.waitExit(t), 130)
			assertNothingLeft(t, "127.0.0.1:"+port)
			assertNoFiles(t, tmp)
		})
	}
}

// Bad input gets one clear line and exit status 2, and starts nothing.
// The case marked script runs scripts/demo.sh, which passes the
// arguments, the output and the exit status through; the others run its
// driver, built once by TestMain, with the same arguments.
func TestDemoBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		script bool
		args   []string
		port   string
		want   string
	}{
		{"unknown-option", true, []string{"--slow"}, "", "demo.sh: flag provided but not defined: -slow (try --help)"},
		{"step-out-of-range", false, []string{"--step", "10"}, "", "demo.sh: --step must be 1, 2, 3, 4, 5, 6, 7, 8 or 9 (a step is its lesson's number), got 10"},
		{"step-zero", false, []string{"--step", "0"}, "", "demo.sh: --step must be 1, 2, 3, 4, 5, 6, 7, 8 or 9 (a step is its lesson's number), got 0"},
		{"octal-port", false, nil, "08080", "demo.sh: PORT must be a number from 1 to 65535, got '08080'"},
		{"step-5-without-haproxy", false, []string{"--step", "5"}, "free", "demo.sh: " + haproxy.HAProxyMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			cmd := exec.Command(filepath.Join(binDir, "demo"), tc.args...)
			if tc.script {
				cmd = exec.Command("bash", append([]string{"scripts/demo.sh"}, tc.args...)...)
			}
			cmd.Dir = repoRoot()
			tmp := t.TempDir()
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "PATH="+pathWithout(t, "haproxy"))
			switch tc.port {
			case "":
			case "free":
				_, port, _ := strings.Cut(freePort(t), ":")
				cmd.Env = append(cmd.Env, "PORT="+port)
			default:
				cmd.Env = append(cmd.Env, "PORT="+tc.port)
			}
			p := startProcess(t, cmd)
			p.assertExitedWith(t, p.waitExitWithin(t, scriptTimeout), 2)
			if got := strings.TrimSpace(p.out.String()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			assertNoFiles(t, tmp)
		})
	}
}

// A busy port is refused before anything starts.
func TestDemoBusyPort(t *testing.T) {
	t.Parallel()
	s := startServer(t, "02-graceful")
	_, port, _ := strings.Cut(s.addr, ":")
	// The driver, built once by TestMain: demo.sh passes its output and
	// exit status through (TestDemoBadInput/unknown-option).
	cmd := exec.Command(filepath.Join(binDir, "demo"), "--fast", "--no-pause")
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "PORT="+port, "TMPDIR="+t.TempDir())
	p := startProcess(t, cmd)
	p.assertExitedWith(t, p.waitExitWithin(t, scriptTimeout), 2)
	want := "demo.sh: port " + port + " on 127.0.0.1 is busy; stop what uses it or set PORT to a free one"
	if got := strings.TrimSpace(p.out.String()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// stepFiveAddrs are the instances' addresses in step 5: the three ports
// after PORT.
func stepFiveAddrs(port string) []string {
	n, _ := strconv.Atoi(port)
	return []string{fmt.Sprintf("127.0.0.1:%d", n+1), fmt.Sprintf("127.0.0.1:%d", n+2), fmt.Sprintf("127.0.0.1:%d", n+3)}
}

// assertNothingLeft fails the test if a process with arg is still running.
func assertNothingLeft(t *testing.T, arg string) {
	t.Helper()
	if left := processesWithArgument(arg); len(left) > 0 {
		t.Errorf("processes left running: %v", left)
	}
}

// assertNoFiles fails the test if dir holds anything but keep.
func assertNoFiles(t *testing.T, dir string, keep ...string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range left {
		if !slices.Contains(keep, filepath.Base(f)) {
			t.Errorf("the demo left a temporary file: %s", f)
		}
	}
}

// killByArgument ends the processes assertNothingLeft would name. The demo
// starts its servers in process groups of their own, so killing the demo's
// group does not reach them.
func killByArgument(arg string) {
	proc.KillAndReap(processesWithArgument(arg))
}

// pathWithout is $PATH without the folders that hold command, as on a
// machine where it is not installed.
func pathWithout(t *testing.T, command string) string {
	t.Helper()
	var dirs []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, command)); err != nil {
			dirs = append(dirs, dir)
		}
	}
	return strings.Join(dirs, string(filepath.ListSeparator))
}
