package lab

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Listening reports whether the kernel lists a TCP socket listening on
// port (any address), reading /proc/net/tcp and /proc/net/tcp6. Unlike a
// probe connection, looking leaves the server nothing to notice: a
// benchmark of an idle server's Shutdown must not give it a connection
// to wait for.
func Listening(port int) (bool, error) {
	want := fmt.Sprintf(":%04X", port)
	read := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue // no IPv6, say
		}
		read++
		for line := range strings.Lines(string(data)) {
			// "  0: 0100007F:1F90 00000000:0000 0A ...": local address, remote, state.
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
				return true, nil
			}
		}
	}
	if read == 0 {
		return false, errors.New("cannot read /proc/net/tcp")
	}
	return false, nil
}

// WaitListeningQuietly polls until a socket listens on port (see
// Listening), the process exits (exited is closed) or the limit passes.
func WaitListeningQuietly(port int, limit time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the process exited before it listened")
		default:
		}
		if ok, err := Listening(port); ok || err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
	return fmt.Errorf("nothing listening on port %d after %s", port, limit)
}
