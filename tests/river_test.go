package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// riverRescueWait bounds how long River takes to rescue the job of a
// process that died: -rescue-after, plus the dead leader's term (15 s:
// River's elect interval of 5 s and 10 s of padding) before another
// process leads, plus the rescuer's sweep (every 30 s, not configurable
// through River's public Config), plus the retry (1 s for a first
// attempt) and the scheduler that makes it available (every 5 s), with a
// margin for a busy machine under -race.
const riverRescueWait = 2 * time.Minute

// startRiver starts 08-river on the database at url.
func startRiver(t *testing.T, url string, args ...string) *server {
	t.Helper()
	return startServer(t, "08-river", append([]string{"-database-url", url}, args...)...)
}

// queryInt runs a query that returns one number, straight on the
// database: what River wrote, beside what the program answers.
func queryInt(t *testing.T, url, query string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), logTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// firstToLog waits until one of the processes logged text, and returns it
// with the line.
func firstToLog(t *testing.T, ps []*server, text string) (*server, proc.Line) {
	t.Helper()
	deadline := time.Now().Add(logTimeout)
	for {
		for _, p := range ps {
			if line, ok := p.out.First(text); ok {
				return p, line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no process logged %q within %s", text, logTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// rescuerRan is River's line for a sweep of its rescuer that queued at
// least one stuck job again.
var rescuerRan = regexp.MustCompile(`JobRescuer: Ran successfully .*num_jobs_retry_scheduled=[1-9]`)

// rescueLine returns the first line of any of ps that says River's
// rescuer queued a stuck job again.
func rescueLine(ps []*server) (proc.Line, bool) {
	for _, p := range ps {
		for _, line := range p.out.All() {
			if rescuerRan.MatchString(line.Text) {
				return line, true
			}
		}
	}
	return proc.Line{}, false
}

// Three instances on one database. SIGKILL the one that runs a job: its
// row stays "running" (nothing is left to say otherwise) until River's
// rescuer, in whichever instance leads, finds it older than -rescue-after
// and queues it again; another instance runs it and commits its effect.
// Every job ends done, each effect once. The time from the kill to the
// rescue is measured against -rescue-after and the rescuer's sweep; only
// its lower bound is asserted: never before -rescue-after.
func TestThreeInstances(t *testing.T) {
	t.Parallel()
	rows := inTurn(t) // each waits for River's rescuer, or for jobs to end
	defer rows.Wait()
	rows.Run("08-river/SIGKILL", func(t *testing.T) {
		// Each job's deadline too: 4 s of room for its commit.
		const rescueAfter = 6 * time.Second
		db := database(t)
		flags := []string{"-workers", "1", "-work", "2s", "-rescue-after", rescueAfter.String()}
		var ps []*server
		for range 3 {
			ps = append(ps, startRiver(t, db, flags...))
		}
		var ids []int
		for range 6 {
			ids = append(ids, postJob(t, ps[0]))
		}
		victim, started := firstToLog(t, ps, fmt.Sprintf("job %d started (attempt 1)", ids[0]))
		leader := victim.isRiverLeader(t, db)
		victim.signal(t, syscall.SIGKILL)
		victim.assertKilledBy(t, victim.waitExit(t), syscall.SIGKILL)
		var survivors []*server
		for _, p := range ps {
			if p != victim {
				survivors = append(survivors, p)
			}
		}

		for _, id := range ids {
			attempts := 1
			if id == ids[0] {
				attempts = 2
			}
			assertJob(t, waitDoneWithin(t, survivors[0], id, riverRescueWait), attempts, false)
		}
		rescued, ok := rescueLine(survivors)
		if !ok {
			t.Fatalf("want River's rescuer to say it queued a stuck job again\noutputs:\n%s\n%s", survivors[0].out, survivors[1].out)
		}
		_, again := firstToLog(t, survivors, fmt.Sprintf("job %d started (attempt 2)", ids[0]))
		if ran := rescued.At.Sub(started.At); ran < rescueAfter {
			t.Errorf("job %d rescued %s after it started, before -rescue-after %s", ids[0], ran.Round(time.Millisecond), rescueAfter)
		}
		t.Logf("kill → rescued %s, kill → attempt 2 started %s; -rescue-after %s, rescuer's sweep every 30 s, the killed instance led River: %v",
			rescued.At.Sub(victim.ExitedAt).Round(time.Millisecond), again.At.Sub(victim.ExitedAt).Round(time.Millisecond), rescueAfter, leader)
		for _, p := range survivors {
			p.signal(t, syscall.SIGTERM)
			p.assertExitedWith(t, p.waitExit(t), 0)
		}
	})

	// SIGSTOP the instance that runs a job until the others rescued the
	// job and finished it, then SIGCONT. River has no fencing token: what
	// turns the stalled attempt away is its deadline. River gives a job's
	// context the deadline -rescue-after (the program sets JobTimeout to
	// RescueStuckJobsAfter), and the rescue comes no earlier, so the woken
	// attempt finds its context ended: it never commits. River's own
	// report of it updates a row only while it is "running", and the row
	// is done: it keeps the one error the rescuer wrote, and one effect.
	rows.Run("08-river/SIGSTOP", func(t *testing.T) {
		const rescueAfter, work = 6 * time.Second, 4 * time.Second
		db := database(t)
		a := startRiver(t, db, "-workers", "1", "-work", work.String(), "-rescue-after", rescueAfter.String())
		id := postJob(t, a)
		a.waitLog(t, fmt.Sprintf("job %d started (attempt 1)", id), 1)
		started, _ := a.out.First(fmt.Sprintf("job %d started (attempt 1)", id))
		stopProcess(t, a)
		if took := time.Since(started.At); took >= work {
			t.Fatalf("%s stopped %s after the job started: its %s of work may have ended, and its completion committed", a.name, took.Round(time.Millisecond), work)
		}

		b := startRiver(t, db, "-workers", "1", "-work", "100ms", "-rescue-after", rescueAfter.String())
		c := startRiver(t, db, "-workers", "1", "-work", "100ms", "-rescue-after", rescueAfter.String())
		assertJob(t, waitDoneWithin(t, b, id, riverRescueWait), 2, false)
		a.signal(t, syscall.SIGCONT)
		// Wait for the line that says how its attempt ended, whatever it
		// says; then SIGTERM: River's Stop returns once its completer has
		// written its report of every attempt this process ran.
		ended := regexp.MustCompile(fmt.Sprintf(`job %d (done|returned to the queue \(attempt 1\)|not completed \(attempt 1\)|attempt 1: )`, id))
		deadline := time.Now().Add(logTimeout)
		for !slices.ContainsFunc(a.out.All(), func(l proc.Line) bool { return ended.MatchString(l.Text) }) {
			if time.Now().After(deadline) {
				t.Fatalf("the stalled instance did not say how its attempt ended within %s\noutput:\n%s", logTimeout, a.out)
			}
			time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
		}
		a.signal(t, syscall.SIGTERM)
		a.assertExitedWith(t, a.waitExit(t), 0)

		// Nothing changed: done, 2 attempts, the effect of attempt 2.
		assertJob(t, waitDone(t, b, id), 2, false)
		if n := queryInt(t, db, `SELECT min(attempt) FROM effects WHERE job_id = $1`, id); n != 2 {
			t.Errorf("want the effect of attempt 2, got attempt %d's", n)
		}
		if n := queryInt(t, db, `SELECT cardinality(errors) FROM river_job WHERE id = $1`, id); n != 1 {
			t.Errorf("want only the rescuer's error on job %d, got %d errors: River's report of the late attempt changed the row", id, n)
		}
		// The mechanism: the attempt's context ended at its deadline, so
		// it never reached its completion's transaction.
		late := regexp.MustCompile(fmt.Sprintf(`job %d (returned to the queue|not completed) \(attempt 1\): .*context deadline exceeded`, id))
		if !slices.ContainsFunc(a.out.All(), func(l proc.Line) bool { return late.MatchString(l.Text) }) {
			t.Errorf("want the stalled attempt ended by its deadline, %q\noutput:\n%s", late, a.out)
		}
		for _, p := range []*server{b, c} {
			p.signal(t, syscall.SIGTERM)
			p.assertExitedWith(t, p.waitExit(t), 0)
		}
	})

	// A rolling restart: SIGTERM each instance in turn, wait for it to
	// exit, start it again, while a client keeps posting jobs to the live
	// instances. The soft stop lets each running job finish: every 202
	// ends done in its first attempt, each effect once, no job left
	// running, no rescue, every instance exits 0.
	rows.Run("08-river/rolling-restart", func(t *testing.T) {
		db := database(t)
		flags := []string{"-workers", "2", "-work", "300ms", "-rescue-after", "5s", "-timeout", "20s"}
		var mu sync.Mutex
		var live, all []*server
		for range 3 {
			p := startRiver(t, db, flags...)
			live, all = append(live, p), append(all, p)
		}
		var accepted []int
		refused, failed := 0, []string{}
		stopPosting := make(chan struct{})
		var posting sync.WaitGroup
		posting.Go(func() {
			for {
				select {
				case <-stopPosting:
					return
				case <-time.After(50 * time.Millisecond): // the posting rate
				}
				mu.Lock()
				p := live[rand.IntN(len(live))]
				mu.Unlock()
				r := client.SendBody(context.Background(), http.MethodPost, p.url("/jobs"), "rolling", nil)
				var id int
				switch {
				case r.Err == nil && r.Status == http.StatusAccepted && parseID(r.Body, &id):
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				case r.Err != nil && client.Classify(r.Err) == client.Refused:
					mu.Lock()
					refused++ // picked just before it left the live list
					mu.Unlock()
				default:
					mu.Lock()
					failed = append(failed, fmt.Sprintf("status %d body %q err %v", r.Status, r.Body, r.Err))
					mu.Unlock()
				}
			}
		})
		// waitAccepted waits until n more jobs were accepted, so that each
		// instance stops with jobs running and queued.
		waitAccepted := func(n int) {
			mu.Lock()
			want := len(accepted) + n
			mu.Unlock()
			deadline := time.Now().Add(logTimeout)
			for {
				mu.Lock()
				got := len(accepted)
				mu.Unlock()
				if got >= want {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d jobs accepted within %s, want %d", got, logTimeout, want)
				}
				time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
			}
		}
		for i := range 3 {
			waitAccepted(10)
			mu.Lock()
			old := live[i]
			live = append(append([]*server{}, live[:i]...), live[i+1:]...)
			mu.Unlock()
			old.signal(t, syscall.SIGTERM)
			old.assertExitedWith(t, old.waitExit(t), 0)
			p := startRiver(t, db, flags...)
			mu.Lock()
			live = append(live[:i], append([]*server{p}, live[i:]...)...)
			all = append(all, p)
			mu.Unlock()
		}
		waitAccepted(10)
		close(stopPosting)
		posting.Wait()

		if len(failed) > 0 {
			t.Errorf("want every POST answered 202 or refused, got %d failure(s): %v", len(failed), failed)
		}
		for _, id := range accepted {
			assertJob(t, waitDone(t, live[0], id), 1, false)
		}
		if n := queryInt(t, db, `SELECT count(*) FROM river_job WHERE state <> 'completed'`); n != 0 {
			t.Errorf("want every job completed, %d are not", n)
		}
		if n := queryInt(t, db, `SELECT count(*) FROM effects`); n != len(accepted) {
			t.Errorf("want one effect per job, %d for %d jobs", n, len(accepted))
		}
		if line, ok := rescueLine(all); ok {
			t.Errorf("want no rescue in a rolling restart, got %q", line.Text)
		}
		t.Logf("%d jobs accepted (202), %d POSTs refused by an instance on its way out, 3 instances restarted", len(accepted), refused)
		for _, p := range live {
			p.signal(t, syscall.SIGTERM)
			p.assertExitedWith(t, p.waitExit(t), 0)
		}
	})
}

// parseID reads {"id": N} into id.
func parseID(body string, id *int) bool {
	_, err := fmt.Sscanf(strings.TrimSpace(body), `{"id":%d}`, id)
	return err == nil && *id > 0
}

// isRiverLeader reports whether the process leads River's processes on
// the database: its "River client started client_id=ID" line names the
// ID that river_leader holds.
func (s *server) isRiverLeader(t *testing.T, db string) bool {
	t.Helper()
	line, ok := s.out.First("River client started client_id=")
	if !ok {
		return false
	}
	_, id, _ := strings.Cut(line.Text, "client_id=")
	return queryInt(t, db, `SELECT count(*) FROM river_leader WHERE leader_id = $1`, strings.TrimSpace(id)) == 1
}

// stopProcess stops p (SIGSTOP) and waits until the kernel shows every
// thread of it stopped. Cleanup sends SIGCONT: registered after
// startServer's, it runs first, and the process can then be ended.
func stopProcess(t *testing.T, p *server) {
	t.Helper()
	p.signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { _ = p.Signal(syscall.SIGCONT) })
	deadline := time.Now().Add(logTimeout)
	for !allThreadsStopped(t, p.PID()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not stopped %s after SIGSTOP", p.name, logTimeout)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// The database server restarts (pg_ctl stop -m fast, then start) while
// jobs run. Meanwhile the program stays up: POST /jobs and GET /jobs/:id
// answer 503 with the database's error, the running jobs' completions
// fail and roll back, and River keeps trying. Once the server is back,
// every job accepted before ends done with its effect once: River retries
// those whose failure it could record, and rescues those it could not
// (still "running" in the database). The cluster is this test's own: the
// suite's serves the other tests meanwhile.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	t.Run("08-river", func(t *testing.T) { // in this test's turn: see inTurn
		cluster, err := startCluster()
		requirePostgres(t, err)
		t.Cleanup(func() { _ = cluster.Stop() })
		db, err := cluster.CreateDatabase(context.Background(), "restart")
		if err != nil {
			t.Fatal(err)
		}
		s := startRiver(t, db, "-workers", "2", "-work", "1s", "-rescue-after", "5s")
		var ids []int
		for range 6 {
			ids = append(ids, postJob(t, s))
		}
		s.waitLog(t, " started (attempt 1)", 2)
		if err := cluster.StopServer(); err != nil {
			t.Fatal(err)
		}
		// A running job ends while the server is down: its completion
		// cannot begin.
		s.waitLog(t, "not completed (attempt 1)", 1)
		down := send(http.MethodPost, s.url("/jobs"))
		if down.err != nil || down.status != http.StatusServiceUnavailable || !strings.Contains(down.body, "storing the job: ") {
			t.Errorf("POST /jobs with the database down: want 503 storing the job: ..., got %d %q %v", down.status, down.body, down.err)
		}
		if status, _ := getJob(t, s, ids[0]); status != http.StatusServiceUnavailable {
			t.Errorf("GET /jobs/%d with the database down: want 503, got %d", ids[0], status)
		}
		if err := cluster.StartServer(); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			assertJob(t, waitDoneWithin(t, s, id, riverRescueWait), 1, true)
		}
		assertJob(t, waitDone(t, s, postJob(t, s)), 1, false)
		t.Logf("while the database was down: %d job(s) not completed, %d River error line(s)", len(s.out.lines("not completed")), len(s.out.lines("ERROR")))
		s.signal(t, syscall.SIGTERM)
		s.assertExitedWith(t, s.waitExit(t), 0)
	})
}

// Bad input ends 08-river at start, before it listens or runs a job: a
// missing -database-url like a bad flag (exit 2, the error on the first
// line); a URL that is not one and a server that does not answer in one
// line, exit 1 (a busy port: TestBusyPort/08-river).
func TestBadDatabaseURL(t *testing.T) {
	t.Parallel()
	// Nothing listens there. Without sslmode, pgx tries twice (TLS, then
	// not), and lists both attempts on lines of their own.
	down := "postgres://postgres@" + freePort(t) + "/lab"
	for _, tc := range []struct {
		name, url string
		exit      int
		want      string
	}{
		{"missing", "", 2, "-workers must be at least 1, -rescue-after more than 0, and -database-url (or DATABASE_URL) set"},
		{"not-a-url", "not a url", 1, "-database-url: cannot parse `not a url`"},
		{"server-down", down, 1, "-database-url: failed to connect to `user=postgres database=lab`: "},
	} {
		t.Run("08-river/"+tc.name, func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			s := launch(t, filepath.Join(binDir, "08-river"), freePort(t), "-database-url", tc.url)
			s.assertExitedWith(t, s.waitExit(t), tc.exit)
			out := strings.TrimSuffix(s.out.String(), "\n")
			if tc.exit == 2 {
				out, _, _ = strings.Cut(out, "\n") // then the flag package's usage
			}
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, tc.want) {
				t.Errorf("want one line with %q, got %q", tc.want, out)
			}
		})
	}
}
