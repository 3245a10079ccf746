package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// scripts/load.sh, as a class would run it: hey against each program,
// SIGTERM mid-run (or, with --upgrade, a restart against a hand-over, with
// hey and again with keep-alive clients that never resend; with --arrival,
// clients that never resend keep arriving at a stop and at a hand-over),
// the tables side by side, and its own verdict in the exit status. The
// results are read from its --json report, not from the table's text,
// each under its program, its clients and its signal. What a stop cuts
// under clients that never resend is logged: measured, never asserted.
func TestLoadScript(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the load script")
	}
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want map[string]map[string]func(scenario.LoadResult) bool // program, clients, signal; what: the check
	}{
		// -z 4s rather than --fast's 2s: room for a slow restart on a busy machine.
		{"restart", []string{"--fast", "-z", "4s"}, map[string]map[string]func(scenario.LoadResult) bool{
			"01-basic, hey, SIGTERM":    {"cut > 0": cutSome, "killed by SIGTERM": exitedWith("SIGTERM")},
			"02-graceful, hey, SIGTERM": {"cut == 0": cutNone, "exit 0": exitedWith("exit 0"), "served > 0": servedSome},
			"03-workers, hey, SIGTERM":  {"cut == 0": cutNone, "exit 0": exitedWith("exit 0"), "served > 0": servedSome},
		}},
		{"upgrade", []string{"--upgrade", "--fast", "-z", "4s"}, map[string]map[string]func(scenario.LoadResult) bool{
			"02-graceful, hey, SIGTERM":     {"refused > 0": refusedSome, "cut == 0": cutNone, "exit 0": exitedWith("exit 0")},
			"04-zero-downtime, hey, SIGHUP": handOver,
			"02-graceful, never resend, keep-alive, SIGTERM": {
				"exit 0": exitedWith("exit 0"), "served > 0": servedSome,
				"the new process answers": func(r scenario.LoadResult) bool { return r.AfterOldExit > 0 },
			},
			"04-zero-downtime, never resend, keep-alive, SIGHUP": handOver,
		}},
		{"arrival", []string{"--arrival", "--fast", "-z", "3s"}, map[string]map[string]func(scenario.LoadResult) bool{
			"02-graceful, never resend, fresh, SIGTERM":      stopUnderArrival,
			"03-workers, never resend, fresh, SIGTERM":       stopUnderArrival,
			"04-zero-downtime, never resend, fresh, SIGTERM": stopUnderArrival,
			"04-zero-downtime, never resend, fresh, SIGHUP":  handOver,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			_, port, _ := strings.Cut(freePort(t), ":")
			tmp := t.TempDir()
			report := filepath.Join(t.TempDir(), "load.json")
			cmd := exec.Command("bash", append([]string{"scripts/load.sh", "--json", report}, tc.args...)...)
			cmd.Dir = repoRoot()
			cmd.Env = append(os.Environ(), "PORT="+port, "TMPDIR="+tmp)
			// Registered first, so it runs after the script's own group is
			// killed: then no script is left to start another server.
			t.Cleanup(func() { killByArgument("127.0.0.1:" + port) })
			script := startProcess(t, cmd)
			script.assertExitedWith(t, script.waitExitWithin(t, scriptTimeout), 0)

			data, err := os.ReadFile(report)
			if err != nil {
				t.Fatalf("the --json report: %v\noutput:\n%s", err, script.out)
			}
			var got scenario.LoadReport
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("the --json report: %v\n%s", err, data)
			}
			results := make(map[string]scenario.LoadResult)
			for _, r := range got.Results {
				key := r.Program + ", " + r.Clients + ", " + r.Signal
				results[key] = r
				if r.Clients != "hey" {
					t.Logf("%s: served %d, refused %d, cut %d %v, exit after %s", key, r.Served, r.Refused, r.Cut, r.CutBy, r.ExitAfter.Round(time.Millisecond))
				}
			}
			if len(results) != len(tc.want) {
				t.Errorf("want results for %d programs, got %d:\n%s", len(tc.want), len(results), data)
			}
			for program, checks := range tc.want {
				r, ok := results[program]
				for what, check := range checks {
					if !ok || !check(r) {
						t.Errorf("%s: want %s, got %+v", program, what, r)
					}
				}
			}
			if len(got.Mismatches) != 0 || len(script.out.lines("These results match the lesson.")) != 1 {
				t.Errorf("want the script's own verdict, no mismatch (got %q)\noutput:\n%s", got.Mismatches, script.out)
			}
			// The driver removed what it built and ran from: nothing left in TMPDIR.
			if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
				t.Errorf("want TMPDIR empty after the script, got %v (%v)", left, err)
			}
			assertNothingLeft(t, "127.0.0.1:"+port)
		})
	}
}

// handOver is what 04's SIGHUP must show, whatever the clients: nothing
// refused or cut, the old process exits 0, and v2 serves on alone.
var handOver = map[string]func(scenario.LoadResult) bool{
	"refused == 0": func(r scenario.LoadResult) bool { return r.Refused == 0 },
	"cut == 0":     cutNone,
	"exit 0":       exitedWith("exit 0"),
	"v2 serves, named by the PID file": func(r scenario.LoadResult) bool {
		return r.NewVersion == "v2" && r.NewPID > 0 && r.PIDFilePID == r.NewPID
	},
	"v2 answers once v1 is gone": func(r scenario.LoadResult) bool { return r.AfterOldExit > 0 },
}

// stopUnderArrival is what a stop shows while clients keep arriving: the
// ones that come once the listener is closed are refused, and the process
// exits 0 having answered some. What it cuts is logged, not checked.
var stopUnderArrival = map[string]func(scenario.LoadResult) bool{
	"refused > 0": refusedSome, "served > 0": servedSome, "exit 0": exitedWith("exit 0"),
}

func cutSome(r scenario.LoadResult) bool     { return r.Cut > 0 }
func cutNone(r scenario.LoadResult) bool     { return r.Cut == 0 }
func refusedSome(r scenario.LoadResult) bool { return r.Refused > 0 }
func servedSome(r scenario.LoadResult) bool  { return r.Served > 0 }

func exitedWith(text string) func(scenario.LoadResult) bool {
	return func(r scenario.LoadResult) bool { return r.Exit == text }
}
