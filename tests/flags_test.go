package tests

import (
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A mistyped flag ends the program with exit status 2, the error on the
// first line of its output (Go's flag package then lists the flags).
func TestBadFlag(t *testing.T) {
	t.Parallel()
	for _, name := range slices.Concat(examples, grpcExamples) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			s := launch(t, filepath.Join(binDir, name), freePort(t), "-bogus")
			s.assertExitedWith(t, s.waitExit(t), 2)
			first, _, _ := strings.Cut(s.out.String(), "\n")
			if first != "flag provided but not defined: -bogus" {
				t.Errorf("want the error on the first line, got %q", first)
			}
		})
	}
}

// A busy port ends the program at once with one line saying why, in every
// program, also where the listener runs in a goroutine (all but 01).
func TestBusyPort(t *testing.T) {
	t.Parallel()
	for _, name := range slices.Concat(examples, grpcExamples) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			s := launch(t, filepath.Join(binDir, name), ln.Addr().String())
			s.assertExitedWith(t, s.waitExit(t), 1)
			out := strings.TrimSuffix(s.out.String(), "\n")
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, "listen: ") ||
				!strings.HasSuffix(out, "listen tcp "+ln.Addr().String()+": bind: address already in use") {
				t.Errorf("want one line about the busy port, got %q", out)
			}
		})
	}
}

// 03-workers cannot run without a worker: it reports the value like a bad
// flag, the error on the first line, and exits 2.
func TestNoWorkers(t *testing.T) {
	t.Parallel()
	trackSources(t)
	s := launch(t, filepath.Join(binDir, "03-workers"), freePort(t), "-workers", "0")
	s.assertExitedWith(t, s.waitExit(t), 2)
	if first, _, _ := strings.Cut(s.out.String(), "\n"); first != "-workers must be at least 1 and -queue at least 0" {
		t.Errorf("want the error on the first line, got %q", first)
	}
}
