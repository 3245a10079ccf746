package proc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Listening reports whether the kernel lists a TCP socket listening on
// port (any address), reading /proc/net/tcp and /proc/net/tcp6. Unlike a
// probe connection, looking leaves the server nothing to notice: a
// benchmark of an idle server's Shutdown must not give it a connection
// to wait for.
func Listening(port int) (bool, error) {
	inodes, err := listeningInodes(port)
	return len(inodes) > 0, err
}

// listeningInodes are the inodes of the TCP sockets listening on port.
func listeningInodes(port int) ([]string, error) {
	want := fmt.Sprintf(":%04X", port)
	read := 0
	var inodes []string
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue // no IPv6, say
		}
		read++
		for line := range strings.Lines(string(data)) {
			// "  0: 0100007F:1F90 00000000:0000 0A ... 0 12345 ...": local
			// address, remote, state, ..., the inode tenth.
			fields := strings.Fields(line)
			if len(fields) > 9 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
				inodes = append(inodes, fields[9])
			}
		}
	}
	if read == 0 {
		return nil, errors.New("cannot read /proc/net/tcp")
	}
	return inodes, nil
}

// ListensOn reports whether the process pid holds the socket listening
// on port: a connection to the port proves only that someone listens.
func ListensOn(pid, port int) (bool, error) {
	inodes, err := listeningInodes(port)
	if err != nil || len(inodes) == 0 {
		return false, err
	}
	return holdsSocket(pid, inodes)
}

// holdsSocket reports whether the process pid has one of the sockets
// inodes (from /proc/net/tcp) among its open files.
func holdsSocket(pid int, inodes []string) (bool, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		for _, inode := range inodes {
			if target == "socket:["+inode+"]" {
				return true, nil
			}
		}
	}
	return false, nil
}

// Look is how WaitListening sees that something listens.
type Look int

const (
	// Connect: a TCP connection to the address is accepted. Cheap.
	Connect Look = iota
	// Quietly: the kernel lists a socket listening on the port (see
	// Listening). The server sees nothing: a benchmark of an idle server's
	// Shutdown must not give it a connection to wait for. Each look reads
	// the whole socket table, which is slow on a busy machine.
	Quietly
)

// WaitListening polls until something listens on addr (seen as look
// says), the process exits (exited is closed) or the limit passes.
func WaitListening(addr string, look Look, limit time.Duration, exited <-chan struct{}) error {
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("no port in %q", addr)
	}
	listening := func() (bool, error) {
		if look == Quietly {
			return Listening(port)
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, nil
		}
		return true, conn.Close()
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the process exited before it listened")
		default:
		}
		if ok, err := listening(); ok || err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	return fmt.Errorf("nothing listening on %s after %s", addr, limit)
}
