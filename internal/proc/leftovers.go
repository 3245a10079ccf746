package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SetSubreaper makes this process a child subreaper: orphans of the
// processes it starts (an upgraded 04-zero-downtime's successor, the
// server `go run` starts) are handed to it instead of to init, so that it
// can wait for them, read their exit status, and reap them.
func SetSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// ReapGroup waits for the members of a process group that were handed to
// this process when their parent died. Call it once the group was killed
// and its leader reaped.
func ReapGroup(pgid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		pid, err := syscall.Wait4(-pgid, nil, syscall.WNOHANG, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
		case err != nil:
			return // ECHILD: none left
		case pid == 0:
			time.Sleep(10 * time.Millisecond) // one is still dying: poll
		}
	}
}

// WaitOrphan waits for a process that was handed to this process (see
// SetSubreaper), such as 04-zero-downtime's successor, and returns how it
// ended.
func WaitOrphan(pid int, limit time.Duration) (syscall.WaitStatus, error) {
	exited := make(chan syscall.WaitStatus, 1)
	go func() {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		exited <- ws
	}()
	select {
	case ws := <-exited:
		return ws, nil
	case <-time.After(limit):
		return 0, errors.New("still running after " + limit.String())
	}
}

// ReapOrphans waits for the orphans handed to this process that have
// exited already and that nobody waited for, so that none lingers as a
// zombie. Only once nothing else waits: it could take a child another
// caller is waiting for.
func ReapOrphans() {
	for {
		pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid == 0 {
			return // none left, or only running ones: Leftovers names those
		}
	}
}

// remembered are the arguments a leftover names on its command line: the
// loopback addresses FreePort and FreePorts handed out, and the
// configuration files StartHAProxy wrote. Every process started here, and
// every process those start (a 04 successor, the server behind go run, the
// demo's servers and curls, HAProxy), names one: that is how a leftover is
// found, whoever its parent is.
var remembered = struct {
	sync.Mutex
	list []string
}{}

// RememberArgument adds arg (an address, a file's path) to the arguments
// Leftovers looks for.
func RememberArgument(arg string) {
	remembered.Lock()
	defer remembered.Unlock()
	remembered.list = append(remembered.list, arg)
}

// Leftovers lists the live processes that name one of the remembered
// arguments, or run a binary from binDir (empty: none).
func Leftovers(binDir string) map[int]string {
	remembered.Lock()
	addrs := slices.Clone(remembered.list)
	remembered.Unlock()
	found := processesNaming(addrs)
	if binDir != "" {
		for pid, exe := range ProcessesRunningFrom(binDir) {
			found[pid] = exe
		}
	}
	return found
}

// KillAndReap kills each process, and reaps those that are this process's
// children, handed to it when their parent died.
func KillAndReap(processes map[int]string) {
	for pid := range processes {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_, _ = syscall.Wait4(pid, nil, 0, nil) // ECHILD when not ours to reap
	}
}

// ProcessesRunningFrom lists the processes running a binary inside dir.
func ProcessesRunningFrom(dir string) map[int]string {
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	found := make(map[int]string)
	for _, exe := range exes {
		target, err := os.Readlink(exe)
		if err != nil || !strings.HasPrefix(target, dir+string(filepath.Separator)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(exe))); err == nil {
			found[pid] = target
		}
	}
	return found
}

// ProcessesWithArgument lists the live processes with addr in one of their
// command-line arguments: servers (-addr 127.0.0.1:PORT) and curls
// (http://127.0.0.1:PORT/). Only this process's descendants count (its
// orphans are handed to it, see SetSubreaper): another program on the
// machine, a second test suite say, may use the same port a moment later,
// and is none of ours.
func ProcessesWithArgument(addr string) map[int]string {
	return processesNaming([]string{addr})
}

// processesNaming lists the live processes with one of addrs in one of
// their command-line arguments, reading each command line once.
func processesNaming(addrs []string) map[int]string {
	found := make(map[int]string)
	self := os.Getpid()
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil || len(data) == 0 {
			continue // gone, or a zombie
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if slices.ContainsFunc(args, func(a string) bool {
			return slices.ContainsFunc(addrs, func(addr string) bool { return NamesAddr(a, addr) })
		}) {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(file))); err == nil && descendsFrom(pid, self) {
				found[pid] = strings.Join(args, " ")
			}
		}
	}
	return found
}

// NamesAddr reports whether a command-line argument names addr, and not
// a longer port that starts with the same digits (127.0.0.1:4321 is not
// named by 127.0.0.1:43210).
func NamesAddr(arg, addr string) bool {
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

// PIDRunning reports whether pid is a live process: kill -0 also succeeds
// for a zombie, and an orphan's zombie may stay one where nobody reaps it.
func PIDRunning(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, after, ok := strings.Cut(string(stat), ") ")
	return !ok || !strings.HasPrefix(after, "Z")
}

// WaitPIDGone polls until pid is no longer running, for a process that is
// not our child; it reports whether it went within limit.
func WaitPIDGone(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if !PIDRunning(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	return !PIDRunning(pid)
}

// ReadPIDFile reads the PID a serving process wrote (0 when none yet).
func ReadPIDFile(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0
	}
	return pid
}

// descendsFrom reports whether process pid is a child of ancestor, or a
// child of one of its children, and so on (false once pid is gone).
func descendsFrom(pid, ancestor int) bool {
	for pid > 1 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		// "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
		fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(fields) < 2 {
			return false
		}
		if pid, err = strconv.Atoi(fields[1]); err != nil {
			return false
		}
		if pid == ancestor {
			return true
		}
	}
	return false
}
