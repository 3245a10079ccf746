package tests

import (
	"fmt"
	"strings"
	"testing"
)

// The post's last advice, "close the database connection", in its place:
// 07-durable-jobs closes its database only once its workers have stopped,
// so the last job's done transaction commits before the connection goes.
// From outside, the log shows every running job done, then "database
// closed", then "Server exiting", then the exit status 0; and a restart on
// the same file finds each job done, its effect applied once.
func TestDatabaseClosedAfterWorkers(t *testing.T) {
	t.Parallel()
	for _, sig := range signals {
		t.Run("07-durable-jobs/"+signalNames[sig], func(t *testing.T) {
			t.Parallel()
			db := jobsDB(t)
			s := startDurable(t, db, "-workers", "2", "-work", "2s", "-timeout", "60s")
			ids := []int{postJob(t, s), postJob(t, s)}
			for _, id := range ids {
				s.waitLog(t, fmt.Sprintf("job %d started", id), 1)
			}
			s.signal(t, sig)
			s.assertExitedWith(t, s.waitExit(t), 0)

			shutdown := logPosition(t, s, "Shutdown Server ...")
			closed := logPosition(t, s, "database closed")
			exiting := logPosition(t, s, "Server exiting")
			for _, id := range ids {
				done := logPosition(t, s, fmt.Sprintf("job %d done", id))
				if done < shutdown {
					t.Fatalf("job %d was done before the signal: the order was not tested\noutput:\n%s", id, s.out)
				}
				if done > closed {
					t.Errorf("job %d done after the database closed\noutput:\n%s", id, s.out)
				}
			}
			if closed > exiting {
				t.Errorf("want the database closed before \"Server exiting\"\noutput:\n%s", s.out)
			}

			again := startDurable(t, db, "-workers", "1")
			for _, id := range ids {
				assertJob(t, waitDone(t, again, id), 1, false)
			}
		})
	}
}

// logPosition is the index, among s's log lines, of the one line that
// contains text. It fails the test unless exactly one does.
func logPosition(t *testing.T, s *server, text string) int {
	t.Helper()
	at := -1
	for i, line := range strings.Split(s.out.String(), "\n") {
		if strings.Contains(line, text) {
			if at >= 0 {
				t.Fatalf("want one line %q, got more\noutput:\n%s", text, s.out)
			}
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("want one line %q, got none\noutput:\n%s", text, s.out)
	}
	return at
}
