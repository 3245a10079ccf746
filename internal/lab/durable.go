package lab

import (
	"fmt"
	"time"
)

// DurableStep is the demo's step for lesson 07: 07-durable-jobs gets
// kill -9 while Workers jobs run and the others wait, and is started again
// on the same -db. The jobs that ran are rescued once their lease runs out
// and run a second time; every job ends done with its effect once.
var DurableStep = struct {
	Program string
	Workers int
	Jobs    int
	Expect  []Verdict
}{
	Program: "07-durable-jobs",
	Workers: 2,
	Jobs:    4,
	Expect: []Verdict{
		{Label: "job1", Want: "done, 2 attempts, 1 effect"},
		{Label: "job2", Want: "done, 2 attempts, 1 effect"},
		{Label: "job3", Want: "done, 1 attempt, 1 effect"},
		{Label: "job4", Want: "done, 1 attempt, 1 effect"},
		{Label: "server1", Want: "killed by SIGKILL"},
		{Label: "server2", Want: "exit 0 (Server exiting)"},
	},
}

// DurableWork is how long a job takes in the durable step, and its lease:
// twice Timings.Work, so that the kill lands while the first jobs run.
func DurableWork(t Timings) time.Duration {
	return 2 * t.Work
}

// DurableLease is the durable step's -lease: twice a job's time, so that a
// job that runs once keeps its lease even when a renewal (every third of
// it) comes a whole job's time late on a busy machine.
func DurableLease(t Timings) time.Duration {
	return 2 * DurableWork(t)
}

// DurableFlags are 07-durable-jobs' flags in the durable step (after -addr).
func DurableFlags(t Timings) []string {
	return []string{"-db", "jobs.db", "-workers", fmt.Sprint(DurableStep.Workers),
		"-work", DurableWork(t).String(), "-lease", DurableLease(t).String(), "-timeout", t.Timeout.String()}
}

// JobStatus is 07-durable-jobs' answer to GET /jobs/:id.
type JobStatus struct {
	ID       int    `json:"id"`
	State    string `json:"state"`    // queued, running or done
	Attempts int    `json:"attempts"` // how often a worker started the job
	Effects  int    `json:"effects"`  // how often its effect was applied
}

// Outcome words a job's state as the durable step's verdict does.
func (j JobStatus) Outcome() string {
	return fmt.Sprintf("%s, %d attempt%s, %d effect%s", j.State, j.Attempts, Plural(j.Attempts), j.Effects, Plural(j.Effects))
}

// LegendDurable is the legend of the durable step's timeline.
const LegendDurable = "= running  . queued  ~ held by a dead worker's lease  o done  X killed  - server up"
