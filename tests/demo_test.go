package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// demoRows are the verdict rows scripts/demo.sh must print: program,
// request or job, and what happened, which is what the lesson expects.
var demoRows = [][3]string{
	{"01-basic", "req1", "curl: (52) Empty reply from server"},
	{"01-basic", "req2", "curl: (52) Empty reply from server"},
	{"01-basic", "req3", "curl: (52) Empty reply from server"},
	{"01-basic", "late", "curl: (7) connection refused"},
	{"01-basic", "server", "killed by SIGINT"},
	{"02-graceful", "req1", "200 Welcome Gin Server"},
	{"02-graceful", "req2", "200 Welcome Gin Server"},
	{"02-graceful", "req3", "200 Welcome Gin Server"},
	{"02-graceful", "late", "curl: (7) connection refused"},
	{"02-graceful", "server", "exit 0 (Server exiting)"},
	{"03-workers", "req1", "200 Welcome Gin Server"},
	{"03-workers", "req2", "200 Welcome Gin Server"},
	{"03-workers", "job1", "job 1 done"},
	{"03-workers", "job2", "job 2 done"},
	{"03-workers", "job3", "job 3 done"},
	{"03-workers", "job4", "job 4 done"},
	{"03-workers", "late-job", "curl: (7) connection refused"},
	{"03-workers", "server", "exit 0 (Server exiting)"},
	{"04-zero-downtime", "requests", "0 failed, all answered 200"},
	{"04-zero-downtime", "v1", "answers from v1, the old PID"},
	{"04-zero-downtime", "v2", "answers from v2, the new PID"},
	{"04-zero-downtime", "clients", "each saw v1, then v2"},
	{"04-zero-downtime", "old", "exit 0 (Server exiting)"},
	{"04-zero-downtime", "new", "exited on SIGTERM (Server exiting)"},
}

// startDemo runs scripts/demo.sh unattended (no terminal on stdin) on a
// free port, with its temporary files in a folder of the test's own.
func startDemo(t *testing.T, args ...string) (demo *process, port, tmp string) {
	t.Helper()
	trackSources(t)
	_, port, _ = strings.Cut(freePort(t), ":")
	tmp = t.TempDir()
	cmd := exec.Command("bash", append([]string{"scripts/demo.sh"}, args...)...)
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "PORT="+port, "TMPDIR="+tmp, "NO_COLOR=1")
	// Registered first, so it runs after the demo's own group is killed:
	// then no demo is left to start another server.
	t.Cleanup(func() { killByArgument("127.0.0.1:" + port) })
	demo = startProcess(t, cmd)
	return demo, port, tmp
}

// The classroom demo, unattended as in CI: exit 0, every verdict row as the
// lesson says, and nothing left running.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the demo")
	}
	t.Parallel()
	demo, port, _ := startDemo(t, "--fast", "--no-pause")
	demo.assertExitedWith(t, demo.waitExitWithin(t, scriptTimeout), 0)

	// A row: "✔ 02-graceful req1     | what happened | what the lesson expects".
	var rows [][3]string
	for line := range strings.Lines(demo.out.String()) {
		columns := strings.Split(strings.TrimSpace(line), " | ")
		head := strings.Fields(columns[0])
		if len(columns) != 3 || len(head) != 3 || (head[0] != "✔" && head[0] != "✘") {
			continue
		}
		got, want := strings.TrimSpace(columns[1]), strings.TrimSpace(columns[2])
		if head[0] != "✔" || got != want {
			t.Errorf("a mismatch in the demo: %s", line)
		}
		rows = append(rows, [3]string{head[1], head[2], got})
	}
	if !slices.Equal(rows, demoRows) {
		t.Errorf("verdict rows:\n got %q\nwant %q\noutput:\n%s", rows, demoRows, demo.out)
	}
	if len(demo.out.lines("RESULT: PASS 24/24 outcomes matched the lesson")) != 1 {
		t.Errorf("want the PASS line\noutput:\n%s", demo.out)
	}
	if n := len(demo.out.lines("Timeline (")); n != 4 {
		t.Errorf("want 4 timelines, got %d", n)
	}
	assertNothingLeft(t, "127.0.0.1:"+port)
}

// Ctrl+C in the middle of the demo: it stops at once, ends every server it
// started, and removes its temporary files.
func TestDemoInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the demo")
	}
	t.Parallel()
	demo, port, tmp := startDemo(t, "--fast", "--no-pause")
	demo.waitLog(t, "== Step 2 of 4", 1)
	demo.waitLog(t, "GET / started", 4) // step 1's three and one of step 2's: a server is up
	// A terminal's Ctrl+C signals the whole foreground process group.
	if err := syscall.Kill(-demo.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	demo.assertExitedWith(t, demo.waitExit(t), 130)
	assertNothingLeft(t, "127.0.0.1:"+port)
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Errorf("the demo left its temporary files: %q", left)
	}
}

// assertNothingLeft fails the test if a process with arg is still running.
func assertNothingLeft(t *testing.T, arg string) {
	t.Helper()
	if left := processesWithArgument(arg); len(left) > 0 {
		t.Errorf("processes left running: %v", left)
	}
}

// killByArgument ends the processes assertNothingLeft would name. The demo
// starts its servers in process groups of their own (set -m), so killing
// the demo's group does not reach them.
func killByArgument(arg string) {
	killAndReap(processesWithArgument(arg))
}
