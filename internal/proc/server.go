package proc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a running lesson program and the loopback address it serves on.
type Server struct {
	*Process
	Addr string // 127.0.0.1:port
}

// ServerEnv is the environment every lesson program runs with: gin's
// release mode (no debug banner), and a race detector that does not pause
// for a second at exit.
func ServerEnv() []string {
	return append(os.Environ(), "GIN_MODE=release", "GORACE=atexit_sleep_ms=0")
}

// ServerCommand is the command that runs the program at path with -addr
// addr and args, in the program's folder (where a relative -pidfile goes).
func ServerCommand(path, addr string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, append([]string{"-addr", addr}, args...)...)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = ServerEnv()
	return cmd
}

// StartServer starts ServerCommand without waiting for it to listen.
func StartServer(path, addr string, args ...string) (*Server, error) {
	p, err := Start(ServerCommand(path, addr, args...))
	if err != nil {
		return nil, err
	}
	return &Server{Process: p, Addr: addr}, nil
}

// URL is the address of path on the server.
func (s *Server) URL(path string) string {
	return "http://" + s.Addr + path
}

// WaitReady polls until the server accepts a TCP connection.
func (s *Server) WaitReady(limit time.Duration) error {
	return WaitListening(s.Addr, Connect, limit, s.Exited)
}

// WaitRefused polls until a new connection to addr is refused: the
// listener is closed. It fails if that takes longer than limit.
func WaitRefused(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still accepts new connections after %s (last dial: %v)", addr, limit, err)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// FreePort is FreePorts(1)'s one address.
func FreePort() (string, error) {
	addrs, err := FreePorts(1)
	if err != nil {
		return "", err
	}
	return addrs[0], nil
}

// ParsePort reads a port as a person types it: decimal, 1 to 65535 (no
// octal 08080, no 0100).
func ParsePort(text string) (int, error) {
	n, err := strconv.Atoi(text)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(text, "0") || strings.HasPrefix(text, "+") {
		return 0, fmt.Errorf("PORT must be a number from 1 to 65535, got '%s'", text)
	}
	return n, nil
}

// RequireFreePort fails when something accepts connections on addr. The
// connect gets 1 s: a listener whose accept queue is full drops the SYN,
// and such a port counts as in use.
func RequireFreePort(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) {
		_, port, _ := net.SplitHostPort(addr)
		return fmt.Errorf("port %s on 127.0.0.1 is busy; stop what uses it or set PORT to a free one", port)
	}
	return nil
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// OwnsPort checks that the server itself holds the socket listening on
// its port, once something answered there: whoever answered may be
// another process on a busy port (then ErrPortBusy).
func (s *Server) OwnsPort() error {
	ours, err := ListensOn(s.PID(), s.Addr)
	if err != nil {
		return fmt.Errorf("%w (%v): %s", ErrPortBusy, err, s.Process.LastLine())
	}
	if !ours {
		return fmt.Errorf("%w: %s", ErrPortBusy, s.Process.LastLine())
	}
	return nil
}

// ErrPortBusy is RunRolling's and StartHAProxy's error when another
// process holds one of their ports: the caller may try other ports.
var ErrPortBusy = errors.New("another process listens on the port")

// handedOut are the ports FreePorts has handed out in this process: it
// never hands one out twice, so that callers running at once (the tests
// run in parallel) never share a port.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
	next  int // where FreePorts looks on from, past from; -1: not yet
}{ports: map[int]bool{}, next: -1}

// FreePorts returns n consecutive loopback addresses that were free a
// moment ago and that it has not handed out before, below the kernel's
// ephemeral range, and remembers them for the leftover check (see
// Leftovers). A rolling restart starts an instance again on a port
// that stood free for a moment: in the ephemeral range, one of the many
// connections the load opens meanwhile could take it as its own port, and
// the new instance could not listen.
func FreePorts(n int) ([]string, error) {
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if fields := strings.Fields(string(data)); len(fields) == 2 {
			if v, err := strconv.Atoi(fields[0]); err == nil {
				low = v
			}
		}
	}
	// From 20000: below are the ports people pick by hand (8080, 18xxx).
	const from = 20000
	if low-n <= from {
		return nil, fmt.Errorf("no room for %d ports between %d and the ephemeral range (%d)", n, from, low)
	}
	handedOut.Lock()
	defer handedOut.Unlock()
	// Look on from where the last run handed out ended (the first time,
	// from a random place: two suites on one machine start apart), through
	// the whole range, wrapping round, stepping past a port that is taken.
	// Runs handed out one after another leave no gaps: a long test run that
	// has handed out thousands of ports still finds room for a long run
	// (random places each time left only gaps, and a -race -count=3 soak
	// found no 40 free consecutive ports).
	span := low - n - from
	if handedOut.next < 0 {
		handedOut.next = rand.IntN(span)
	}
	start := handedOut.next % span
	for tried := 0; tried < span; {
		first := from + (start+tried)%span
		addrs, taken := freeRun(first, n)
		if taken < 0 {
			handedOut.next = first + n - from
			for port := first; port < first+n; port++ {
				handedOut.ports[port] = true
			}
			for _, addr := range addrs {
				RememberArgument(addr)
			}
			return addrs, nil
		}
		tried += taken + 1
	}
	return nil, fmt.Errorf("found no %d free consecutive ports below %d", n, low)
}

// freeRun returns the n loopback addresses from port first on if each is
// free and not handed out yet; otherwise it returns how far into the run
// the first taken port is. The caller holds handedOut.
func freeRun(first, n int) (addrs []string, taken int) {
	for k := range n {
		port := first + k
		if handedOut.ports[port] {
			return nil, k
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, k
		}
		ln.Close()
		addrs = append(addrs, addr)
	}
	return addrs, -1
}
