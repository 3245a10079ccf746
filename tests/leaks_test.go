package tests

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// usedAddrs are the loopback addresses freePort handed out. Every process
// the suite starts, and every process those start (a 04 successor, the
// server behind go run, the demo's servers and curls), names one on its
// command line: that is how a leftover is found, whoever its parent is.
var usedAddrs = struct {
	sync.Mutex
	list []string
}{}

func rememberAddr(addr string) {
	usedAddrs.Lock()
	defer usedAddrs.Unlock()
	usedAddrs.list = append(usedAddrs.list, addr)
}

// leftovers lists the live processes that name one of the suite's
// addresses, or run a binary it built.
func leftovers() map[int]string {
	usedAddrs.Lock()
	addrs := slices.Clone(usedAddrs.list)
	usedAddrs.Unlock()
	found := make(map[int]string)
	for _, addr := range addrs {
		for pid, cmd := range processesWithArgument(addr) {
			found[pid] = cmd
		}
	}
	for pid, exe := range runningExamples() {
		found[pid] = exe
	}
	return found
}

// killLeftovers ends them. TestMain arms it to run shortly before go
// test's -timeout would end the suite without running any cleanup.
func killLeftovers() {
	killAndReap(leftovers())
}

// killAndReap kills each process, and reaps those that are the suite's
// children, handed to it when their parent died.
func killAndReap(processes map[int]string) {
	for pid := range processes {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_, _ = syscall.Wait4(pid, nil, 0, nil) // ECHILD when not ours to reap
	}
}

// reapOrphans waits for the orphans handed to the suite that have exited
// already and that no test waited for (a successor the demo stopped, say),
// so that none lingers as a zombie. Only once every test is done: it could
// take a child another test is waiting for.
func reapOrphans() {
	for {
		pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid == 0 {
			return // none left, or only running ones: leftovers names those
		}
	}
}

// killBeforeTimeout arms killLeftovers to run a little before go test's
// -timeout panics, when no t.Cleanup runs.
func killBeforeTimeout(timeout time.Duration) {
	const margin = 5 * time.Second
	if timeout > 2*margin {
		time.AfterFunc(timeout-margin, killLeftovers)
	}
}

// runningExamples lists the processes running a binary this suite built.
func runningExamples() map[int]string {
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	found := make(map[int]string)
	for _, exe := range exes {
		target, err := os.Readlink(exe)
		if err != nil || !strings.HasPrefix(target, binDir+string(filepath.Separator)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(exe))); err == nil {
			found[pid] = target
		}
	}
	return found
}

// processesWithArgument lists the live processes with arg in one of their
// command-line arguments: the demo's servers (-addr 127.0.0.1:PORT) and
// curls (http://127.0.0.1:PORT/).
func processesWithArgument(arg string) map[int]string {
	found := make(map[int]string)
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil || len(data) == 0 {
			continue // gone, or a zombie
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if slices.ContainsFunc(args, func(a string) bool { return namesAddr(a, arg) }) {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(file))); err == nil {
				found[pid] = strings.Join(args, " ")
			}
		}
	}
	return found
}

// namesAddr reports whether a command-line argument names addr, and not
// a longer port that starts with the same digits (127.0.0.1:4321 is not
// named by 127.0.0.1:43210).
func namesAddr(arg, addr string) bool {
	for rest := arg; ; {
		i := strings.Index(rest, addr)
		if i < 0 {
			return false
		}
		rest = rest[i+len(addr):]
		if rest == "" || rest[0] < '0' || rest[0] > '9' {
			return true
		}
	}
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
		if got := namesAddr(tc.arg, "127.0.0.1:4321"); got != tc.want {
			t.Errorf("namesAddr(%q): got %v, want %v", tc.arg, got, tc.want)
		}
	}
}
