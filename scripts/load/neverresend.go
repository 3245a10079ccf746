package main

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// The runs with clients that never resend a request (client.NeverResend): a fast
// handler, so that requests keep arriving at the signal.
const fastDelay = "1ms"

// neverResend is config for client.NeverResend's clients of the given kind, GET /
// answering in fastDelay.
func neverResend(opts *options, dirs folders, name string, kind client.Connections) scenario.LoadConfig {
	cfg := config(opts, dirs, name)
	cfg.Delay, cfg.NeverResend = fastDelay, kind
	return cfg
}

// runNeverResendUpgrade is the second half of load.sh upgrade: the restart of
// 02 against 04's hand-over again, with keep-alive clients that never
// resend. It prints its table and returns its results and mismatches.
func runNeverResendUpgrade(d *proc.Guard, opts *options, dirs folders) ([]scenario.LoadResult, []string) {
	out := d.Stdout()
	const zd = zeroDowntime
	fmt.Fprintf(out, "\nGET / answers in %s; %d keep-alive clients that never resend, -z %s; a new version in the middle of the run.\n", fastDelay, opts.clients, opts.duration)
	fmt.Fprintln(out, "running 02-graceful: SIGTERM, wait for its exit, start a new one ...")
	restart, err := scenario.RunRestart(d, neverResend(opts, dirs, "02-graceful", client.KeepAlive))
	if err != nil {
		d.Fail(err)
	}
	fmt.Fprintf(out, "running %s: v2 moved over its binary, SIGHUP ...\n", zd)
	install04(d, dirs)
	upgrade, err := scenario.RunUpgrade(d, neverResend(opts, dirs, zd, client.KeepAlive), filepath.Join(dirs.builds, zd+"-v2"), filepath.Join(dirs.run, zd+".pid"))
	if err != nil {
		d.Fail(err)
	}
	fmt.Fprintln(out)
	results := []scenario.LoadResult{restart, upgrade}
	report.WriteTable(out, scenario.LoadTable(results, slices.Concat(scenario.CutByRows, scenario.UpgradeRows), 16, 16))
	return results, scenario.NeverResendUpgradeMismatches(restart, upgrade)
}

// runArrival is load.sh arrival: clients that never resend, each
// request on a fresh connection, keep arriving while 02, 03 and 04 stop
// (SIGTERM), then while 04 hands over (SIGHUP).
func runArrival(d *proc.Guard, opts *options, dirs folders) (any, []string) {
	out := d.Stdout()
	const zd = zeroDowntime
	build(d, dirs.builds, true, "02-graceful", "03-workers")
	fmt.Fprintf(out, "GET / answers in %s; %d clients that never resend, a fresh connection per request, -z %s; a signal in the middle of the run.\n", fastDelay, opts.clients, opts.duration)
	var results []scenario.LoadResult
	for _, name := range []string{"02-graceful", "03-workers", zd} {
		fmt.Fprintf(out, "running %s: SIGTERM ...\n", name)
		if name == zd {
			install04(d, dirs)
		}
		r, err := scenario.RunLoad(d, neverResend(opts, dirs, name, client.Fresh))
		if err != nil {
			d.Fail(err)
		}
		results = append(results, r)
	}
	fmt.Fprintf(out, "running %s: v2 moved over its binary, SIGHUP ...\n", zd)
	install04(d, dirs)
	r, err := scenario.RunUpgrade(d, neverResend(opts, dirs, zd, client.Fresh), filepath.Join(dirs.builds, zd+"-v2"), filepath.Join(dirs.run, zd+".pid"))
	if err != nil {
		d.Fail(err)
	}
	results = append(results, r)

	fmt.Fprintln(out)
	report.WriteTable(out, scenario.LoadTable(results, scenario.ArrivalRows, 13, 16))
	fmt.Fprintln(out)
	fmt.Fprintln(out, "refused:    connection refused: the listener was closed (the client may retry)")
	fmt.Fprintln(out, "cut: reset: connection reset by peer: completed by the kernel, never accepted, reset when the listener closed")
	fmt.Fprintln(out, "cut: EOF:   unexpected EOF: accepted, the request read after Shutdown began, closed without an answer")
	fmt.Fprintln(out, "SIGHUP:     04 hands its socket over: it never closes, and the old process answers every request it reads")
	mismatches := scenario.ArrivalMismatches(results)
	return scenario.LoadReport{Mode: "arrival", Results: results, Mismatches: mismatches}, mismatches
}
