package client

import "fmt"

// JobStatus is 07-durable-jobs' answer to GET /jobs/:id.
type JobStatus struct {
	ID       int    `json:"id"`
	State    string `json:"state"`    // queued, running or done
	Attempts int    `json:"attempts"` // how often a worker started the job
	Effects  int    `json:"effects"`  // how often its effect was applied
}

// Outcome words a job's state as the durable step's verdict does.
func (j JobStatus) Outcome() string {
	return fmt.Sprintf("%s, %d attempt%s, %d effect%s", j.State, j.Attempts, plural(j.Attempts), j.Effects, plural(j.Effects))
}

// plural is the "s" of a count's noun: 1 attempt, 2 attempts.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
