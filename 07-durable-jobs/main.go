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
// The database closes last, once the workers have stopped (step 4 below);
// the job store itself is in jobstore.go. connections.go is 06-streaming's
// piece, copied: at the stop it closes the connections that never sent a
// whole request header, which Shutdown would wait for, and it ends the
// HTTP drain as soon as the last connection has closed.
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
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
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
	// The shutdown closes the database itself, as its step 4; this is for
	// the returns before it (a second Close does nothing).
	defer queue.close()

	// Jobs run under their own context, cancelled only when the shutdown
	// budget runs out: a job in progress is never cut short by the signal.
	jobCtx, cancelJobs := context.WithCancelCause(context.Background())
	defer cancelJobs(nil)

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
		// shutdown must let it queue the job (see step 1 below).
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
		// A half-sent request header is closed after this (connections.go).
		ReadHeaderTimeout: readHeaderTimeout,
	}
	conns := trackConnections(srv)

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
	// for the workers. When it runs out, jobs still running are cancelled.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stopCancelling := context.AfterFunc(shutdownCtx, func() {
		cancelJobs(fmt.Errorf("shutdown budget of %s used up", timeout))
	})
	defer stopCancelling()

	// Step 1, HTTP first: once Shutdown returns nil, no handler is running,
	// so nothing can queue a job any more; a POST still reading its job at
	// the signal has queued it. See 02-graceful for what a timed-out
	// Shutdown does and does not do (its handlers may still run).
	// conns.shutdown is Shutdown plus connections.go.
	httpErr := conns.shutdown(shutdownCtx, serveErr)
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

	// Step 4, close the database (the post's "關閉 Database 連線"), and
	// only now that every worker has stopped: the last job's done
	// transaction has committed before the connection goes. Closed any
	// earlier, that write would fail, and the finished job would run again
	// after its lease ran out.
	if err := queue.close(); err != nil {
		log.Printf("closing the database: %v", err)
	} else {
		log.Println("database closed")
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
