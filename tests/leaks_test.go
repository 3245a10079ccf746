package tests

import (
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/lab"
)

// leftovers lists the live processes that name one of the suite's
// addresses (lab.FreePort remembers them), or run a binary it built: every
// process the suite starts, and every process those start (a 04 successor,
// the server behind go run, the demo's servers and curls), is one of them.
func leftovers() map[int]string {
	return lab.Leftovers(binDir)
}

// killLeftovers ends them. TestMain arms it to run shortly before go
// test's -timeout would end the suite without running any cleanup.
func killLeftovers() {
	lab.KillAndReap(leftovers())
}

// killBeforeTimeout arms killLeftovers to run a little before go test's
// -timeout panics, when no t.Cleanup runs.
func killBeforeTimeout(timeout time.Duration) {
	const margin = 5 * time.Second
	if timeout > 2*margin {
		time.AfterFunc(timeout-margin, killLeftovers)
	}
}

// processesWithArgument lists the live processes with arg in one of their
// command-line arguments.
func processesWithArgument(arg string) map[int]string {
	return lab.ProcessesWithArgument(arg)
}

// The leak checks must not mistake another test's port for their own.
func TestNamesAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arg  string
		want bool
	}{
		{"127.0.0.1:4321", true},
		{"http://127.0.0.1:4321/", true},
		{"127.0.0.1:43210", false},
		{"http://127.0.0.1:43210/ http://127.0.0.1:4321/", true},
		{"127.0.0.1:432", false},
	} {
		if got := lab.NamesAddr(tc.arg, "127.0.0.1:4321"); got != tc.want {
			t.Errorf("NamesAddr(%q): got %v, want %v", tc.arg, got, tc.want)
		}
	}
}
