package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scripts/grade.sh grades an exercise, a pitfall program given to students
// as "find the bug": FAIL with the reason for the starting copy in
// exercises/, PASS for the solution. Each row runs both through the real
// grader, which builds the copy, starts it and signals it.
func TestGradeExercises(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		exercise string
		solution string // the package that solves it
		reason   string // what the grader says about the starting copy
	}{
		{"01-exit-on-serve-return", "exercises/01-exit-on-serve-return/solution", "the process ended before Shutdown had answered it"},
		{"02-log-fatal", "exercises/02-log-fatal/solution", "the deferred cleanup did not run"},
		{"03-request-context", "exercises/03-request-context/solution", "the signal never reached c.Request.Context()"},
		{"04-streaming-no-hook", "06-streaming", "nothing told it that the server is shutting down"},
	} {
		t.Run(tc.exercise+"/starting-copy", func(t *testing.T) {
			t.Parallel()
			// Through grade.sh once, which passes the arguments, the
			// output and the exit status through; the others run its
			// driver, built once by TestMain.
			out, code := runGrade(t, tc.exercise == "01-exit-on-serve-return", tc.exercise)
			if code != 1 || !strings.HasPrefix(out, "FAIL "+tc.exercise+": ") || !strings.Contains(out, tc.reason) {
				t.Errorf("exercises/%s/main.go: got exit %d and %q, want exit 1 and FAIL saying %q (if you fixed your copy, `git checkout exercises/` restores the starting one)", tc.exercise, code, out, tc.reason)
			}
		})
		t.Run(tc.exercise+"/solution", func(t *testing.T) {
			t.Parallel()
			out, code := runGrade(t, false, tc.exercise, tc.solution)
			if want := "PASS " + tc.exercise; code != 0 || out != want {
				t.Errorf("%s: got exit %d and %q, want exit 0 and %q", tc.solution, code, out, want)
			}
		})
	}
}

// runGrade runs scripts/grade.sh (script) or the driver it runs with args
// and returns what it printed and its exit status.
func runGrade(t *testing.T, script bool, args ...string) (string, int) {
	t.Helper()
	trackSources(t)
	cmd := exec.Command(filepath.Join(binDir, "grade"), args...)
	if script {
		cmd = exec.Command("bash", append([]string{"scripts/grade.sh"}, args...)...)
	}
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	p := startProcess(t, cmd)
	state := p.waitExitWithin(t, scriptTimeout)
	return strings.TrimSpace(p.out.String()), state.ExitCode()
}
