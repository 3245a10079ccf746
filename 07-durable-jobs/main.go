// 07-durable-jobs is 03-workers with its queue on disk, in a SQLite file.
// 03 drains its jobs on SIGTERM and loses every one of them on SIGKILL:
// they live in a channel, and kill -9, the OOM killer, a grace period that
// ran out or a crashed node takes the channel with it. Graceful shutdown is
// the polite path; the crash path needs crash-only design, where a crash
// and a restart are the normal way to stop and start:
//  1. POST /jobs commits the job before it answers 202, so a 202 survives
//     kill -9. A client that never saw its answer retries with the same
//     Idempotency-Key and gets the same job, not a second one;
//  2. a worker claims a job with a lease of -lease and keeps renewing it
//     while the job runs. A lease that ran out means a dead (or stalled)
//     worker: the job is rescued, queued again for any worker of any
//     process that shares the -db file;
//  3. the job's effect is a row written in the transaction that marks the
//     job done, and that transaction first checks that the worker still
//     holds the job: a job may run twice, its effect happens once.
//
// A graceful shutdown drains HTTP as 03 does, then stops claiming: queued
// jobs are safe on disk and wait for the next start. A job still running
// when the -timeout budget runs out is returned to the queue, not lost, so
// the process exits 0; exit 1 only when HTTP requests in flight were cut.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	_ "modernc.org/sqlite" // the "sqlite" driver: pure Go, nothing to install
)

func main() {
	// The defaults are the post's numbers where it has them (as in 03);
	// the post has no durable jobs, so -db and -lease are this lesson's.
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests and jobs")
	workers := flag.Int("workers", 2, "how many jobs run at the same time")
	work := flag.Duration("work", 2*time.Second, "how long one job takes")
	dbPath := flag.String("db", "jobs.db", "the SQLite file that holds the jobs (created if missing)")
	lease := flag.Duration("lease", 10*time.Second, "how long a claimed job stays its worker's without a renewal")
	flag.Parse()
	if *workers < 1 || *lease < minLease {
		// A value the flag package accepts but this program cannot use:
		// report it the way the flag package reports a bad flag.
		fmt.Fprintf(flag.CommandLine.Output(), "-workers must be at least 1 and -lease at least %s\n", minLease)
		flag.Usage()
		os.Exit(2)
	}

	// run returns instead of calling log.Fatal itself, so its deferred
	// cleanup always runs before the process exits non-zero.
	if err := run(*addr, *delay, *timeout, *workers, *work, *dbPath, *lease); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, timeout time.Duration, workers int, work time.Duration, dbPath string, lease time.Duration) error {
	// A -db that cannot be written, or is not SQLite, ends the program
	// here, before it listens: never at the first POST.
	queue, err := openJobStore(dbPath, lease, workers)
	if err != nil {
		return err
	}
	defer queue.close()

	// Jobs run under their own context, cancelled only when the shutdown
	// budget runs out: a job in progress is never cut short by the signal.
	jobCtx, cutJobs := context.WithCancelCause(context.Background())
	defer cutJobs(nil)

	// Workers claim jobs until the shutdown stops them: from then on the
	// queued jobs wait on disk.
	claimCtx, stopClaiming := context.WithCancel(context.Background())
	defer stopClaiming()

	// A job whose lease ran out while this process was down (kill -9) is
	// taken back at start, and, while it runs, one whose worker in another
	// process died or stalled.
	queue.rescue()
	var pool sync.WaitGroup
	pool.Go(func() { queue.keepRescuing(claimCtx) })
	for n := range workers {
		worker := fmt.Sprintf("pid %d worker %d", os.Getpid(), n+1)
		pool.Go(func() {
			for {
				j, err := queue.claim(claimCtx, worker)
				if err != nil {
					return // the shutdown stopped claiming
				}
				runClaimed(jobCtx, queue, j, work)
			}
		})
	}

	router := gin.Default()
	router.GET("/", func(c *gin.Context) {
		// This line lets you (and the tests) see that the request is
		// inside the handler before the signal is sent.
		log.Printf("GET / started, answering in %s", delay)
		time.Sleep(delay)
		c.String(http.StatusOK, "Welcome Gin Server")
	})
	router.POST("/jobs", func(c *gin.Context) {
		// The body says what to do. A slow client may still be sending it
		// when the signal lands: this handler is then in flight, and the
		// shutdown must let it store the job (see step 1 below).
		log.Println("POST /jobs started, reading the job")
		payload, err := io.ReadAll(io.LimitReader(c.Request.Body, 1<<20))
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": "reading the job: " + err.Error()})
			return
		}
		// The 202 is a promise: make it only once the job is committed.
		// A client that never got it (the process died before answering,
		// the connection broke) cannot tell whether the job exists; the
		// same Idempotency-Key again answers with the job it made.
		key := c.GetHeader("Idempotency-Key")
		id, added, err := queue.add(key, payload)
		if err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": "storing the job: " + err.Error()})
			return
		}
		if added {
			log.Printf("job %d queued", id)
		} else {
			log.Printf("job %d already accepted with Idempotency-Key %q", id, key)
		}
		c.JSON(http.StatusAccepted, gin.H{"id": id})
	})
	router.GET("/jobs/:id", func(c *gin.Context) {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil {
			c.JSON(http.StatusNotFound, gin.H{"error": "no such job"})
			return
		}
		status, err := queue.status(id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			c.JSON(http.StatusNotFound, gin.H{"error": "no such job"})
		case err != nil:
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": "reading the job: " + err.Error()})
		default:
			c.JSON(http.StatusOK, status)
		}
	})

	srv := &http.Server{
		Addr:    addr,
		Handler: router,
	}

	// The post makes a channel and calls signal.Notify; NotifyContext does
	// the same job and hands back a context that is done at the first
	// SIGINT (Ctrl+C, kill -2) or SIGTERM (kill, docker stop, Kubernetes).
	// It comes before serving: a signal that beat it would kill the process.
	// SIGKILL (kill -9) cannot be caught by any program: what it cuts short
	// is on disk, and the next start (or another process) picks it up.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Serve in the background so that run can wait for a signal. The post
	// calls log.Fatal inside this goroutine; sending the error back instead
	// lets a busy port end the program through the same return path.
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- srv.ListenAndServe()
	}()

	select {
	case err := <-serveErr:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}

	// Stop catching signals: from now on a second Ctrl+C gets Go's default
	// action and kills the process at once, for when the drain takes too long.
	stop()
	log.Println("Shutdown Server ... (press Ctrl+C again to force exit)")

	// One budget for the whole drain: whatever HTTP does not use is left
	// for the running jobs. When it runs out, they are cut short.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stopCutting := context.AfterFunc(shutdownCtx, func() {
		cutJobs(fmt.Errorf("shutdown budget of %s used up", timeout))
	})
	defer stopCutting()

	// Step 1, HTTP first: once Shutdown returns nil, no handler is running,
	// so nothing can queue a job any more; a POST still reading its job at
	// the signal has stored it. See 02-graceful for what a timed-out
	// Shutdown does and does not do (its handlers may still run).
	httpErr := srv.Shutdown(shutdownCtx)
	if httpErr != nil {
		log.Printf("Server Shutdown: %v", httpErr)
	}

	// Step 2, stop claiming. Unlike 03, no need to drain the queue: the
	// jobs in it are on disk and wait for the next start.
	stopClaiming()
	log.Println("Waiting for workers to finish the running jobs ...")

	// Step 3, wait for the jobs already running: each one ends done, or,
	// when the budget runs out, back in the queue.
	pool.Wait()

	if queued, err := queue.queued(); err != nil {
		log.Printf("counting the queued jobs: %v", err)
	} else {
		log.Printf("%d job(s) stay queued for the next start", queued)
	}
	if httpErr != nil {
		return fmt.Errorf("shutdown incomplete: %w", httpErr)
	}
	log.Println("Server exiting")
	return nil
}

// job is one claimed job: attempt is how often a worker started it,
// counting this time. It is also the claim's fencing token: a worker holds
// the job only while the row still says running, with its attempt.
type job struct {
	id      int64
	attempt int64
	worker  string
	payload []byte // what to do
}

// runClaimed runs a claimed job under its lease, and records how it ended:
// done with its effect, returned to the queue, or lost to another worker.
func runClaimed(ctx context.Context, queue *jobStore, j job, work time.Duration) {
	log.Printf("job %d started (attempt %d)", j.id, j.attempt)
	stopRenewing := queue.keepLease(j)
	err := runJob(ctx, work)
	stopRenewing()
	if err != nil {
		// The budget ran out: give the job back rather than lose it. Had
		// this failed too, the lease would run out and the job be rescued.
		if err := queue.giveBack(j); err != nil {
			log.Printf("job %d not returned to the queue: %v", j.id, err)
			return
		}
		log.Printf("job %d returned to the queue: %v", j.id, err)
		return
	}
	switch err := queue.finish(j); {
	case errors.Is(err, errLeaseLost):
		// This worker was stalled (SIGSTOP, a long GC pause) past its
		// lease: another one took the job over, and applies the effect.
		log.Printf("job %d lost its lease (attempt %d): effect not applied", j.id, j.attempt)
	case err != nil:
		log.Printf("job %d not marked done (attempt %d): %v", j.id, j.attempt, err)
	default:
		log.Printf("job %d done", j.id)
	}
}

// runJob stands in for real work (rendering a report, resizing images): it
// takes work to finish, unless ctx is cancelled first. The effect the
// world sees comes after, in jobStore.finish.
func runJob(ctx context.Context, work time.Duration) error {
	select {
	case <-time.After(work):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cut short: %w", context.Cause(ctx))
	}
}

// minLease is the shortest -lease that works. A worker renews its lease
// every third of it, each time with a committed write (an fsync) that may
// first wait for the other writers on the file, in SQLite's busy handler,
// which sleeps up to 100 ms between tries. Measured on a busy 2-core
// machine (two processes of 8 workers, -race): at 250 ms live workers lost
// their jobs to rescues, at 500 ms none did; 1 s leaves a margin.
const minLease = time.Second

// pollInterval is how often an idle worker looks for a job that another
// process queued or rescued; a job posted here wakes one at once.
const pollInterval = 250 * time.Millisecond

var errLeaseLost = errors.New("the job is no longer this worker's")

// jobStore is the queue, in a SQLite file that several processes may
// share. Every change is one transaction; SQLite lets one writer at a time
// in, and makes the others wait (busy_timeout) instead of failing.
type jobStore struct {
	db    *sql.DB
	lease time.Duration
	wake  chan struct{} // one token per job posted here, for idle workers
}

const schema = `
CREATE TABLE IF NOT EXISTS jobs (
	id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
	idempotency_key TEXT UNIQUE,                       -- NULL when the client sent none
	payload         BLOB NOT NULL,
	state           TEXT NOT NULL DEFAULT 'queued',    -- queued, running or done
	attempts        INTEGER NOT NULL DEFAULT 0,        -- how often a worker started it
	worker          TEXT,                              -- who holds the lease
	lease_until     INTEGER                            -- Unix ms; past it, the job is rescued
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, id);
-- The effect of a job: keyed by the job, so it can exist at most once.
CREATE TABLE IF NOT EXISTS effects (
	job_id     INTEGER PRIMARY KEY, -- jobs.id
	worker     TEXT NOT NULL,
	attempt    INTEGER NOT NULL,
	applied_at INTEGER NOT NULL -- Unix ms
);`

// openJobStore opens (or creates) the database at path and its tables.
func openJobStore(path string, lease time.Duration, workers int) (*jobStore, error) {
	// busy_timeout first: a connection waits up to 10 s for another
	// process's write instead of failing with SQLITE_BUSY. WAL lets GET
	// /jobs/:id read beside a writer; synchronous=FULL fsyncs the log at
	// every commit, so a committed job survives a power cut, not only
	// kill -9. Immediate transactions take the write lock at BEGIN, where
	// busy_timeout applies, not halfway through.
	// The path goes into a file: URI escaped, every / included, as SQLite
	// decodes it: a ?, # or % in the name is part of the file's name, not
	// the start of the options.
	dsn := "file:" + url.PathEscape(path) + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("-db %s: %w", path, err)
	}
	// sql.Open connects lazily: creating the tables is the first use. Then
	// a write that always writes: SQLite opens a file it may not write
	// read-only, without a word, and would fail only at the first job.
	for _, stmt := range []string{schema, `PRAGMA user_version = 1`} {
		if _, err := db.Exec(stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("-db %s: %w", path, err)
		}
	}
	return &jobStore{db: db, lease: lease, wake: make(chan struct{}, workers)}, nil
}

func (s *jobStore) close() {
	if err := s.db.Close(); err != nil {
		log.Printf("closing the jobs database: %v", err)
	}
}

// add stores a job and reports its id. With a key it already knows, it
// stores nothing and returns the job that key made, also after a restart.
func (s *jobStore) add(key string, payload []byte) (id int64, added bool, err error) {
	tx, err := s.db.Begin()
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback()
	if key != "" {
		err := tx.QueryRow(`SELECT id FROM jobs WHERE idempotency_key = ?`, key).Scan(&id)
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, false, err
		}
	}
	err = tx.QueryRow(`INSERT INTO jobs (idempotency_key, payload) VALUES (?, ?) RETURNING id`,
		sql.NullString{String: key, Valid: key != ""}, payload).Scan(&id)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return 0, false, err
	}
	select {
	case s.wake <- struct{}{}:
	default: // every idle worker has a token already
	}
	return id, true, nil
}

// claim waits for a queued job and takes it, with a fresh lease, until ctx
// is done. One UPDATE finds and takes the job: two workers, in one process
// or two, cannot take the same. An idle worker only reads (see rescue).
func (s *jobStore) claim(ctx context.Context, worker string) (job, error) {
	for ctx.Err() == nil {
		var queued bool
		err := s.db.QueryRow(`SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued')`).Scan(&queued)
		if err == nil && queued {
			j := job{worker: worker}
			err = s.db.QueryRow(`
				UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?, lease_until = ?
				WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1)
				RETURNING id, attempts, payload`,
				worker, s.leaseEnd()).Scan(&j.id, &j.attempt, &j.payload)
			if err == nil {
				return j, nil
			}
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			log.Printf("claiming a job: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-time.After(pollInterval):
		}
	}
	return job{}, ctx.Err()
}

func (s *jobStore) leaseEnd() int64 {
	return time.Now().Add(s.lease).UnixMilli()
}

// keepLease renews j's lease three times per -lease until the returned
// function is called. It stops by itself once the job is no longer this
// worker's, and lets finish say so.
func (s *jobStore) keepLease(j job) (stop func()) {
	done := make(chan struct{})
	var renewing sync.WaitGroup
	renewing.Go(func() {
		ticker := time.NewTicker(s.lease / 3)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
			}
			res, err := s.db.Exec(`UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND attempts = ?`,
				s.leaseEnd(), j.id, j.attempt)
			if err != nil {
				log.Printf("job %d: renewing its lease: %v", j.id, err)
				continue
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return
			}
		}
	})
	return func() {
		close(done)
		renewing.Wait()
	}
}

// finish marks j done and applies its effect, in one transaction, and only
// if the worker still holds the job: if its lease ran out and another
// worker took it, nothing changes and finish returns errLeaseLost. The
// effect's key (the job) is the second guard: a second effect for the same
// job would break the transaction, never count twice.
func (s *jobStore) finish(j job) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`UPDATE jobs SET state = 'done', worker = NULL, lease_until = NULL
		WHERE id = ? AND state = 'running' AND attempts = ?`, j.id, j.attempt)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(errLeaseLost, err)
	}
	if _, err := tx.Exec(`INSERT INTO effects (job_id, worker, attempt, applied_at) VALUES (?, ?, ?, ?)`,
		j.id, j.worker, j.attempt, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// giveBack returns j to the queue, if the worker still holds it.
func (s *jobStore) giveBack(j job) error {
	res, err := s.db.Exec(`UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL
		WHERE id = ? AND state = 'running' AND attempts = ?`, j.id, j.attempt)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errLeaseLost
	}
	return nil
}

// rescue queues again every job whose lease ran out: its worker died, or
// stalled. A lease cannot tell which; finish makes the difference harmless.
func (s *jobStore) rescue() {
	// Look before writing: an UPDATE takes SQLite's one write lock even
	// when it changes nothing, and a process stalled while it holds that
	// lock (SIGSTOP) would stall every process that shares the file.
	now := time.Now().UnixMilli()
	var expired bool
	if err := s.db.QueryRow(`SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'running' AND lease_until < ?)`, now).Scan(&expired); err != nil || !expired {
		if err != nil {
			log.Printf("rescuing jobs: %v", err)
		}
		return
	}
	rows, err := s.db.Query(`UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL
		WHERE state = 'running' AND lease_until < ? RETURNING id, attempts`, now)
	if err != nil {
		log.Printf("rescuing jobs: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id, attempts int64
		if err := rows.Scan(&id, &attempts); err != nil {
			log.Printf("rescuing jobs: %v", err)
			return
		}
		log.Printf("job %d rescued (attempt %d): its lease ran out", id, attempts+1)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	if err := rows.Err(); err != nil {
		log.Printf("rescuing jobs: %v", err)
	}
}

// keepRescuing calls rescue four times per -lease until ctx is done.
func (s *jobStore) keepRescuing(ctx context.Context) {
	ticker := time.NewTicker(s.lease / 4)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			s.rescue()
		}
	}
}

// jobStatus is the answer to GET /jobs/:id.
type jobStatus struct {
	ID       int64  `json:"id"`
	State    string `json:"state"`
	Attempts int64  `json:"attempts"`
	Effects  int64  `json:"effects"` // how often its effect was applied
}

func (s *jobStore) status(id int64) (jobStatus, error) {
	st := jobStatus{ID: id}
	err := s.db.QueryRow(`SELECT state, attempts, (SELECT COUNT(*) FROM effects WHERE job_id = jobs.id)
		FROM jobs WHERE id = ?`, id).Scan(&st.State, &st.Attempts, &st.Effects)
	return st, err
}

func (s *jobStore) queued() (int64, error) {
	var n int64
	err := s.db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE state = 'queued'`).Scan(&n)
	return n, err
}
