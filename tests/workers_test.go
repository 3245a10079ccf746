package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
)

// postJob queues a job on 03-workers or 07-durable-jobs and returns the
// id from its 202.
func postJob(t *testing.T, s *server) int {
	t.Helper()
	return postKeyed(t, s, "", "")
}

// postKeyed posts a job with payload, and an Idempotency-Key unless key is
// empty, and returns the id from its 202.
func postKeyed(t *testing.T, s *server, key, payload string) int {
	t.Helper()
	header := http.Header{}
	if key != "" {
		header.Set("Idempotency-Key", key)
	}
	r := client.SendBody(context.Background(), http.MethodPost, s.url("/jobs"), payload, header)
	if r.Err != nil || r.Status != http.StatusAccepted {
		t.Fatalf("POST /jobs: want 202, got status %d body %q err %v", r.Status, r.Body, r.Err)
	}
	var accepted struct{ ID int }
	if err := json.Unmarshal([]byte(r.Body), &accepted); err != nil || accepted.ID == 0 {
		t.Fatalf("POST /jobs: want {\"id\": N}, got %q (%v)", r.Body, err)
	}
	return accepted.ID
}

// fates maps each job id to the lines that report how it ended.
func fates(s *server, ids []int) map[int][]string {
	found := make(map[int][]string)
	for _, id := range ids {
		prefix := fmt.Sprintf("job %d ", id)
		if lines := append(s.out.lines(prefix+"done"), s.out.lines(prefix+"abandoned")...); len(lines) > 0 {
			found[id] = lines
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
// logged, once, and the exit status reports the loss. One worker, 20 s
// jobs, a 1 s budget: job 1 is cut short, jobs 2 and 3 never start.
func TestJobsAbandonedAtDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the slow deadline scenario")
	}
	t.Parallel()
	const budget = time.Second
	s := startServer(t, "03-workers", "-workers", "1", "-work", "20s", "-timeout", budget.String())
	ids := []int{postJob(t, s), postJob(t, s), postJob(t, s)}
	s.waitLog(t, fmt.Sprintf("job %d started", ids[0]), 1)
	signalled := time.Now()
	s.signal(t, syscall.SIGTERM)

	s.assertExitedWith(t, s.waitExit(t), 1)
	took := time.Since(signalled)
	got := fates(s, ids)
	want := map[int]string{
		ids[0]: fmt.Sprintf("job %d abandoned: cut short: shutdown budget of %s used up", ids[0], budget),
		ids[1]: fmt.Sprintf("job %d abandoned: never started: shutdown budget of %s used up", ids[1], budget),
		ids[2]: fmt.Sprintf("job %d abandoned: never started: shutdown budget of %s used up", ids[2], budget),
	}
	for _, id := range ids {
		if len(got[id]) != 1 || !strings.HasSuffix(got[id][0], want[id]) {
			t.Errorf("job %d: want exactly one line ending %q, got %q", id, want[id], got[id])
		}
	}
	if len(s.out.lines("shutdown incomplete: 3 job(s) abandoned")) != 1 {
		t.Errorf("want the exit reason to count the 3 abandoned jobs\noutput:\n%s", s.out)
	}
	// The jobs wait out the budget, not their 20 s; the upper bound is a guard.
	if took < budget || took > budget+5*time.Second {
		t.Errorf("exit %s after the signal, want about %s", took.Round(time.Millisecond), budget)
	}
}

// A POST still sending its job when the signal lands is in flight: HTTP is
// drained before the queue is closed, so the job is accepted and done.
// (Closing the queue first would answer it 503.)
func TestJobPostedDuringDrainIsQueued(t *testing.T) {
	t.Parallel()
	s := startServer(t, "03-workers", "-work", "100ms", "-timeout", "20s")
	const payload = "send a mail\n"
	conn := dial(t, s.addr)
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST /jobs HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", s.addr, len(payload)); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, "POST /jobs started", 1)
	s.signal(t, syscall.SIGTERM)
	s.waitLog(t, "Shutdown Server ...", 1)
	if _, err := io.WriteString(conn, payload); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the POST in flight at the signal: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || strings.TrimSpace(string(body)) != `{"id":1}` {
		t.Fatalf("want 202 {\"id\":1}, got %d %s", resp.StatusCode, body)
	}
	s.assertExitedWith(t, s.waitExit(t), 0)
	if len(s.out.lines(fmt.Sprintf("job 1 started (%d bytes of payload)", len(payload)))) != 1 || len(s.out.lines("job 1 done")) != 1 {
		t.Errorf("want job 1 run with its payload and done\noutput:\n%s", s.out)
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
