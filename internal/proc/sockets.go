package proc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Listening reports whether the kernel lists a TCP socket listening on
// addr's port (see listeningInodes). Unlike a
// probe connection, looking leaves the server nothing to notice: a
// benchmark of an idle server's Shutdown must not give it a connection
// to wait for.
func Listening(addr string) (bool, error) {
	inodes, err := listeningInodes(addr)
	return len(inodes) > 0, err
}

// listeningInodes are the inodes of the TCP sockets listening on addr's
// port, on any address of addr's family (see tcpTables). The kernel lists
// the listening sockets first (its listening table, then the established
// one, TIME_WAIT included), and makes each part of the file as it is
// read: stopping at the first line that is not listening skips the
// thousands of closed connections a load test leaves behind. Read whole,
// both files, this cost the suite 11 s of CPU a run.
func listeningInodes(addr string) ([]string, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("no port in %q", addr)
	}
	files := tcpTables(net.ParseIP(host))
	want := fmt.Sprintf(":%04X", port)
	read := 0
	var inodes []string
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			continue // no IPv6, say
		}
		read++
		lines := bufio.NewScanner(f)
		lines.Scan() // the header
		for lines.Scan() {
			// "  0: 0100007F:1F90 00000000:0000 0A ... 0 12345 ...": local
			// address, remote, state, ..., the inode tenth.
			fields := strings.Fields(lines.Text())
			if len(fields) <= 9 || fields[3] != "0A" {
				break
			}
			if strings.HasSuffix(fields[1], want) {
				inodes = append(inodes, fields[9])
			}
		}
		err = lines.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if read == 0 {
		return nil, errors.New("cannot read /proc/net/tcp")
	}
	return inodes, nil
}

// tcpTables are the files where the kernel lists the TCP sockets of ip's
// family: /proc/net/tcp for IPv4, /proc/net/tcp6 for IPv6, both when ip
// is nil. Each file costs the kernel a walk of its whole table of
// connections, which both families share: read only the one needed.
func tcpTables(ip net.IP) []string {
	switch {
	case ip.To4() != nil:
		return []string{"/proc/net/tcp"}
	case ip != nil:
		return []string{"/proc/net/tcp6"}
	}
	return []string{"/proc/net/tcp", "/proc/net/tcp6"}
}

// ListensOn reports whether the process pid holds the socket listening
// on addr's port: a connection to it proves only that someone listens.
func ListensOn(pid int, addr string) (bool, error) {
	inodes, err := listeningInodes(addr)
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
	// Shutdown must not give it a connection to wait for. Each look costs
	// the kernel a walk of its socket table, slow on a busy machine.
	Quietly
)

// WaitListening polls until something listens on addr (seen as look
// says), the process exits (exited is closed) or the limit passes.
func WaitListening(addr string, look Look, limit time.Duration, exited <-chan struct{}) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return err
	}
	listening := func() (bool, error) {
		if look == Quietly {
			return Listening(addr)
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
