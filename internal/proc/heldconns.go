package proc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// HoldsConnection reports whether the process pid holds the server's end of
// the TCP connection whose client end is client, to serverPort. A connect
// only proves that the kernel completed the handshake: until the server
// has accepted the connection it sits in the listener's queue, and a stop
// that closes the listener then resets it without the server ever seeing
// it. Once the process holds the socket, the server has accepted it.
func HoldsConnection(pid, serverPort int, client net.Addr) (bool, error) {
	tcp, ok := client.(*net.TCPAddr)
	if !ok {
		return false, fmt.Errorf("not a TCP address: %v", client)
	}
	local, remote := fmt.Sprintf(":%04X", serverPort), fmt.Sprintf(":%04X", tcp.Port)
	read := 0
	var inodes []string
	for _, file := range tcpTables(tcp.IP) {
		data, err := os.ReadFile(file)
		if err != nil {
			continue // no IPv6, say
		}
		read++
		for line := range strings.Lines(string(data)) {
			// local address, remote address, state (01 established), ...,
			// the inode tenth: 0 while the connection waits in the queue.
			fields := strings.Fields(line)
			if len(fields) > 9 && strings.HasSuffix(fields[1], local) && strings.HasSuffix(fields[2], remote) &&
				fields[3] == "01" && fields[9] != "0" {
				inodes = append(inodes, fields[9])
			}
		}
	}
	if read == 0 {
		return false, errors.New("cannot read /proc/net/tcp")
	}
	if len(inodes) == 0 {
		return false, nil
	}
	return holdsSocket(pid, inodes)
}

// WaitHeld polls until the process pid holds the server's end of conn (see
// HoldsConnection), or the limit passes.
func WaitHeld(pid int, conn net.Conn, limit time.Duration) error {
	serverPort := conn.RemoteAddr().(*net.TCPAddr).Port
	deadline := time.Now().Add(limit)
	for {
		held, err := HoldsConnection(pid, serverPort, conn.LocalAddr())
		if held || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d has not accepted the connection from %v after %s", pid, conn.LocalAddr(), limit)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not synchronisation
	}
}

// ConnectionsHeld counts the established TCP connections to serverPort
// whose server end the process pid holds: what `ss` would list for it.
func ConnectionsHeld(pid, serverPort int) (int, error) {
	local := fmt.Sprintf(":%04X", serverPort)
	inodes := map[string]bool{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue // no IPv6, say
		}
		for line := range strings.Lines(string(data)) {
			fields := strings.Fields(line)
			if len(fields) > 9 && strings.HasSuffix(fields[1], local) && fields[3] == "01" && fields[9] != "0" {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, fd := range fds {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); inodes[target] {
			n++
		}
	}
	return n, nil
}
