// 03-workers is 02-graceful plus background work, the follow-up lesson
// ("graceful shutdown with multiple workers"). POST /jobs queues a job and
// answers 202 at once; a few workers run the jobs in the background.
//
// A graceful shutdown now has two things to drain, in this order:
//  1. HTTP: close the listener and let in-flight requests finish, so no
//     handler can queue another job;
//  2. the queue: close it, and let the workers finish every job that was
//     accepted with a 202.
//
// Both share one -timeout budget. A job still unfinished when it runs out is
// logged "job N abandoned" and the process exits non-zero, so the loss is
// never silent. Every job ends with exactly one "job N done" or "job N
// abandoned" line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	// The defaults are the post's numbers, as in 02-graceful. The workers are
	// the post's closing advice ("wait for the background workers", from its
	// earlier post on multiple workers): -workers, -work and -queue are this
	// lesson's.
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests and jobs")
	workers := flag.Int("workers", 2, "how many jobs run at the same time")
	work := flag.Duration("work", 2*time.Second, "how long one job takes")
	queueSize := flag.Int("queue", 10, "how many jobs may wait for a worker")
	flag.Parse()
	if *workers < 1 || *queueSize < 0 {
		// A value the flag package accepts but this program cannot use:
		// report it the way the flag package reports a bad flag.
		fmt.Fprintln(flag.CommandLine.Output(), "-workers must be at least 1 and -queue at least 0")
		flag.Usage()
		os.Exit(2)
	}

	// run returns instead of calling log.Fatal itself, so its deferred
	// cleanup always runs before the process exits non-zero.
	if err := run(*addr, *delay, *timeout, *workers, *work, *queueSize); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, timeout time.Duration, workers int, work time.Duration, queueSize int) error {
	queue := newJobQueue(queueSize)

	// Jobs run under their own context, cancelled only when the shutdown
	// budget runs out: a job in progress is never cut short by the signal.
	jobCtx, cancelJobs := context.WithCancelCause(context.Background())
	defer cancelJobs(nil)

	var abandoned atomic.Int64
	var pool sync.WaitGroup
	for range workers {
		pool.Go(func() {
			// A worker leaves this loop only when the queue is closed and
			// empty, so every accepted job reaches one of the two lines.
			for j := range queue.jobs {
				if err := runJob(jobCtx, j, work); err != nil {
					abandoned.Add(1)
					log.Printf("job %d abandoned: %v", j.id, err)
					continue
				}
				log.Printf("job %d done", j.id)
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
		// Never block a handler on a full queue: refuse at once, and let
		// the client retry later.
		id, err := queue.add(payload)
		if err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": err.Error()})
			return
		}
		log.Printf("job %d queued", id)
		c.JSON(http.StatusAccepted, gin.H{"id": id})
	})

	srv := &http.Server{
		Addr:    addr,
		Handler: router,
	}

	// The post makes a channel and calls signal.Notify; NotifyContext does
	// the same job and hands back a context that is done at the first
	// SIGINT (Ctrl+C, kill -2) or SIGTERM (kill, docker stop, Kubernetes).
	// It comes before serving: a signal that beat it would kill the process.
	// SIGKILL (kill -9) cannot be caught by any program: queued jobs die too.
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
	httpErr := srv.Shutdown(shutdownCtx)
	if httpErr != nil {
		log.Printf("Server Shutdown: %v", httpErr)
	}

	// Step 2, then the queue: closing it tells the workers that no job will
	// come after the ones already waiting. (A handler still running after a
	// timed-out Shutdown gets a 503 instead of queueing.)
	queue.close()
	log.Println("Waiting for workers to finish the queued jobs ...")

	// Step 3, wait for the workers to drain every accepted job.
	pool.Wait()

	if n := abandoned.Load(); n > 0 {
		httpErr = errors.Join(httpErr, fmt.Errorf("%d job(s) abandoned", n))
	}
	if httpErr != nil {
		return fmt.Errorf("shutdown incomplete: %w", httpErr)
	}
	log.Println("Server exiting")
	return nil
}

// job is one accepted POST /jobs.
type job struct {
	id      int64
	payload []byte // what to do
}

// runJob stands in for real work (sending an e-mail, charging a card): it
// takes work to finish, unless ctx is cancelled first.
func runJob(ctx context.Context, j job, work time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("never started: %w", context.Cause(ctx))
	}
	log.Printf("job %d started (%d bytes of payload)", j.id, len(j.payload))
	select {
	case <-time.After(work):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cut short: %w", context.Cause(ctx))
	}
}

// jobQueue is a bounded queue that refuses instead of blocking. The mutex
// makes add and close safe to race: a POST that arrives while the queue is
// closing gets an error, never a panic from sending on a closed channel.
type jobQueue struct {
	mu     sync.Mutex
	closed bool
	lastID int64
	jobs   chan job
}

func newJobQueue(size int) *jobQueue {
	return &jobQueue{jobs: make(chan job, size)}
}

func (q *jobQueue) add(payload []byte) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, errors.New("shutting down, not accepting jobs")
	}
	select {
	case q.jobs <- job{id: q.lastID + 1, payload: payload}:
		q.lastID++
		return q.lastID, nil
	default:
		return 0, errors.New("queue is full, try again later")
	}
}

func (q *jobQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	close(q.jobs)
}
