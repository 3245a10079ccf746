// 08-river is 07-durable-jobs on a real job queue: River, on PostgreSQL.
// 07 built the mechanism by hand in one SQLite file on one machine. Once
// several machines share the work, they share one database server, and in
// Go nobody writes the queue again: River (github.com/riverqueue/river)
// stores jobs in PostgreSQL, elects a leader among the processes, retries
// failed jobs and rescues stuck ones. What 07 did by hand, River does:
//  1. POST /jobs inserts the job (a committed row) before it answers 202.
//     The same Idempotency-Key finds the same job (River's unique jobs);
//  2. a running job whose process died stays "running" until the leader's
//     rescuer, which sweeps every 30 s, finds it older than -rescue-after
//     (River's RescueStuckJobsAfter) and queues it again for any process;
//  3. the job's effect is a row written in the transaction that completes
//     the job (River's JobCompleteTx): never an effect without its
//     completion, never two.
//
// River has no fencing token: a late completion of a stalled worker is
// turned away because the row has left "running" (River's state check),
// because the worker's deadline (-rescue-after) passed before the rescue
// could happen, and because the effect's key is the job's id (jobs.go).
//
// A graceful shutdown drains HTTP as 02 does, then River's soft stop
// (Stop): nothing new is fetched, running jobs finish. When the -timeout
// budget runs out, the hard stop (StopAndCancel): running jobs' contexts
// are cancelled, their transactions rolled back, and River puts them back
// in the queue. The connection pool closes last. Exit 0 when every job
// finished, 1 when the hard stop was needed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
)

func main() {
	// The defaults are 07's; -database-url and -rescue-after are this
	// lesson's. River's own RescueStuckJobsAfter is an hour (see README).
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests and jobs")
	workers := flag.Int("workers", 2, "how many jobs run at the same time")
	work := flag.Duration("work", 2*time.Second, "how long one job takes")
	databaseURL := flag.String("database-url", os.Getenv("DATABASE_URL"), "the PostgreSQL database that holds the jobs (default $DATABASE_URL)")
	rescueAfter := flag.Duration("rescue-after", 10*time.Second, "how long a job may run; past it, a job still running is stuck, and River rescues it")
	flag.Parse()
	if *workers < 1 || *rescueAfter <= 0 || *databaseURL == "" {
		// A value the flag package accepts but this program cannot use:
		// report it the way the flag package reports a bad flag.
		fmt.Fprintln(flag.CommandLine.Output(), "-workers must be at least 1, -rescue-after more than 0, and -database-url (or DATABASE_URL) set")
		flag.Usage()
		os.Exit(2)
	}

	// run returns instead of calling log.Fatal itself, so its deferred
	// cleanup always runs before the process exits non-zero.
	if err := run(*addr, *delay, *timeout, *workers, *work, *databaseURL, *rescueAfter); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, timeout time.Duration, workers int, work time.Duration, databaseURL string, rescueAfter time.Duration) error {
	// A -database-url that is not one, or a server that does not answer,
	// ends the program here, before it listens: never at the first POST.
	// River's tables are created here too, by River's own migrations.
	db, err := openDatabase(databaseURL, workers)
	if err != nil {
		return err
	}
	// On the way out through an error, close the pool too (a second Close
	// does nothing): a shutdown closes it itself, in step 4.
	defer db.Close()

	queue, err := newQueue(db, workers, work, rescueAfter)
	if err != nil {
		return err
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
		log.Println("POST /jobs started, reading the job")
		payload, err := io.ReadAll(io.LimitReader(c.Request.Body, 1<<20))
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": "reading the job: " + err.Error()})
			return
		}
		// The 202 is a promise: make it only once River committed the
		// job. The same Idempotency-Key again answers with the job it made.
		// Not the request's context: a client that hangs up once it sent
		// the job would cancel the insert. The job is stored all the same,
		// and a retry with its Idempotency-Key finds it.
		key := c.GetHeader("Idempotency-Key")
		id, added, err := queue.add(context.WithoutCancel(c.Request.Context()), key, payload)
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
		status, err := queue.status(c.Request.Context(), id)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
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

	// As in 02: the first SIGINT or SIGTERM ends ctx. SIGKILL cannot be
	// caught: what it cuts short stays "running" in PostgreSQL until the
	// rescuer of a live process (this one started again, or another)
	// queues it again.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Take the port before River starts: a busy port ends the program
	// before this process runs anyone's job.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	// River fetches and runs jobs from now on, in this process and in
	// every other one on the same database. Its leader (one of them)
	// also runs the rescuer.
	if err := queue.client.Start(context.Background()); err != nil {
		ln.Close()
		return fmt.Errorf("starting River: %w", err)
	}

	serveErr := make(chan error, 1)
	go func() {
		serveErr <- srv.Serve(ln)
	}()

	select {
	case err := <-serveErr:
		queue.client.StopAndCancel(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	// Stop catching signals: a second Ctrl+C kills the process at once.
	stop()
	log.Println("Shutdown Server ... (press Ctrl+C again to force exit)")

	// One budget for the whole drain: whatever HTTP does not use is left
	// for the running jobs.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	// Step 1, HTTP first: once Shutdown returns nil, no handler runs, so
	// nothing can insert a job any more.
	httpErr := srv.Shutdown(shutdownCtx)
	if httpErr != nil {
		log.Printf("Server Shutdown: %v", httpErr)
	}

	// Step 2, River's soft stop: fetch nothing new, let the running jobs
	// finish (each commits its effect with its completion), within what is
	// left of the budget. Queued jobs stay in PostgreSQL for any process.
	log.Println("Waiting for workers to finish the running jobs ...")
	hardStop := false
	if err := queue.client.Stop(shutdownCtx); err != nil {
		// Step 3, only when the budget ran out: the hard stop. River
		// cancels the running jobs' contexts; each job's transaction rolls
		// back, and River makes the job available again, attempt not
		// counted. Nothing is lost, but the work is done again later.
		log.Printf("soft stop: %v: hard stop, cancelling the running jobs", err)
		hardStop = true
		if err := queue.client.StopAndCancel(context.Background()); err != nil {
			log.Printf("hard stop: %v", err)
		}
	}

	if queued, err := queue.queued(context.Background()); err != nil {
		log.Printf("counting the queued jobs: %v", err)
	} else {
		log.Printf("%d job(s) stay queued for the next start", queued)
	}

	// Step 4, last: close the connection pool, once no handler and no job
	// can use a connection any more. PostgreSQL sees this process's
	// sessions end here (pg_stat_activity), after the last commit.
	closeDatabase(db)
	switch {
	case httpErr != nil:
		return fmt.Errorf("shutdown incomplete: %w", httpErr)
	case hardStop:
		return errors.New("shutdown incomplete: running jobs were cancelled (they run again later)")
	}
	log.Println("Server exiting")
	return nil
}
