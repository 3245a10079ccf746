// The job store: the queue as rows in a SQLite file, which every process
// started with the same -db shares. main.go is the shutdown; this file is
// how a job survives kill -9 (points 1 to 3 at the top of main.go): it is
// committed before its 202, claimed under a lease, rescued when the lease
// runs out, and marked done in the transaction that applies its effect.

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"net/url"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver: pure Go, nothing to install
)

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

// close closes the database: every connection to the file, once the
// queries on them are done. A second close does nothing.
func (s *jobStore) close() error {
	return s.db.Close()
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
