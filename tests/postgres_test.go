package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/graceful-shutdown-lab/lab/internal/pgcluster"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// suitePostgres is the suite's PostgreSQL server: DATABASE_URL's, or a
// throwaway cluster that the first test needing one starts, and that
// TestMain stops once every test has run.
var suitePostgres struct {
	once    sync.Once
	cluster *pgcluster.Cluster
	err     error
}

// postgresCluster returns the suite's server, starting it at the first
// call. Without PostgreSQL installed the test is skipped, and fails under
// CI=true, where .ci/run installs it.
func postgresCluster(t *testing.T) *pgcluster.Cluster {
	t.Helper()
	suitePostgres.once.Do(func() {
		if raw := os.Getenv("DATABASE_URL"); raw != "" {
			suitePostgres.cluster, suitePostgres.err = pgcluster.FromURL(raw)
			return
		}
		suitePostgres.cluster, suitePostgres.err = startCluster()
	})
	requirePostgres(t, suitePostgres.err)
	return suitePostgres.cluster
}

// startCluster starts a throwaway cluster, named for the leftover check
// by its data folder (its postmaster's -D).
func startCluster() (*pgcluster.Cluster, error) {
	c, err := pgcluster.Start()
	if err != nil {
		return nil, err
	}
	proc.RememberArgument(c.DataDir())
	return c, nil
}

// requirePostgres skips the test, or fails it under CI=true, when err
// says PostgreSQL is not installed, and fails it on any other error.
func requirePostgres(t *testing.T, err error) {
	t.Helper()
	switch {
	case errors.Is(err, pgcluster.ErrNotInstalled):
		missing(t, err)
	case err != nil:
		t.Fatal(err)
	}
}

// requirePostgresInstalled skips the test, or fails it under CI=true,
// when neither DATABASE_URL nor initdb and pg_ctl are there: for what
// starts a cluster of its own (the demo).
func requirePostgresInstalled(t *testing.T) {
	t.Helper()
	if os.Getenv("DATABASE_URL") != "" {
		return
	}
	_, err := pgcluster.Binaries()
	requirePostgres(t, err)
}

// stopSuitePostgres stops the suite's cluster, if a test started one.
func stopSuitePostgres() error {
	if suitePostgres.cluster == nil {
		return nil
	}
	if err := suitePostgres.cluster.Stop(); err != nil {
		return fmt.Errorf("stopping the suite's PostgreSQL: %w", err)
	}
	return nil
}

// database is a new, empty database for one test on the suite's server.
func database(t *testing.T) string {
	t.Helper()
	url, err := postgresCluster(t).CreateDatabase(context.Background(), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// A PostgreSQL the suite started is a leftover until it has stopped: its
// postmaster names its data folder (-D), and it is an orphan of the suite
// (pg_ctl, its parent, exits once the server is up).
func TestLeftoversFindPostgres(t *testing.T) {
	t.Parallel()
	c, err := startCluster()
	requirePostgres(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	// The postmaster's PID is the first line of its postmaster.pid. A
	// child it has just forked names the data folder too, for a moment,
	// until it sets its own title (seen in a -race soak: 2 processes).
	data, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	postmaster, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	if command, ok := leftovers()[postmaster]; !ok || !proc.NamesAddr(command, c.DataDir()) {
		t.Errorf("want the cluster's postmaster, pid %d, among the leftovers, naming %s; got %q", postmaster, c.DataDir(), command)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for pid, command := range leftovers() {
		if proc.NamesAddr(command, c.DataDir()) {
			t.Errorf("the leftover check still names pid %d (%s) once the cluster has stopped", pid, command)
		}
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("want the cluster's folder %s removed, got %v", c.Dir, err)
	}
}
