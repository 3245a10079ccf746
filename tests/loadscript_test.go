package tests

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// scripts/load.sh, as a class would run it: stop, hey against each
// program, SIGTERM mid-run; upgrade, a restart against a hand-over, with
// hey and again with keep-alive clients that never resend; arrival,
// clients that never resend keep arriving at a stop and at a hand-over;
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
		{"stop", []string{"stop", "--fast", "-z", "4s"}, map[string]map[string]func(scenario.LoadResult) bool{
			"01-basic, hey, SIGTERM":    {"cut > 0": cutSome, "killed by SIGTERM": exitedWith("SIGTERM")},
			"02-graceful, hey, SIGTERM": {cutNoneInHandler: cutOnlyAfterLateSignal, "exit 0": exitedWith("exit 0"), "served > 0": servedSome},
			"03-workers, hey, SIGTERM":  {cutNoneInHandler: cutOnlyAfterLateSignal, "exit 0": exitedWith("exit 0"), "served > 0": servedSome},
		}},
		{"upgrade", []string{"upgrade", "--fast", "-z", "4s"}, map[string]map[string]func(scenario.LoadResult) bool{
			"02-graceful, hey, SIGTERM":     {"refused > 0": refusedSome, cutNoneInHandler: cutOnlyAfterLateSignal, "exit 0": exitedWith("exit 0")},
			"04-zero-downtime, hey, SIGHUP": handOver,
			"02-graceful, never resend, keep-alive, SIGTERM": {
				"exit 0": exitedWith("exit 0"), "served > 0": servedSome,
				"the new process answers": func(r scenario.LoadResult) bool { return r.AfterOldExit > 0 },
			},
			"04-zero-downtime, never resend, keep-alive, SIGHUP": handOver,
		}},
		{"arrival", []string{"arrival", "--fast", "-z", "3s"}, map[string]map[string]func(scenario.LoadResult) bool{
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
			// Registered first, so it runs after the script's own group is
			// killed: then no script is left to start another server.
			t.Cleanup(func() { killByArgument("127.0.0.1:" + port) })
			// A machine so busy that a restart outlasts the rest of -z is a
			// setup error the script names ("-z 4s is too short", exit 2):
			// then once more with twice the -z.
			args := tc.args
			var script *process
			for attempt := 1; ; attempt++ {
				cmd := exec.Command("bash", append(append([]string{"scripts/load.sh"}, args...), "--json", report)...)
				cmd.Dir = repoRoot()
				cmd.Env = append(os.Environ(), "PORT="+port, "TMPDIR="+tmp)
				script = startProcess(t, cmd)
				state := script.waitExitWithin(t, scriptTimeout)
				if attempt == 1 && state.ExitCode() == 2 && strings.Contains(script.out.String(), " is too short: ") {
					t.Logf("attempt 1, a setup error; again with twice the -z:\n%s", script.out)
					args = doubledDuration(t, args)
					continue
				}
				script.assertExitedWith(t, state, 0)
				break
			}

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

// doubledDuration is args with the value of -z doubled.
func doubledDuration(t *testing.T, args []string) []string {
	t.Helper()
	i := slices.Index(args, "-z")
	if i < 0 || i+1 == len(args) {
		t.Fatalf("no -z in %q", args)
	}
	z, err := time.ParseDuration(args[i+1])
	if err != nil {
		t.Fatal(err)
	}
	return slices.Concat(args[:i+1], []string{(2 * z).String()}, args[i+2:])
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

// cutNoneInHandler is what a graceful program shows under hey: it cuts
// none of the requests SIGTERM finds in the handler, so none at all when
// the signal finds them there, as it nearly always does. On a starved
// machine the signal may come late: answers went out first, on keep-alive
// connections, and the clients' next requests met Shutdown closing them
// (seen: 2 cut, 02-graceful's restart, load average 40). Then it cuts at
// most one request per such answer (scenario.LoadResult's
// AnsweredBeforeShutdown), and none that reached the handler: it answers
// every request it started.
const cutNoneInHandler = "cut == 0, or <= the answers sent between SIGTERM and Shutdown, with every started request answered"

func cutOnlyAfterLateSignal(r scenario.LoadResult) bool {
	return r.Cut == 0 || r.Cut <= r.AnsweredBeforeShutdown && r.Served == r.Started
}

func exitedWith(text string) func(scenario.LoadResult) bool {
	return func(r scenario.LoadResult) bool { return r.Exit == text }
}

// load.sh --help lists the subcommands, and each subcommand's --help its
// own flags; bad input (no subcommand, an unknown one, a flag another
// subcommand has, a bad value, a busy port) gets one line and exit status
// 2, and starts nothing. The case marked script runs scripts/load.sh,
// which passes the arguments, the output and the exit status through; the
// others run its driver, built once by TestMain, with the same arguments.
func TestLoadScriptBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		script bool
		args   []string
		port   string // "": a free one; "busy": one in use; else PORT as given
		want   string // the whole output; for a help, one of its lines
		exit   int
	}{
		{"help", true, []string{"--help"}, "", "  rolling   three instances behind HAProxy restarted one by one: 05 against 02 (needs haproxy)", 0},
		{"stop-help", false, []string{"stop", "-h"}, "", "Usage: load.sh stop [FLAGS] [PROGRAM...]", 0},
		{"rolling-help", false, []string{"rolling", "--help"}, "", "Usage: load.sh rolling [FLAGS]", 0},
		{"no-subcommand", false, nil, "", "load.sh: choose a subcommand: stop, upgrade, arrival, rolling (try --help)", 2},
		{"unknown-subcommand", false, []string{"--upgrade"}, "", "load.sh: unknown subcommand '--upgrade'; choose from: stop, upgrade, arrival, rolling (try --help)", 2},
		{"unknown-flag", false, []string{"stop", "--bogus"}, "", "load.sh stop: flag provided but not defined: -bogus (try --help)", 2},
		{"rolling-takes-no-z", false, []string{"rolling", "-z", "3s"}, "", "load.sh rolling: flag provided but not defined: -z (try --help)", 2},
		{"arrival-takes-no-program", false, []string{"arrival", "01-basic"}, "", "load.sh arrival: unknown argument '01-basic': arrival takes no PROGRAM (try --help)", 2},
		{"unknown-program", false, []string{"stop", "--fast", "04-zero-downtime"}, "", "load.sh stop: unknown program '04-zero-downtime' (choose from: 01-basic 02-graceful 03-workers)", 2},
		{"clients-not-a-number", false, []string{"stop", "-c", "0x10"}, "", "load.sh stop: -c must be a number from 1 to 1000, got '0x10'", 2},
		{"upgrade-z-too-short", false, []string{"upgrade", "--fast", "-z", "2s"}, "", "load.sh upgrade: -z must be at least 3s, got '2s'", 2},
		{"octal-port", false, []string{"stop"}, "08080", "load.sh stop: PORT must be a number from 1 to 65535, got '08080'", 2},
		{"busy-port", false, []string{"arrival"}, "busy", "load.sh arrival: port {port} on 127.0.0.1 is busy; stop what uses it or set PORT to a free one", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, port, _ := strings.Cut(freePort(t), ":")
			switch tc.port {
			case "":
			case "busy":
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				_, port, _ = strings.Cut(ln.Addr().String(), ":")
			default:
				port = tc.port
			}
			tmp := t.TempDir()
			trackSources(t)
			cmd := exec.Command(filepath.Join(binDir, "load"), tc.args...)
			if tc.script {
				cmd = exec.Command("bash", append([]string{"scripts/load.sh"}, tc.args...)...)
			}
			cmd.Dir = repoRoot()
			cmd.Env = append(os.Environ(), "PORT="+port, "TMPDIR="+tmp)
			p := startProcess(t, cmd)
			p.assertExitedWith(t, p.waitExitWithin(t, scriptTimeout), tc.exit)
			want := strings.ReplaceAll(tc.want, "{port}", port)
			got := strings.TrimSpace(p.out.String())
			if tc.exit == 0 && !slices.Contains(strings.Split(got, "\n"), want) || tc.exit != 0 && got != want {
				t.Errorf("want %q, got %q", want, got)
			}
			if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
				t.Errorf("want TMPDIR empty after the script, got %v (%v)", left, err)
			}
		})
	}
}
