package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// The connections table: the post's 02-graceful beside the lessons that
// carry connections.go (05, 06, 07), measured in the same runs.
//
//	last answer → exit   drainClients requests of drainDelay in flight at
//	                     SIGTERM, each on a connection of its own: the
//	                     last answer reaching its Go client -> the process
//	                     is gone. How late the process notices that its
//	                     last connection has closed. (The drain row above
//	                     times hey's exit instead, which lags the answer
//	                     by a millisecond or more: too coarse here.)
//	unused connection    SIGTERM → exit with one connection open that
//	                     never sent a byte (a browser's preconnect), the
//	                     budget the post's 5 s: Shutdown alone waits for it
var connectionPrograms = []string{"02-graceful", "05-load-balancer", "06-streaming", "07-durable-jobs"}

// connectionArgs are the flags each of them needs besides -delay: 05
// without its drain delay, so that its stop starts at the signal as the
// others' does.
var connectionArgs = map[string][]string{
	"05-load-balancer": {"-drain-delay", "0s"},
}

// measureConnections takes one run's samples of the connections table.
func (b *bench) measureConnections(run, runs int, samples map[string][]int64) {
	for _, name := range connectionPrograms {
		fmt.Fprintf(b.d.Stderr(), "run %d/%d: %s, connections ...\n", run, runs, name)
		key := "connections:" + name
		samples[key+":last"] = append(samples[key+":last"], b.lastAnswer(name).Microseconds())
		took, status := b.unusedConnection(name)
		samples[key+":unused"] = append(samples[key+":unused"], took.Microseconds())
		samples[key+":unused-status"] = append(samples[key+":unused-status"], int64(status))
	}
}

// lastAnswer measures the last answer reaching its client -> the server is
// gone, with drainClients requests of drainDelay in flight at SIGTERM. The
// signal goes at a random point of the first 40% of the requests, so that
// the last answer lands at a random point of Shutdown's polling cycle.
func (b *bench) lastAnswer(name string) time.Duration {
	cfg := b.config(name, drainClients)
	cfg.Delay = drainDelay
	s, err := scenario.StartServerListening(b.d, cfg)
	if err != nil {
		b.d.Fail(err)
	}
	answers := make(chan client.Response, drainClients)
	for range drainClients {
		go func() { answers <- client.Send(context.Background(), http.MethodGet, s.URL("/")) }()
	}
	b.signalMidDrain(s)
	var last time.Time
	for range drainClients {
		r := <-answers
		if !r.OK() {
			b.notes = append(b.notes, fmt.Sprintf("%s: a request in flight failed: %s", name, client.FailureText(r.Err)))
		}
		if r.Done.After(last) {
			last = r.Done
		}
	}
	end := s.WaitEnding(15 * time.Second)
	b.check(name, end.Status(), end.Text())
	return end.At.Sub(last)
}

// unusedConnection measures SIGTERM -> exit while one connection that
// never sent anything is open, and returns the exit status too: 02 runs
// out of budget. The connection counts once the server process holds it:
// one still in the listener's queue is no one's.
func (b *bench) unusedConnection(name string) (time.Duration, int) {
	cfg := b.config(name, 1)
	s, err := scenario.StartServerListening(b.d, cfg)
	if err != nil {
		b.d.Fail(err)
	}
	conn, err := net.DialTimeout("tcp", b.addr(), 5*time.Second)
	if err != nil {
		b.d.Failf("%s: %v", name, err)
	}
	defer conn.Close()
	if err := proc.WaitHeld(s.PID(), conn, 10*time.Second); err != nil {
		b.d.Failf("%s: %v", name, err)
	}
	signalled := time.Now()
	if err := s.Signal(syscall.SIGTERM); err != nil {
		b.d.Fail(err)
	}
	end := s.WaitEnding(15 * time.Second)
	return end.At.Sub(signalled), end.Status()
}

// printConnections writes the connections table of medians.
func (b *bench) printConnections(samples map[string][]int64) {
	out := b.d.Stdout()
	fmt.Fprintln(out)
	fmt.Fprintln(out, "#### Connections: the post's 02 beside the lessons with connections.go")
	fmt.Fprintln(out)
	line := "| measurement |"
	rule := "|---|"
	for _, name := range connectionPrograms {
		line += " " + name + " |"
		rule += "---:|"
	}
	fmt.Fprintln(out, line)
	fmt.Fprintln(out, rule)
	for _, row := range []struct{ label, key string }{
		{fmt.Sprintf("last answer → exit (%d requests of %s)", drainClients, drainDelay), "last"},
		{"SIGTERM → exit, one unused connection open (-timeout 5s)", "unused"},
	} {
		line := "| " + row.label + " |"
		for _, name := range connectionPrograms {
			key := "connections:" + name + ":" + row.key
			median, low, high := medianOf(samples[key])
			line += fmt.Sprintf(" %s ms (%s–%s)%s |", ms(median), ms(low), ms(high), exits(samples[key+"-status"]))
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "05 runs with -drain-delay 0s here, so that its stop starts at the signal.")
}

// exits says how the runs ended when one did not exit 0: ", exit 1 in 5
// of 5".
func exits(statuses []int64) string {
	failed := map[int64]int{}
	for _, status := range statuses {
		if status != 0 {
			failed[status]++
		}
	}
	text := ""
	for status, n := range failed {
		text += fmt.Sprintf(", exit %d in %d of %d", status, n, len(statuses))
	}
	return text
}
