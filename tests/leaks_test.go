package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/haproxy"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// leftovers lists the live processes that name one of the suite's
// addresses (proc.FreePort and proc.FreePorts remember them), HAProxy
// configuration files (haproxy.StartHAProxy remembers them) or the temporary
// folders the scripts get (where the demo and load.sh write theirs), or
// run a binary it built: every process the suite starts, and every process
// those start (a 04 successor, the server behind go run, the demo's
// servers and curls, HAProxy), is one of them.
func leftovers() map[int]string {
	return proc.Leftovers(binDir)
}

// killLeftovers ends them. TestMain arms it to run shortly before go
// test's -timeout would end the suite without running any cleanup.
func killLeftovers() {
	proc.KillAndReap(leftovers())
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
	return proc.ProcessesWithArgument(arg)
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
		if got := proc.NamesAddr(tc.arg, "127.0.0.1:4321"); got != tc.want {
			t.Errorf("NamesAddr(%q): got %v, want %v", tc.arg, got, tc.want)
		}
	}
}

// The leak checks see a process the suite started, also once its parent
// has died (the suite is the subreaper of its orphans): what another
// program uses the same port for is left out, by ancestry, not missed.
func TestLeakCheckSeesOrphans(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	// sh starts a second sh that names addr and waits, prints its PID and
	// exits: the second one is an orphan, handed to the suite.
	cmd := exec.Command("sh", "-c", `sh -c 'sleep 30; :' waiter "$1" >/dev/null 2>&1 & echo $!`, "sh", addr)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.KillAndReap(map[int]string{orphan: "waiter"}) })
	if _, found := processesWithArgument(addr)[orphan]; !found {
		t.Errorf("want the orphan %d, which names %s, among the suite's processes; got %v", orphan, addr, processesWithArgument(addr))
	}
}

// An HAProxy the suite started is a leftover until it has exited: its
// command line names neither an address nor the build folder, only its
// configuration file.
func TestLeftoversFindHAProxy(t *testing.T) {
	t.Parallel()
	requireHAProxy(t)
	dir := shortTempDir(t)
	cfg := haproxy.HAProxyConfig{Listen: freePort(t), Servers: []string{freePort(t)}, Retries: 3, Socket: dir + "/admin.sock"}
	start := starter(t)
	h, err := haproxy.StartHAProxy(start, dir, cfg, readyTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := leftovers()[h.PID()]; !ok {
		t.Errorf("the leftover check does not see HAProxy (pid %d) running", h.PID())
	}
	if err := h.Kill(exitTimeout); err != nil {
		t.Fatal(err)
	}
	if _, ok := leftovers()[h.PID()]; ok {
		t.Errorf("the leftover check still names HAProxy (pid %d) once it has exited", h.PID())
	}
}

// Sync waits until a process's output holds every line it printed before
// the call, and its marker lines never show among them.
func TestProcessSync(t *testing.T) {
	t.Parallel()
	done := filepath.Join(t.TempDir(), "printed")
	p := startProcess(t, exec.Command("sh", "-c", `i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo "line $i"; done; : > "$1"; exec sleep 30`, "sh", done))
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("sh exited early\noutput:\n%s", p.out)
		case <-time.After(10 * time.Millisecond): // polling for the file, the evidence
		}
	}
	for range 3 {
		if err := p.Sync(logTimeout); err != nil {
			t.Fatal(err)
		}
	}
	lines := p.out.All()
	if len(lines) != 2000 || lines[1999].Text != "line 2000" {
		t.Fatalf("want the 2000 lines printed before Sync, got %d", len(lines))
	}
	if strings.Contains(p.out.String(), "lab-sync") {
		t.Errorf("a Sync marker shows in the output")
	}
}
