package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postJob queues a job on 03-workers and returns the id from its 202.
func postJob(t *testing.T, s *server) int {
	t.Helper()
	r := send(http.MethodPost, s.url("/jobs"))
	if r.err != nil || r.status != http.StatusAccepted {
		t.Fatalf("POST /jobs: want 202, got status %d body %q err %v", r.status, r.body, r.err)
	}
	var accepted struct{ ID int }
	if err := json.Unmarshal([]byte(r.body), &accepted); err != nil || accepted.ID == 0 {
		t.Fatalf("POST /jobs: want {\"id\": N}, got %q (%v)", r.body, err)
	}
	return accepted.ID
}

// fates maps each job id to the lines that report how it ended.
func fates(s *server, ids []int) map[int][]string {
	found := make(map[int][]string)
	for _, id := range ids {
		prefix := fmt.Sprintf("job %d ", id)
		for _, line := range append(s.out.lines(prefix+"done"), s.out.lines(prefix+"abandoned")...) {
			found[id] = append(found[id], line)
		}
	}
	return found
}

// Every job answered 202 before the signal is finished before the process
// exits 0, and a job posted after the signal is refused.
func TestJobsDrainedBeforeExit(t *testing.T) {
	t.Parallel()
	s := startServer(t, "03-workers", "-workers", "2", "-work", "500ms", "-timeout", "60s")
	var ids []int
	for range 6 {
		ids = append(ids, postJob(t, s))
	}
	s.signal(t, syscall.SIGTERM)
	s.waitLog(t, "Shutdown Server ...", 1)
	if done := len(s.out.lines(" done")); done == len(ids) {
		t.Fatalf("all %d jobs were done before the signal: the drain was not tested", done)
	}
	s.waitRefused(t, 2*time.Second)
	assertFailed(t, send(http.MethodPost, s.url("/jobs")), refused)

	s.assertExitedWith(t, s.waitExit(t), 0)
	for _, id := range ids {
		if got := fates(s, []int{id})[id]; len(got) != 1 || !strings.HasSuffix(got[0], "done") {
			t.Errorf("job %d: want exactly one %q line, got %q", id, fmt.Sprintf("job %d done", id), got)
		}
	}
	if len(s.out.lines("abandoned")) != 0 {
		t.Errorf("no job may be abandoned\noutput:\n%s", s.out)
	}
}

// With too short a budget, the jobs left are abandoned: each one's fate is
// still logged, once, and the exit status reports the loss.
func TestJobsAbandonedAtDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the slow deadline scenario")
	}
	t.Parallel()
	s := startServer(t, "03-workers", "-workers", "1", "-work", "20s", "-timeout", "1s")
	var ids []int
	for range 3 {
		ids = append(ids, postJob(t, s))
	}
	s.waitLog(t, fmt.Sprintf("job %d started", ids[0]), 1)
	s.signal(t, syscall.SIGTERM)

	s.assertExitedWith(t, s.waitExit(t), 1)
	got := fates(s, ids)
	abandoned := 0
	for _, id := range ids {
		if len(got[id]) != 1 {
			t.Errorf("job %d: want exactly one fate line, got %q", id, got[id])
			continue
		}
		if strings.Contains(got[id][0], "abandoned") {
			abandoned++
		}
	}
	if abandoned == 0 {
		t.Errorf("want at least one abandoned job\noutput:\n%s", s.out)
	}
	if len(s.out.lines(fmt.Sprintf("%d job(s) abandoned", abandoned))) != 1 {
		t.Errorf("want the exit reason to count %d abandoned job(s)\noutput:\n%s", abandoned, s.out)
	}
}

// A full queue refuses at once with 503 and a JSON error: the handler never
// blocks waiting for room.
func TestFullQueueAnswers503(t *testing.T) {
	t.Parallel()
	s := startServer(t, "03-workers", "-workers", "1", "-work", "60s", "-queue", "2")
	first := postJob(t, s)
	s.waitLog(t, fmt.Sprintf("job %d started", first), 1) // the worker is busy
	postJob(t, s)
	postJob(t, s) // the queue is full now

	r := send(http.MethodPost, s.url("/jobs"))
	var body struct{ Error string }
	if r.err != nil || r.status != http.StatusServiceUnavailable {
		t.Fatalf("want 503, got status %d body %q err %v", r.status, r.body, r.err)
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error != "queue is full, try again later" {
		t.Fatalf("want a JSON error saying the queue is full, got %q", r.body)
	}
}

// SIGKILL takes the queued jobs with it: no handler runs, nothing drains.
func TestSIGKILLLosesQueuedJobs(t *testing.T) {
	t.Parallel()
	s := startServer(t, "03-workers", "-workers", "1", "-work", "20s")
	ids := []int{postJob(t, s), postJob(t, s)}
	s.waitLog(t, fmt.Sprintf("job %d started", ids[0]), 1)
	s.signal(t, syscall.SIGKILL)
	s.assertKilledBy(t, s.waitExit(t), syscall.SIGKILL)
	if got := fates(s, ids); len(got) != 0 {
		t.Errorf("a killed process reports no job's fate, got %v", got)
	}
}
