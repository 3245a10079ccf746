package client

import (
	"net"
	"strings"
	"time"
)

// ReadUntilClosed reads from conn until it fails or limit passes, and
// returns what it read, how long it took and the error that ended it. A
// server that closed the connection shows as io.EOF (or a reset); one that
// held it, as a timeout.
func ReadUntilClosed(conn net.Conn, limit time.Duration) (data string, took time.Duration, err error) {
	start := time.Now()
	if err := conn.SetReadDeadline(start.Add(limit)); err != nil {
		return "", 0, err
	}
	var got strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			return got.String(), time.Since(start), err
		}
	}
}
