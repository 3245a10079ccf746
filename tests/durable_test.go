package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// jobsDB is a fresh -db file for one test, in its own folder.
func jobsDB(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "jobs.db")
}

// durableLesson is one row of the tables that prove 07 and 08 alike: 07
// keeps its jobs in a SQLite file with leases, 08 in PostgreSQL through
// River. Both answer the same HTTP and print the same job lines.
type durableLesson struct {
	name string
	// store is a fresh place for a test's jobs: a -db file, a database.
	store func(t *testing.T) string
	// flags start the lesson on store. held is how long a dead worker's
	// job stays its own: 07's -lease; 08's -rescue-after, River's
	// RescueStuckJobsAfter (and each job's deadline).
	flags func(store string, held time.Duration) []string
	// rescueWait bounds a rescue: 07's lease and a quarter of it; for 08
	// also River's leader election (a dead leader's term runs 15 s), the
	// rescuer's sweep (every 30 s) and River's retry and scheduler (1 s,
	// every 5 s).
	rescueWait time.Duration
	// rescued is the line that says job id was rescued, in the process
	// that rescued it: 07's own, or 08's new attempt (River's rescuer
	// logs a count, not the job).
	rescued string
	// returned is the line of a job cut at the end of the budget, and
	// hardStopExit the exit status then: 07 returns the job itself and
	// exits 0; 08's River puts it back (its attempt not counted: 1 when
	// it runs again, not 2) and the program exits 1.
	returned          func(id int, budget time.Duration) string
	hardStopExit      int
	attemptsAfterStop int
}

var durableLessons = []durableLesson{
	{
		name:  "07-durable-jobs",
		store: jobsDB,
		flags: func(store string, held time.Duration) []string {
			return []string{"-db", store, "-lease", held.String()}
		},
		rescueWait: logTimeout,
		rescued:    "job %d rescued (attempt 2)",
		returned: func(id int, budget time.Duration) string {
			return fmt.Sprintf("job %d returned to the queue: cut short: shutdown budget of %s used up", id, budget)
		},
		hardStopExit:      0,
		attemptsAfterStop: 2,
	},
	{
		name:  "08-river",
		store: database,
		flags: func(store string, held time.Duration) []string {
			return []string{"-database-url", store, "-rescue-after", held.String()}
		},
		rescueWait: riverRescueWait,
		rescued:    "job %d started (attempt 2)",
		returned: func(id int, _ time.Duration) string {
			return fmt.Sprintf("job %d returned to the queue (attempt 1): cut short: stop initiated", id)
		},
		hardStopExit:      1,
		attemptsAfterStop: 1,
	},
}

// startDurable starts 07-durable-jobs on the jobs database db.
func startDurable(t *testing.T, db string, args ...string) *server {
	t.Helper()
	return startServer(t, "07-durable-jobs", append([]string{"-db", db}, args...)...)
}

// getJob asks the server for job id: its status code and, with 200, the job.
func getJob(t *testing.T, s *server, id int) (int, client.JobStatus) {
	t.Helper()
	r := send(http.MethodGet, s.url(fmt.Sprintf("/jobs/%d", id)))
	if r.err != nil {
		t.Fatalf("GET /jobs/%d: %v", id, r.err)
	}
	var j client.JobStatus
	if r.status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.body), &j); err != nil || j.ID != id {
			t.Fatalf("GET /jobs/%d: want {\"id\": %d, ...}, got %q (%v)", id, id, r.body, err)
		}
	}
	return r.status, j
}

// waitDone polls GET /jobs/:id until the job is done, and returns it.
func waitDone(t *testing.T, s *server, id int) client.JobStatus {
	t.Helper()
	return waitDoneWithin(t, s, id, logTimeout)
}

// waitDoneWithin is waitDone with a limit of its own, for a rescue.
func waitDoneWithin(t *testing.T, s *server, id int, limit time.Duration) client.JobStatus {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		status, j := getJob(t, s, id)
		if status == http.StatusOK && j.State == "done" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d not done after %s: status %d, %+v\noutput:\n%s", id, limit, status, j, s.out)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// assertJob checks a done job's attempts and effects. atLeast allows more
// attempts than want: a rescued job may have been rescued again.
func assertJob(t *testing.T, j client.JobStatus, attempts int, atLeast bool) {
	t.Helper()
	if j.State != "done" || j.Effects != 1 || j.Attempts < attempts || (!atLeast && j.Attempts != attempts) {
		t.Errorf("job %d: want done, %d attempt(s), effects 1; got %+v", j.ID, attempts, j)
	}
}

// startedJob returns the id of the job a one-worker process started, from
// its "job N started (attempt 1)" line.
func startedJob(t *testing.T, p *server) int {
	t.Helper()
	p.waitLog(t, " started (attempt 1)", 1)
	m := regexp.MustCompile(`job (\d+) started \(attempt 1\)`).FindStringSubmatch(p.out.lines(" started (attempt 1)")[0])
	id, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The lesson's contrast in one table: one worker runs a job, another waits
// in the queue, and SIGKILL lands: no handler runs, nothing drains, the
// log reports neither job's fate. Started again, 03-workers has forgotten
// both (the next job gets id 1 again); 07-durable-jobs and 08-river finish
// both, the running one rescued, each with its effect once.
func TestSIGKILLQueuedJobs(t *testing.T) {
	t.Parallel()
	rows := []*durableLesson{{name: "03-workers"}}
	for i := range durableLessons {
		rows = append(rows, &durableLessons[i])
	}
	byRow := inTurn(t) // 08-river's row waits for River's rescuer
	defer byRow.Wait()
	for _, l := range rows {
		byRow.Run(l.name, func(t *testing.T) {
			kept := l.store != nil
			var firstFlags, againFlags []string
			if kept {
				// The killed process's 1 s lease is what 07's restart waits
				// out; the restart's 3 s lets its renewals come up to 2 s
				// late on a busy machine before a live worker loses a job.
				// 08's restart rescues after its own 3 s.
				store := l.store(t)
				firstFlags, againFlags = l.flags(store, time.Second), l.flags(store, 3*time.Second)
			}
			s := startServer(t, l.name, append(firstFlags, "-workers", "1", "-work", "60s")...)
			ids := []int{postJob(t, s), postJob(t, s)}
			s.waitLog(t, fmt.Sprintf("job %d started", ids[0]), 1)
			s.signal(t, syscall.SIGKILL)
			s.assertKilledBy(t, s.waitExit(t), syscall.SIGKILL)
			if got := fates(s, ids); len(got) != 0 {
				t.Errorf("a killed process reports no job's fate, got %v", got)
			}

			again := startServer(t, l.name, append(againFlags, "-workers", "1", "-work", "100ms")...)
			nextID := 1
			if kept {
				assertJob(t, waitDoneWithin(t, again, ids[0], l.rescueWait), 2, true)
				assertJob(t, waitDone(t, again, ids[1]), 1, false)
				nextID = 3
			}
			if next := postJob(t, again); next != nextID {
				t.Errorf("the next job after the restart: want id %d, got %d", nextID, next)
			}
		})
	}
}

// SIGKILL while one job runs and two wait: started again on the same
// store, the process finishes all three. The running one is rescued (07:
// its lease ran out; 08: River's rescuer found it running for longer than
// -rescue-after), runs a second time, and has its effect once.
func TestKilledJobRescuedAfterRestart(t *testing.T) {
	t.Parallel()
	rows := inTurn(t) // 08-river's row waits for River's rescuer
	defer rows.Wait()
	for _, l := range durableLessons {
		rows.Run(l.name, func(t *testing.T) {
			// 3 s: a renewal may come up to 2 s late on a busy machine
			// before the killed process rescues its own live job, or the
			// restarted one loses a job it runs.
			const held = 3 * time.Second
			store := l.store(t)
			s := startServer(t, l.name, append(l.flags(store, held), "-workers", "1", "-work", "60s")...)
			ids := []int{postJob(t, s), postJob(t, s), postJob(t, s)}
			s.waitLog(t, fmt.Sprintf("job %d started (attempt 1)", ids[0]), 1)
			s.signal(t, syscall.SIGKILL)
			s.assertKilledBy(t, s.waitExit(t), syscall.SIGKILL)

			again := startServer(t, l.name, append(l.flags(store, held), "-workers", "1", "-work", "100ms")...)
			assertJob(t, waitDoneWithin(t, again, ids[0], l.rescueWait), 2, true)
			for _, id := range ids[1:] {
				assertJob(t, waitDone(t, again, id), 1, false)
			}
			rescued, ok := again.out.First(fmt.Sprintf(l.rescued, ids[0]))
			if !ok {
				t.Fatalf("want %q\noutput:\n%s", fmt.Sprintf(l.rescued, ids[0]), again.out)
			}
			// Measured, not asserted: 07, the lease left at the kill plus
			// up to a quarter lease until the next look; 08, -rescue-after,
			// the dead leader's term, the sweep, the retry and scheduler.
			t.Logf("job %d rescued %s after the kill, %s", ids[0], rescued.At.Sub(s.ExitedAt).Round(time.Millisecond), strings.Join(l.flags("", held)[2:], " "))
			again.signal(t, syscall.SIGTERM)
			again.assertExitedWith(t, again.waitExit(t), 0)
		})
	}
}

// The process dies between committing a job and answering 202, as far as
// the client can tell: it sends the whole POST and is cut before it reads
// the answer, and SIGKILL lands once the job is committed. The client
// retries with the same Idempotency-Key, after the restart: it gets the
// same id, and exactly one job exists.
func TestAnswerLostRetrySameKey(t *testing.T) {
	t.Parallel()
	rows := inTurn(t) // 08-river's row waits for River's rescuer
	defer rows.Wait()
	for _, l := range durableLessons {
		rows.Run(l.name, func(t *testing.T) {
			const key, payload = "order-42", "charge 42 EUR"
			store := l.store(t)
			s := startServer(t, l.name, append(l.flags(store, time.Second), "-workers", "1", "-work", "60s")...)
			conn := dial(t, s.addr)
			if _, err := fmt.Fprintf(conn, "POST /jobs HTTP/1.1\r\nHost: %s\r\nIdempotency-Key: %s\r\nContent-Length: %d\r\n\r\n%s", s.addr, key, len(payload), payload); err != nil {
				t.Fatal(err)
			}
			conn.Close() // the client never reads its answer
			s.waitLog(t, "job 1 queued", 1)
			s.signal(t, syscall.SIGKILL)
			s.assertKilledBy(t, s.waitExit(t), syscall.SIGKILL)

			again := startServer(t, l.name, append(l.flags(store, time.Second), "-workers", "1", "-work", "100ms")...)
			for retry := 1; retry <= 2; retry++ {
				if id := postKeyed(t, again, key, payload); id != 1 {
					t.Fatalf("retry %d with the same Idempotency-Key: want id 1, got %d", retry, id)
				}
			}
			if status, _ := getJob(t, again, 2); status != http.StatusNotFound {
				t.Errorf("GET /jobs/2: want 404, got %d", status)
			}
			assertJob(t, waitDoneWithin(t, again, 1, l.rescueWait), 1, true)
			if n := len(again.out.lines(fmt.Sprintf("job 1 already accepted with Idempotency-Key %q", key))); n != 2 || len(again.out.lines("job 1 queued")) != 0 {
				t.Errorf("want both retries answered from the stored job\noutput:\n%s", again.out)
			}
		})
	}
}

// SIGTERM with too short a budget: the workers stop taking jobs (job 2
// never starts), the running job is cut and put back in the queue: nothing
// is lost. 07 exits 0; 08 exits 1, the status of River's hard stop. A
// restart finishes both, and takes job 1 from the queue at once, not
// through a rescue.
func TestRunningJobReturnedAtDeadline(t *testing.T) {
	t.Parallel()
	for _, l := range durableLessons {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			const budget = time.Second
			store := l.store(t)
			s := startServer(t, l.name, append(l.flags(store, 10*time.Second), "-workers", "1", "-work", "60s", "-timeout", budget.String())...)
			ids := []int{postJob(t, s), postJob(t, s)}
			s.waitLog(t, fmt.Sprintf("job %d started (attempt 1)", ids[0]), 1)
			signalled := time.Now()
			s.signal(t, syscall.SIGTERM)
			s.assertExitedWith(t, s.waitExit(t), l.hardStopExit)
			took := time.Since(signalled)
			exiting := 1 - l.hardStopExit // "Server exiting" only with exit 0
			for text, want := range map[string]int{
				l.returned(ids[0], budget):                1,
				fmt.Sprintf("job %d started", ids[1]):     0,
				"2 job(s) stay queued for the next start": 1,
				"Server exiting":                          exiting,
			} {
				if n := len(s.out.lines(text)); n != want {
					t.Errorf("want %d line(s) %q, got %d\noutput:\n%s", want, text, n, s.out)
				}
			}
			if took < budget || took > budget+5*time.Second {
				t.Errorf("exit %s after the signal, want about %s", took.Round(time.Millisecond), budget)
			}

			// 10 s: were job 1 still marked running, the restart could only
			// rescue it after that, past this test's wait.
			again := startServer(t, l.name, append(l.flags(store, 10*time.Second), "-workers", "1", "-work", "100ms")...)
			assertJob(t, waitDone(t, again, ids[0]), l.attemptsAfterStop, false)
			assertJob(t, waitDone(t, again, ids[1]), 1, false)
			for _, rescue := range []string{"rescued", "JobRescuer"} {
				if n := len(again.out.lines(rescue)); n != 0 {
					t.Errorf("a returned job needs no rescue\noutput:\n%s", again.out)
				}
			}
		})
	}
}

// Two processes share one store. SIGKILL one mid-job: the other rescues
// its job and finishes every job, each effect once (07 and 08). SIGSTOP
// one past its lease instead (07; 08's own test is in river_test.go): the
// other rescues the job and runs it again. When the stalled one wakes up
// (SIGCONT), its done transaction finds the job no longer its own and
// applies nothing: still one effect. It wakes up once the other finished
// the job (the row says done), or while the other still runs it: the row
// says running, as it did for the stalled worker, and only the attempt
// number, the fencing token, tells the two apart.
func TestTwoProcessesShareTheQueue(t *testing.T) {
	t.Parallel()
	rows := inTurn(t) // 08-river's SIGKILL row waits for River's rescuer
	defer rows.Wait()
	for _, l := range durableLessons {
		rows.Run("SIGKILL/"+l.name, func(t *testing.T) {
			// 3 s leases: a renewal may come up to 2 s late on a busy
			// machine before a live worker loses its job to a rescue.
			store := l.store(t)
			a := startServer(t, l.name, append(l.flags(store, 3*time.Second), "-workers", "1", "-work", "60s")...)
			var ids []int
			for range 4 {
				ids = append(ids, postJob(t, a))
			}
			cut := startedJob(t, a)
			// The second process starts once the first holds a job: started
			// at once beside it, it could take every job first on an idle
			// machine (08-river's did, in three quiet runs of three), and
			// there would be nothing to kill mid-job.
			b := startServer(t, l.name, append(l.flags(store, 3*time.Second), "-workers", "1", "-work", "100ms")...)
			a.signal(t, syscall.SIGKILL)
			a.assertKilledBy(t, a.waitExit(t), syscall.SIGKILL)

			for _, id := range ids {
				if id == cut {
					assertJob(t, waitDoneWithin(t, b, id, l.rescueWait), 2, true)
				} else {
					assertJob(t, waitDone(t, b, id), 1, false)
				}
			}
			if len(b.out.lines(fmt.Sprintf(l.rescued, cut))) != 1 {
				t.Errorf("want job %d rescued by the other process\noutput:\n%s", cut, b.out)
			}
			b.signal(t, syscall.SIGTERM)
			b.assertExitedWith(t, b.waitExit(t), 0)
		})
	}
	rows.Run("SIGSTOP", func(t *testing.T) {
		stops := inTurn(t)
		defer stops.Wait()
		for _, tc := range []struct {
			name string
			// takeover is how long the second attempt takes: short, done
			// before the SIGCONT; long, still running after it.
			takeover  time.Duration
			resumeMid bool
		}{
			{"SIGCONT-after-takeover", 100 * time.Millisecond, false},
			{"SIGCONT-during-takeover", 5 * time.Second, true},
		} {
			stops.Run(tc.name, func(t *testing.T) {
				// Long enough that SIGSTOP lands before the first renewal (a
				// third of it) on a busy machine: at 3 s, one came after 1.08 s.
				const lease = 6 * time.Second
				db := jobsDB(t)
				a := startDurable(t, db, "-workers", "1", "-work", "2s", "-lease", lease.String())
				posted := time.Now()
				id := postJob(t, a)
				a.waitLog(t, fmt.Sprintf("job %d started (attempt 1)", id), 1)
				stopBeforeRenewal(t, a, posted, lease)

				b := startDurable(t, db, "-workers", "1", "-work", tc.takeover.String(), "-lease", lease.String())
				if tc.resumeMid {
					b.waitLog(t, fmt.Sprintf("job %d started (attempt 2)", id), 1)
				} else {
					assertJob(t, waitDone(t, b, id), 2, false)
				}
				a.signal(t, syscall.SIGCONT)
				// Queued, started, and then how its attempt ended.
				a.waitLog(t, fmt.Sprintf("job %d ", id), 3)
				if lost := fmt.Sprintf("job %d lost its lease (attempt 1): effect not applied", id); len(a.out.lines(lost)) != 1 {
					t.Fatalf("want %q from the stalled process\noutput:\n%s", lost, a.out)
				}
				if tc.resumeMid {
					// Still running after the stalled worker gave up: its done
					// transaction met the row in state running, and only the
					// attempt number turned it away.
					if _, j := getJob(t, b, id); j.State != "running" || j.Attempts != 2 {
						t.Fatalf("want job %d still running attempt 2 after the stalled process gave up, got %+v: the takeover ended too early to tell", id, j)
					}
				}

				// Only a done transaction that committed logs "done", and
				// the effect is written in it: one line, from the process
				// that ran attempt 2, means the effect is attempt 2's.
				assertJob(t, waitDone(t, b, id), 2, false)
				// The log line follows the commit that GET /jobs/ID sees:
				// wait for it before counting.
				done := fmt.Sprintf("job %d done", id)
				b.waitLog(t, done, 1)
				if na, nb := len(a.out.lines(done)), len(b.out.lines(done)); na != 0 || nb != 1 {
					t.Errorf("want %q once, from the process that took over; got %d and %d\noutputs:\n%s\n%s", done, na, nb, a.out, b.out)
				}
				for _, p := range []*server{a, b} {
					p.signal(t, syscall.SIGTERM)
					p.assertExitedWith(t, p.waitExit(t), 0)
				}
			})
		}
	})
}

// stopBeforeRenewal stops p (SIGSTOP), a process with one worker that
// started a job posted at posted, and waits until the kernel shows every
// thread of it stopped. A process stopped while it commits a write keeps
// SQLite's write lock and stalls every other process on the file; the
// only write this one makes while its job runs is the lease's renewal, a
// third of the lease after the job started. The test fails unless the
// process was seen stopped before that (stopProcess).
func stopBeforeRenewal(t *testing.T, p *server, posted time.Time, lease time.Duration) {
	t.Helper()
	stopProcess(t, p)
	if took := time.Since(posted); took >= lease/3 {
		t.Fatalf("%s stopped %s after the job was posted, not within a third of its %s lease: it may have stopped while it renewed", p.name, took.Round(time.Millisecond), lease)
	}
}

// allThreadsStopped reports whether every thread of pid is in the stopped
// state ('T' in /proc/PID/task/TID/stat).
func allThreadsStopped(t *testing.T, pid int) bool {
	t.Helper()
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		t.Fatalf("no threads of pid %d in /proc (%v)", pid, err)
	}
	for _, file := range stats {
		stat, err := os.ReadFile(file)
		if err != nil {
			return false // a thread that just ended; look again
		}
		// The state follows the command name, which is in parentheses.
		i := strings.LastIndex(string(stat), ") ")
		if i < 0 || !strings.HasPrefix(string(stat[i+2:]), "T") {
			return false
		}
	}
	return true
}

// A -db that cannot be opened, or is not SQLite, ends the program at
// start with one line that names it, and exit status 1.
func TestBadJobsDB(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notSQLite := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notSQLite, []byte("not a database, a note\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, db, want string }{
		{"not-sqlite", notSQLite, "file is not a database"},
		{"missing-folder", filepath.Join(dir, "missing", "jobs.db"), "unable to open database file"},
		{"a-folder", dir, "unable to open database file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			s := launch(t, filepath.Join(binDir, "07-durable-jobs"), freePort(t), "-db", tc.db)
			s.assertExitedWith(t, s.waitExit(t), 1)
			out := strings.TrimSuffix(s.out.String(), "\n")
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, "-db "+tc.db+": "+tc.want) {
				t.Errorf("want one line about -db %s: %s, got %q", tc.db, tc.want, out)
			}
		})
	}
}

// A -db name with the characters a URI gives a meaning to (? starts the
// options, # a fragment, %41 stands for A) opens the file with exactly that
// name: the job is stored there, and no other file is created beside it.
func TestJobsDBNameWithURICharacters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const name = "jobs%41#1?mode=ro.db"
	db := filepath.Join(dir, name)
	s := startDurable(t, db, "-work", "100ms")
	assertJob(t, waitDone(t, s, postJob(t, s)), 1, false)
	s.signal(t, syscall.SIGTERM)
	s.assertExitedWith(t, s.waitExit(t), 0)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	others := 0
	for _, e := range entries {
		names = append(names, e.Name())
		// SQLite's -wal and -shm files, should they stay, carry the name too.
		if !strings.HasPrefix(e.Name(), name) {
			others++
		}
	}
	if _, err := os.Stat(db); err != nil || others != 0 {
		t.Errorf("want %q and nothing else in the folder, got %q (%v)", name, names, err)
	}
}

// A -db file the program may read but not write: SQLite opens it
// read-only without a word, and the program must still end at start, not
// at the first job. As root, who may write any file, the program runs as
// nobody (65534), from a copy that nobody may run.
func TestReadOnlyJobsDB(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "jobs.db")
	s := startDurable(t, db, "-timeout", "20s")
	s.signal(t, syscall.SIGTERM)
	s.assertExitedWith(t, s.waitExit(t), 0)
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "07-durable-jobs")
	var nobody *syscall.SysProcAttr
	if os.Geteuid() == 0 {
		// Copied by cp, not written by this process: a child another test
		// forks meanwhile would inherit our descriptor open for writing,
		// and exec fails with "text file busy" (seen in a -race soak).
		copied := filepath.Join(dir, "07-durable-jobs")
		if out, err := exec.Command("cp", bin, copied).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		bin = copied
		// The folder writable for all, as the user's own folder would be:
		// SQLite may create its -wal and -shm files beside the database.
		for d, mode := range map[string]os.FileMode{dir: 0o777, filepath.Dir(dir): 0o755} {
			if err := os.Chmod(d, mode); err != nil {
				t.Fatal(err)
			}
		}
		nobody = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd := proc.ServerCommand(bin, freePort(t), "-db", db)
	cmd.SysProcAttr = nobody
	p := startProcess(t, cmd)
	p.assertExitedWith(t, p.waitExit(t), 1)
	out := strings.TrimSuffix(p.out.String(), "\n")
	if strings.Count(out, "\n") != 0 || !strings.Contains(out, "-db "+db+": attempt to write a readonly database") {
		t.Errorf("want one line saying -db %s is read-only, got %q", db, out)
	}
}

// A lease or a worker count it cannot use: reported like a bad flag, the
// error on the first line, exit 2.
func TestBadLeaseOrWorkers(t *testing.T) {
	t.Parallel()
	// 999ms: just below the shortest lease that works (minLease). With
	// -lease 1ms a job would be rescued from its live worker again and again.
	for _, args := range [][]string{{"-lease", "0s"}, {"-lease", "-1s"}, {"-lease", "999ms"}, {"-workers", "0"}} {
		t.Run(strings.Join(args, "="), func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			s := launch(t, filepath.Join(binDir, "07-durable-jobs"), freePort(t), append([]string{"-db", jobsDB(t)}, args...)...)
			s.assertExitedWith(t, s.waitExit(t), 2)
			if first, _, _ := strings.Cut(s.out.String(), "\n"); first != "-workers must be at least 1 and -lease at least 1s" {
				t.Errorf("want the error on the first line, got %q", first)
			}
		})
	}
}
