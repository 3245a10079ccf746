package tests

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// loadTable reads scripts/load.sh's side-by-side table: row label, then one
// column per program, in the order of its header row.
func loadTable(out string) map[string]map[string]string {
	var programs []string
	table := make(map[string]map[string]string)
	for line := range strings.Lines(out) {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case programs == nil && !slices.ContainsFunc(fields, func(f string) bool { return !slices.Contains(examples, f) }):
			programs = fields // the header row: program names only
		case programs != nil && len(fields) >= len(programs)+1:
			label := strings.Join(fields[:len(fields)-len(programs)], " ")
			row := make(map[string]string)
			for i, program := range programs {
				row[program] = fields[len(fields)-len(programs)+i]
			}
			table[label] = row
		}
	}
	return table
}

// scripts/load.sh, as a class would run it: hey against each program,
// SIGTERM mid-run (or, with --upgrade, a restart against a hand-over), the
// table side by side, and its own verdict in the exit status.
func TestLoadScript(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the load script")
	}
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want map[string]map[string]func(int) bool // row, program: what the count must satisfy
	}{
		// -z 4s rather than --fast's 2s: room for a slow restart on a busy machine.
		{"restart", []string{"--fast", "-z", "4s"}, map[string]map[string]func(int) bool{
			"cut": {"01-basic": positive, "02-graceful": zero, "03-workers": zero},
		}},
		{"upgrade", []string{"--upgrade", "--fast", "-z", "4s"}, map[string]map[string]func(int) bool{
			"refused": {"02-graceful": positive, "04-zero-downtime": zero},
			"cut":     {"02-graceful": zero, "04-zero-downtime": zero},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			_, port, _ := strings.Cut(freePort(t), ":")
			cmd := exec.Command("bash", append([]string{"scripts/load.sh"}, tc.args...)...)
			cmd.Dir = repoRoot()
			cmd.Env = append(os.Environ(), "PORT="+port, "TMPDIR="+t.TempDir())
			// Registered first, so it runs after the script's own group is
			// killed: then no script is left to start another server.
			t.Cleanup(func() { killByArgument("127.0.0.1:" + port) })
			script := startProcess(t, cmd)
			script.assertExitedWith(t, script.waitExitWithin(t, scriptTimeout), 0)

			table := loadTable(script.out.String())
			for row, programs := range tc.want {
				for program, ok := range programs {
					n, err := strconv.Atoi(table[row][program])
					if err != nil || !ok(n) {
						t.Errorf("%s of %s: got %q\noutput:\n%s", row, program, table[row][program], script.out)
					}
				}
			}
			if len(script.out.lines("These results match the lesson.")) != 1 {
				t.Errorf("want the script's own verdict\noutput:\n%s", script.out)
			}
			assertNothingLeft(t, "127.0.0.1:"+port)
		})
	}
}

func positive(n int) bool { return n > 0 }
func zero(n int) bool     { return n == 0 }
