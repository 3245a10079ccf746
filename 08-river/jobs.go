package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// effectsSchema is this program's one table: the effect of a job, keyed
// by the job, so that it can exist at most once. River's tables (river_job
// and the others) come from River's migrations.
const effectsSchema = `
CREATE TABLE IF NOT EXISTS effects (
	job_id     bigint PRIMARY KEY, -- river_job.id
	worker     text NOT NULL,
	attempt    int NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// migrationLock is the key of the PostgreSQL advisory lock that lets one
// process at a time create the tables: three instances started at once
// would otherwise run the same CREATE statements side by side, and all
// but one fail.
const migrationLock = 8_0808

// openDatabase connects to the database at url, checks that the server
// answers, and brings River's tables and the effects table up to date.
func openDatabase(url string, workers int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("-database-url: %w", err)
	}
	// A connection per worker (each commits its job's effect), and a few
	// for River itself (fetching, LISTEN, the leader's maintenance) and
	// for HTTP. A server that does not answer fails the start in 5 s.
	cfg.MaxConns = int32(workers) + 5
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	// The server shows each session's application (pg_stat_activity).
	cfg.ConnConfig.RuntimeParams["application_name"] = fmt.Sprintf("08-river pid %d", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		if err = migrate(ctx, db); err != nil {
			db.Close()
		}
	}
	if err != nil {
		// pgx lists each address it tried on a line of its own: one line.
		return nil, fmt.Errorf("-database-url: %s", strings.NewReplacer(":\n\t", ": ", "\n\t", "; ").Replace(err.Error()))
	}
	return db, nil
}

// migrate runs River's migrations and creates the effects table while it
// holds the migration lock, on a connection of its own: the other
// instances wait for the lock, then find nothing left to do. River runs
// each migration in a transaction of its own (one adds a value to an enum
// type that the next uses, which one transaction cannot do), so the lock
// is a session's, released at the end.
func migrate(ctx context.Context, db *pgxpool.Pool) error {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLock)
	migrator, err := rivermigrate.New(riverpgxv5.New(db), &rivermigrate.Config{Logger: quietLogger()})
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		//lint:ignore ST1005 River is a name, capitalized
		return fmt.Errorf("River's migrations: %w", err)
	}
	_, err = db.Exec(ctx, effectsSchema)
	return err
}

// quietLogger logs River's warnings and errors only, for the migrator,
// which would otherwise name each of its migrations.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// closeDatabase closes the pool: it waits for the connections in use to
// come back, then closes them all.
func closeDatabase(db *pgxpool.Pool) {
	db.Close()
	log.Println("database connections closed")
}

// jobArgs is what River stores for a job: the payload, and the client's
// Idempotency-Key, which alone makes two jobs the same (river:"unique").
type jobArgs struct {
	Payload []byte `json:"payload"`
	Key     string `json:"key,omitempty" river:"unique"`
}

func (jobArgs) Kind() string { return "lesson" }

// queue is River's client and the pool it shares with the handlers.
type queue struct {
	client *river.Client[pgx.Tx]
	db     *pgxpool.Pool
}

// newQueue configures River: -workers jobs at once, each with a deadline
// of -rescue-after, after which River also counts it stuck and its
// leader rescues it.
func newQueue(db *pgxpool.Pool, workers int, work, rescueAfter time.Duration) (*queue, error) {
	registry := river.NewWorkers()
	river.AddWorker(registry, &jobWorker{db: db, work: work, name: fmt.Sprintf("pid %d", os.Getpid())})
	client, err := river.NewClient(riverpgxv5.New(db), &river.Config{
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		// The job's deadline and the rescue are the same length: a job
		// can be rescued only once its own worker's context has ended, so
		// a live worker that is merely slow cannot commit after a rescue.
		JobTimeout:           rescueAfter,
		RescueStuckJobsAfter: rescueAfter,
		Workers:              registry,
		Logger:               slog.Default(),
	})
	if err != nil {
		//lint:ignore ST1005 River is a name, capitalized
		return nil, fmt.Errorf("River: %w", err)
	}
	return &queue{client: client, db: db}, nil
}

// add inserts a job and reports its id. With a key River already knows,
// it inserts nothing and returns the job that key made.
func (q *queue) add(ctx context.Context, key string, payload []byte) (id int64, added bool, err error) {
	var opts *river.InsertOpts
	if key != "" {
		opts = &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
	}
	res, err := q.client.Insert(ctx, jobArgs{Payload: payload, Key: key}, opts)
	if err != nil {
		return 0, false, err
	}
	return res.Job.ID, !res.UniqueSkippedAsDuplicate, nil
}

// jobStatus is the answer to GET /jobs/:id, 07's words for River's states.
type jobStatus struct {
	ID       int64  `json:"id"`
	State    string `json:"state"`
	Attempts int64  `json:"attempts"`
	Effects  int64  `json:"effects"` // how often its effect was applied
}

func (q *queue) status(ctx context.Context, id int64) (jobStatus, error) {
	st := jobStatus{ID: id}
	var state string
	err := q.db.QueryRow(ctx, `SELECT state, attempt, (SELECT count(*) FROM effects WHERE job_id = river_job.id)
		FROM river_job WHERE id = $1`, id).Scan(&state, &st.Attempts, &st.Effects)
	switch rivertype.JobState(state) {
	case rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStatePending:
		st.State = "queued"
	case rivertype.JobStateCompleted:
		st.State = "done"
	default: // running, or River gave up: cancelled, discarded
		st.State = state
	}
	return st, err
}

// queued counts the jobs waiting for a worker, in any process.
func (q *queue) queued(ctx context.Context) (int64, error) {
	var n int64
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable', 'pending')`).Scan(&n)
	return n, err
}

// jobWorker runs the jobs: work, then the effect with the completion.
type jobWorker struct {
	river.WorkerDefaults[jobArgs]
	db   *pgxpool.Pool
	work time.Duration
	name string // this process, in the effect's row
}

// errEffectRefused says that a job's completion changed nothing: the row
// had left "running" (rescued), or another attempt applied the effect.
var errEffectRefused = errors.New("effect not applied")

func (w *jobWorker) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	log.Printf("job %d started (attempt %d)", job.ID, job.Attempt)
	// The work stands in for real work (rendering a report, resizing
	// images). Its context ends at the job's deadline, or at the hard stop.
	select {
	case <-time.After(w.work):
	case <-ctx.Done():
		err := fmt.Errorf("cut short: %w", context.Cause(ctx))
		log.Printf("job %d returned to the queue (attempt %d): %v", job.ID, job.Attempt, err)
		return err
	}
	err := w.complete(ctx, job)
	switch {
	case errors.Is(err, errEffectRefused):
		log.Printf("job %d attempt %d: %v", job.ID, job.Attempt, err)
	case err != nil:
		log.Printf("job %d not completed (attempt %d): %v", job.ID, job.Attempt, err)
	default:
		log.Printf("job %d done", job.ID)
	}
	// An error makes River retry the job, unless the row has left
	// "running": then River's own report of it changes nothing either.
	return err
}

// complete applies the job's effect and completes the job, in one
// transaction: both or neither. River's JobCompleteTx completes a row only
// while it is "running" and otherwise returns it as it is; the effect's
// key, the job's id, refuses a second effect.
func (w *jobWorker) complete(ctx context.Context, job *river.Job[jobArgs]) error {
	tx, err := w.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	done, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
	if err != nil {
		return err
	}
	if done.State != rivertype.JobStateCompleted {
		return fmt.Errorf("%w: the job is %s, no longer running: the rescuer took it back", errEffectRefused, done.State)
	}
	_, err = tx.Exec(ctx, `INSERT INTO effects (job_id, worker, attempt) VALUES ($1, $2, $3)`, job.ID, w.name, job.Attempt)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: the job has its effect already, from another attempt", errEffectRefused)
	}
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}
