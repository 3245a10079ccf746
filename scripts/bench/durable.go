package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/pgcluster"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// bench.sh --durable measures the durable lessons side by side, once:
// 07-durable-jobs (SQLite, one process) against 08-river (River on
// PostgreSQL, one and three processes), each with its default rescue
// values (07's -lease 10s, 08's -rescue-after 10s):
//
//	jobs/s          durableJobs jobs posted by 8 clients at once, -work 0:
//	                the first POST -> the last job seen done
//	kill -> done    a job whose process got SIGKILL mid-job -> done by
//	                the process started again (one) or another (three)
//	rolling         jobs posted while each process in turn gets SIGTERM
//	                and is started again: lost (a 202 that never ends
//	                done) and effects twice
const durableJobs = 500

// durableSetup is one row: a lesson, how many processes share its jobs.
type durableSetup struct {
	program   string
	processes int
}

var durableSetups = []durableSetup{{"07-durable-jobs", 1}, {"08-river", 1}, {"08-river", 3}}

// durableRow is what one setup measured.
type durableRow struct {
	durableSetup
	jobsPerSecond float64
	killToDone    time.Duration
	posted, lost  int
	twice         int
	exits         []string // exit statuses of the rolling restart, when not 0
}

// durable runs the three setups and prints their table.
func (b *bench) durable() {
	if err := proc.Build(b.dir, false, "./07-durable-jobs", "./08-river"); err != nil {
		b.d.Failf("could not build the programs: %v", err)
	}
	cluster, err := startPostgres(b.d)
	if err != nil {
		b.d.Fail(err)
	}
	var rows []durableRow
	for _, setup := range durableSetups {
		row := durableRow{durableSetup: setup}
		fmt.Fprintf(b.d.Stderr(), "%s, %d process(es): jobs/s ...\n", setup.program, setup.processes)
		row.jobsPerSecond = b.throughput(setup, b.store(cluster, setup, "throughput"))
		fmt.Fprintf(b.d.Stderr(), "%s, %d process(es): kill -> done ...\n", setup.program, setup.processes)
		row.killToDone = b.killToDone(setup, b.store(cluster, setup, "kill"))
		fmt.Fprintf(b.d.Stderr(), "%s, %d process(es): rolling restart ...\n", setup.program, setup.processes)
		b.rolling(setup, b.store(cluster, setup, "rolling"), &row)
		rows = append(rows, row)
	}
	printDurable(rows)
}

// startPostgres is DATABASE_URL's server, or a throwaway cluster that
// the guard stops on every way out.
func startPostgres(d *proc.Guard) (*pgcluster.Cluster, error) {
	if raw := os.Getenv("DATABASE_URL"); raw != "" {
		return pgcluster.FromURL(raw)
	}
	c, err := pgcluster.Start()
	if err != nil {
		return nil, err
	}
	d.AtExit(func() { _ = c.Stop() })
	return c, nil
}

// store is a fresh place for one measurement's jobs: the flags that name it.
func (b *bench) store(cluster *pgcluster.Cluster, setup durableSetup, what string) []string {
	if setup.program == "07-durable-jobs" {
		dir, err := b.d.TempDir("jobs.")
		if err != nil {
			b.d.Fail(err)
		}
		return []string{"-db", filepath.Join(dir, "jobs.db")}
	}
	url, err := cluster.CreateDatabase(context.Background(), fmt.Sprintf("bench_%s_%d", what, setup.processes))
	if err != nil {
		b.d.Fail(err)
	}
	return []string{"-database-url", url}
}

// start starts one process of the setup on a free port.
func (b *bench) startDurable(setup durableSetup, store []string, args ...string) *proc.Server {
	addr, err := proc.FreePort()
	if err != nil {
		b.d.Fail(err)
	}
	s, err := b.d.StartServer(filepath.Join(b.dir, setup.program), addr, append(store, args...)...)
	if err != nil {
		b.d.Fail(err)
	}
	if err := proc.WaitListening(addr, proc.Connect, 30*time.Second, s.Exited); err != nil {
		b.d.Failf("%s: %v: %s", setup.program, err, s.Process.LastLine())
	}
	return s
}

// stopAll sends SIGTERM to each live process and waits for it.
func (b *bench) stopAll(ps []*proc.Server) {
	for _, p := range ps {
		if p.Running() {
			_ = p.Signal(syscall.SIGTERM)
			p.WaitEnding(60 * time.Second)
		}
	}
}

func (b *bench) throughput(setup durableSetup, store []string) float64 {
	var ps []*proc.Server
	for range setup.processes {
		ps = append(ps, b.startDurable(setup, store, "-workers", "8", "-work", "0s"))
	}
	defer b.stopAll(ps)
	ids := make(chan int, durableJobs)
	started := time.Now()
	var posting sync.WaitGroup
	for c := range 8 {
		posting.Go(func() {
			for n := c; n < durableJobs; n += 8 {
				if id, err := post(ps[n%len(ps)]); err == nil {
					ids <- id
				}
			}
		})
	}
	posting.Wait()
	close(ids)
	n := 0
	for id := range ids {
		if _, err := waitJob(ps[0], id, 2*time.Minute); err != nil {
			b.d.Fail(err)
		}
		n++
	}
	return float64(n) / time.Since(started).Seconds()
}

func (b *bench) killToDone(setup durableSetup, store []string) time.Duration {
	victim := b.startDurable(setup, store, "-workers", "1", "-work", "60s")
	id, err := post(victim)
	if err != nil {
		b.d.Fail(err)
	}
	if err := victim.WaitLog(fmt.Sprintf("job %d started", id), 1, 30*time.Second); err != nil {
		b.d.Fail(err)
	}
	var others []*proc.Server
	for range max(setup.processes-1, 0) {
		others = append(others, b.startDurable(setup, store, "-workers", "1", "-work", "100ms"))
	}
	_ = victim.Signal(syscall.SIGKILL)
	victim.WaitEnding(30 * time.Second)
	killed := victim.ExitedAt
	if setup.processes == 1 {
		others = append(others, b.startDurable(setup, store, "-workers", "1", "-work", "100ms"))
	}
	defer b.stopAll(others)
	done, err := waitJob(others[0], id, 3*time.Minute)
	if err != nil {
		b.d.Fail(err)
	}
	return done.Sub(killed)
}

func (b *bench) rolling(setup durableSetup, store []string, row *durableRow) {
	flags := []string{"-workers", "2", "-work", "200ms", "-timeout", "20s"}
	var mu sync.Mutex
	var live []*proc.Server
	for range setup.processes {
		live = append(live, b.startDurable(setup, store, flags...))
	}
	var accepted []int
	stop := make(chan struct{})
	var posting sync.WaitGroup
	posting.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // the posting rate
			}
			mu.Lock()
			var p *proc.Server
			if len(live) > 0 {
				p = live[rand.IntN(len(live))]
			}
			mu.Unlock()
			if p == nil {
				continue
			}
			if id, err := post(p); err == nil {
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
			}
		}
	})
	for i := range setup.processes {
		time.Sleep(time.Second) // jobs posted and running before each stop
		mu.Lock()
		old := live[i]
		live = append(append([]*proc.Server{}, live[:i]...), live[i+1:]...)
		mu.Unlock()
		_ = old.Signal(syscall.SIGTERM)
		if end := old.WaitEnding(60 * time.Second); end.Status() != 0 {
			row.exits = append(row.exits, end.Text())
		}
		p := b.startDurable(setup, store, flags...)
		mu.Lock()
		live = append(live[:i], append([]*proc.Server{p}, live[i:]...)...)
		mu.Unlock()
	}
	time.Sleep(time.Second)
	close(stop)
	posting.Wait()
	defer b.stopAll(live)
	row.posted = len(accepted)
	for _, id := range accepted {
		j, err := jobStatus(live[0], id, 2*time.Minute)
		switch {
		case err != nil:
			row.lost++
		case j.Effects > 1:
			row.twice++
		}
	}
}

// post posts one job and returns its id from the 202.
func post(s *proc.Server) (int, error) {
	r := client.SendBody(context.Background(), http.MethodPost, s.URL("/jobs"), "bench", nil)
	if r.Err != nil || r.Status != http.StatusAccepted {
		return 0, fmt.Errorf("POST /jobs: %d %v", r.Status, r.Err)
	}
	var accepted struct{ ID int }
	err := json.Unmarshal([]byte(r.Body), &accepted)
	return accepted.ID, err
}

// waitJob polls job id until it is done, and returns when it saw that.
func waitJob(s *proc.Server, id int, limit time.Duration) (time.Time, error) {
	_, err := jobStatus(s, id, limit)
	return time.Now(), err
}

// jobStatus polls job id until it is done, up to limit.
func jobStatus(s *proc.Server, id int, limit time.Duration) (client.JobStatus, error) {
	deadline := time.Now().Add(limit)
	for {
		r := client.SendBody(context.Background(), http.MethodGet, s.URL(fmt.Sprintf("/jobs/%d", id)), "", nil)
		var j client.JobStatus
		if r.Err == nil && r.Status == http.StatusOK && json.Unmarshal([]byte(r.Body), &j) == nil && j.State == "done" {
			return j, nil
		}
		if time.Now().After(deadline) {
			return j, errors.New("job " + fmt.Sprint(id) + " not done after " + limit.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// printDurable writes the side-by-side table.
func printDurable(rows []durableRow) {
	fmt.Println("### Durable jobs: 07 (SQLite) against 08 (River on PostgreSQL)")
	fmt.Println()
	fmt.Printf("- machine: %s\n", machine())
	fmt.Printf("- %s\n", goVersion())
	fmt.Printf("- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Println("- one run; default rescue values: 07 -lease 10s, 08 -rescue-after 10s")
	fmt.Println()
	fmt.Println("| lesson | processes | jobs/s (-work 0) | kill -9 → done | rolling restart: jobs posted | lost | effects twice |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %d | %.0f | %.1f s | %d | %d | %d |\n", r.program, r.processes, r.jobsPerSecond, r.killToDone.Seconds(), r.posted, r.lost, r.twice)
	}
	for _, r := range rows {
		if len(r.exits) > 0 {
			fmt.Printf("\n%s (%d): a restarted process ended with %s\n", r.program, r.processes, strings.Join(r.exits, ", "))
		}
	}
}
