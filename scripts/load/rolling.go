package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/haproxy"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// rollingRuns are load.sh rolling's side by side: the same load, the same
// HAProxy; 05 checked on /readyz, 02 (which has none) on a connect; 02
// once with HAProxy's usual retries and once without.
var rollingRuns = []struct {
	program     string
	retries     int
	healthCheck string
}{
	{"05-load-balancer", 3, "/readyz"},
	{"02-graceful", 3, ""},
	{"02-graceful", 0, ""},
}

// runRolling is load.sh rolling: three instances behind HAProxy on
// PORT (the instances on the three ports after it), restarted one by one
// under load from hey and from as many keep-alive clients that never
// resend (client.NeverResend); it prints the table and returns the report
// and its mismatches (scenario.RollingMismatches, TestRollingRestart's
// too).
func runRolling(d *proc.Guard, opts *options, dirs folders) (any, []string) {
	out := d.Stdout()
	if _, err := exec.LookPath("haproxy"); err != nil {
		d.Fail(errors.New(haproxy.HAProxyMissing))
	}
	build(d, dirs.builds, false, "02-graceful", "05-load-balancer")
	listen := fmt.Sprintf("127.0.0.1:%d", opts.port)
	var instances []string
	for i := 1; i <= 3; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", opts.port+i)
		if err := proc.RequireFreePort(addr); err != nil {
			d.Fail(err)
		}
		instances = append(instances, addr)
	}
	timings := lesson.PostTimings
	if opts.fast {
		timings = lesson.FastTimings
	}
	drainDelay, delay := lesson.RollingDrainDelay(timings).String(), lesson.RollingHandlerDelay.String()
	fmt.Fprintf(out, "3 instances behind HAProxy on %s (check every 100ms, fall 2, rise 2); GET / answers in %s; hey -c %d and %d keep-alive clients that never resend;\n", listen, delay, opts.clients, opts.clients)
	fmt.Fprintf(out, "each instance in turn: SIGTERM, wait for its exit, start it again, wait until HAProxy reports it UP. 05: -drain-delay %s.\n", drainDelay)
	var results []scenario.RollingResult
	for _, run := range rollingRuns {
		fmt.Fprintf(out, "running %s behind HAProxy with retries %d ...\n", run.program, run.retries)
		haproxyDir, err := d.TempDir("haproxy.")
		if err != nil {
			d.Fail(err)
		}
		args := []string{"-delay", delay, "-timeout", "20s"}
		if run.program == "05-load-balancer" {
			args = append(args, "-drain-delay", drainDelay)
		}
		r, err := scenario.RunRolling(d.Start, scenario.RollingConfig{
			Program: run.program, Binary: filepath.Join(dirs.builds, run.program), Args: args,
			HealthCheck: run.healthCheck, Retries: run.retries, Listen: listen, Instances: instances,
			Hey: filepath.Join(dirs.builds, "hey"), Clients: opts.clients, Dir: haproxyDir, Limit: 30 * time.Second,
		})
		if err != nil {
			d.Fail(err)
		}
		results = append(results, r)
	}

	fmt.Fprintln(out)
	report.WriteTable(out, scenario.RollingTable(results))
	fmt.Fprintln(out)
	fmt.Fprintln(out, "never resend:       keep-alive clients that count a failed request and never send it again")
	fmt.Fprintln(out, "probes (one-shot):  one request per instance, at once, when the restarted one's listener has closed")
	fmt.Fprintln(out, "HAProxy retried:    connections refused by an instance, retried on it after 1 s (show stat's wretr)")
	fmt.Fprintln(out, "stalled by a retry: requests whose log line shows a retry or a connect of 1 s or more")
	fmt.Fprintln(out, "DOWN before:        HAProxy's runtime API showed the instance DOWN before it logged 'Shutdown Server'")
	mismatches := scenario.RollingMismatches(results)
	return scenario.RollingReport{Mode: "rolling", Results: results, Mismatches: mismatches}, mismatches
}
