package lesson

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
