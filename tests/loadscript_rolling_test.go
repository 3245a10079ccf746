package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// scripts/load.sh rolling, as a class would run it: 05-load-balancer and
// 02-graceful (with HAProxy's retries and without) restarted one by one
// behind HAProxy under load from hey and from clients that never resend
// (client.NeverResend), side by side, with the script's own verdict. The results
// are read from its --json report.
func TestLoadScriptRolling(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the load script")
	}
	t.Parallel()
	requireHAProxy(t)
	trackSources(t)
	tmp := t.TempDir()
	proc.RememberArgument(tmp) // the script's HAProxy names its configuration in there
	report := filepath.Join(t.TempDir(), "rolling.json")
	// PORT and the three ports after it. Another process may take one
	// between our probe and the script's: then try others, a few times.
	var script *process
	var addrs []string
	for attempt := 1; ; attempt++ {
		run := freePorts(t, 4)
		addrs = run
		_, port, _ := strings.Cut(run[0], ":")
		cmd := exec.Command("bash", "scripts/load.sh", "rolling", "--fast", "-c", "32", "--json", report)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "PORT="+port, "TMPDIR="+tmp)
		// Registered first, so it runs after the script's own group is killed.
		t.Cleanup(func() {
			for _, addr := range run {
				killByArgument(addr)
			}
			killByArgument(tmp) // HAProxy: its config is in the script's folder
		})
		script = startProcess(t, cmd)
		state := script.waitExitWithin(t, scriptTimeout)
		busy := strings.Contains(script.out.String(), "is busy") || strings.Contains(script.out.String(), proc.ErrPortBusy.Error())
		if state.ExitCode() != 2 || !busy || attempt == 3 {
			script.assertExitedWith(t, state, 0)
			break
		}
	}

	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("the --json report: %v\noutput:\n%s", err, script.out)
	}
	var got scenario.RollingReport
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("the --json report: %v\n%s", err, data)
	}
	var names []string
	for _, r := range got.Results {
		names = append(names, r.Name())
		if len(r.Restarts) != 3 || r.Requests == 0 || r.NeverResend.Requests == 0 {
			t.Errorf("%s: want 3 restarts under load, got %d restarts, %d requests from hey, %d from the clients that never resend",
				r.Name(), len(r.Restarts), r.Requests, r.NeverResend.Requests)
		}
	}
	want := []string{"05-load-balancer, retries 3", "02-graceful, retries 3", "02-graceful, retries 0"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("want results for %q, got %q", want, names)
	}
	// The script's verdict is scenario.RollingMismatches, which
	// TestRollingRestart checks against the promises it states: no
	// mismatch, and the script says so.
	if len(got.Mismatches) != 0 || len(script.out.lines("These results match the lesson.")) != 1 {
		t.Errorf("want the script's own verdict, no mismatch (got %q)\noutput:\n%s", got.Mismatches, script.out)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
		t.Errorf("want TMPDIR empty after the script, got %v (%v)", left, err)
	}
	for _, addr := range addrs {
		assertNothingLeft(t, addr)
	}
	assertNothingLeft(t, tmp)
}
