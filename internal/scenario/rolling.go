package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/haproxy"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
)

// Restart is what happened to one instance in a rolling restart, as seen
// by the driver and HAProxy's runtime API.
type Restart struct {
	Server    string // HAProxy's name for it: app1
	OldPID    int
	NewPID    int
	Signalled time.Time
	// Down is when the runtime API first showed the server DOWN (zero:
	// never while the old process ran).
	Down time.Time
	// Stopping is when the old process logged "Shutdown Server" (its
	// listener closes then), as our reader of its output saw the line:
	// a moment later, at most its exit.
	Stopping time.Time
	Exited   time.Time
	Exit     string    // ExitText
	Up       time.Time // when the runtime API showed the new one UP
	// Probes are the outcomes ("200", "503", or what the client saw) of
	// the one-shot requests sent through HAProxy once the listener was
	// closed, one per instance (see RestartOne); empty when none was sent.
	Probes map[string]int `json:",omitempty"`
}

// DownBeforeStopping reports whether HAProxy had taken the instance out
// before its listener closed.
func (r Restart) DownBeforeStopping() bool {
	return !r.Down.IsZero() && !r.Stopping.IsZero() && r.Down.Before(r.Stopping)
}

// RollingRestart restarts the instances behind h one at a time, the way a
// deploy does (RestartOne each, with SIGTERM, probing), replacing each in
// instances with its successor.
func RollingRestart(h *haproxy.HAProxy, instances []*proc.Server, relaunch func(addr string) (*proc.Server, error), limit time.Duration) ([]Restart, error) {
	var restarts []Restart
	for i := range instances {
		r, s, err := RestartOne(h, i, instances[i], func(old *proc.Server) error { return old.Signal(syscall.SIGTERM) }, true, relaunch, limit)
		if err != nil {
			return restarts, err
		}
		instances[i] = s
		restarts = append(restarts, r)
	}
	return restarts, nil
}

// RestartOne restarts the i-th instance behind h: signal it (SIGTERM, by
// a kill or as the caller likes), wait until it has exited while watching
// the runtime API to see when HAProxy took it out, start the new one on
// the same address (relaunch), wait until HAProxy reports it UP. limit
// bounds each wait. It returns what happened, and the new instance.
//
// With probe, once the instance's listener is closed (it logged "Shutdown
// Server" and no longer holds its port, or it has exited) and before the
// new one starts, it sends one round-robin cycle through HAProxy: one
// one-shot request per instance, at once. HAProxy's balance roundrobin
// hands the servers it has UP out in turn, so among those picks, whatever
// other requests come between them, one goes to this server if HAProxy
// still has it UP: a server that closed its listener while HAProxy still
// sends it traffic (02) is then certain to refuse a connection, which
// HAProxy retries (and the retry waits for the new instance) or, with
// retries 0, answers with a 503. Their outcomes are in Restart.Probes.
func RestartOne(h *haproxy.HAProxy, i int, old *proc.Server, signal func(*proc.Server) error, probe bool, relaunch func(addr string) (*proc.Server, error), limit time.Duration) (Restart, *proc.Server, error) {
	r := Restart{Server: haproxy.ServerName(i), OldPID: old.PID(), Signalled: time.Now()}
	if err := signal(old); err != nil {
		return r, nil, err
	}
	var probes sync.WaitGroup
	var probed sync.Mutex
	sendProbes := func() {
		outcomes := map[string]int{}
		r.Probes = outcomes
		for range h.Config.Servers {
			probes.Go(func() {
				outcome := probeOutcome(client.Send(context.Background(), http.MethodGet, "http://"+h.Config.Listen+"/"))
				probed.Lock()
				outcomes[outcome]++
				probed.Unlock()
			})
		}
	}
	defer probes.Wait()
	listenerClosed := func() bool {
		if _, ok := old.Out.First("Shutdown Server"); !ok {
			return false
		}
		ours, err := proc.ListensOn(old.PID(), old.Addr)
		return err == nil && !ours
	}
	deadline := time.Now().Add(limit)
	for old.Running() {
		if probe && r.Probes == nil && listenerClosed() {
			sendProbes()
		}
		if time.Now().After(deadline) {
			return r, nil, fmt.Errorf("%s (pid %d) still running %s after SIGTERM", r.Server, r.OldPID, limit)
		}
		if r.Down.IsZero() {
			states, err := h.ServersState()
			if err != nil {
				return r, nil, err
			}
			if !states[r.Server].Up() {
				r.Down = time.Now()
			}
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	if probe && r.Probes == nil {
		sendProbes()
	}
	state, _ := old.WaitExit(limit)
	r.Exited, r.Exit = old.ExitedAt, "still running"
	if state != nil {
		r.Exit = proc.ExitText(state)
	}
	if line, ok := old.Out.First("Shutdown Server"); ok {
		r.Stopping = line.At
		if r.Stopping.After(r.Exited) {
			r.Stopping = r.Exited
		}
	}
	s, err := relaunch(old.Addr)
	if err != nil {
		return r, nil, err
	}
	r.NewPID = s.PID()
	if r.Up, err = h.WaitUp(r.Server, limit, s.Exited); err != nil {
		return r, s, err
	}
	probes.Wait()
	return r, s, nil
}

// probeOutcome is a probe's outcome in Restart.Probes: its status, or
// what the client saw (FailureText).
func probeOutcome(resp client.Response) string {
	if resp.Err != nil {
		return client.FailureText(resp.Err)
	}
	return strconv.Itoa(resp.Status)
}

// RollingConfig is one rolling restart under load: the program's
// instances behind HAProxy, hey and clients that never resend a request
// (client.NeverResend, keep-alive) through HAProxy.
type RollingConfig struct {
	Program     string        // as the tables show it: "05-load-balancer"
	Binary      string        // the program to run
	Args        []string      // its flags after -addr
	HealthCheck string        // see HAProxyConfig
	Retries     int           // HAProxy's retries
	Listen      string        // HAProxy's frontend, 127.0.0.1:port
	Instances   []string      // the instances' addresses
	Hey         string        // the hey binary
	Clients     int           // hey -c, and how many clients never resend
	Dir         string        // for haproxy.cfg and its socket; short (see StartHAProxy)
	Limit       time.Duration // bounds each wait
}

// RollingResult is what one rolling restart saw: hey's report, the
// clients that never resend, what HAProxy counted and logged, and each
// instance's restart.
type RollingResult struct {
	Program     string               `json:"program"`
	Retries     int                  `json:"haproxy_retries_setting"`
	Requests    int                  `json:"requests"` // hey's
	Statuses    map[int]int          `json:"statuses"`
	Errors      map[client.Class]int `json:"errors"`
	NeverResend NeverResendResult    `json:"never_resend"`
	Logged      int                  `json:"logged"`           // requests in HAProxy's log
	Retried     int                  `json:"retried"`          // show stat: the backend's wretr
	RetriedLog  int                  `json:"retried_requests"` // requests the log shows retried
	Stalled     int                  `json:"stalled"`          // requests the log shows waiting for a retry
	Slowest     time.Duration        `json:"slowest_ns"`       // Ta, the longest in the log
	RetriedLine string               `json:"retried_line,omitempty"`
	Restarts    []Restart            `json:"restarts"`
}

// NeverResendResult is what the clients that never resend got: the answers by
// status, the failures by what the client saw (FailureText).
type NeverResendResult struct {
	Requests int            `json:"requests"`
	Statuses map[int]int    `json:"statuses"`
	Failures map[string]int `json:"failures"`
	Examples []string       `json:"examples,omitempty"`
}

// NewNeverResendResult sums a NeverResend's counts by status.
func NewNeverResendResult(c client.Counts) NeverResendResult {
	r := NeverResendResult{Requests: c.Requests, Statuses: map[int]int{}, Failures: c.Failures, Examples: c.Examples}
	for a, n := range c.Answers {
		r.Statuses[a.Status] += n
	}
	return r
}

// Failed counts the requests that did not get a 200.
func (r NeverResendResult) Failed() int {
	return r.Requests - r.Statuses[200]
}

// Rejected counts the 503s, hey's, the other clients' and the probes':
// HAProxy's answer when no server took the request.
func (r RollingResult) Rejected() int {
	return r.Statuses[503] + r.NeverResend.Statuses[503] + r.Probes()["503"]
}

// Probes sums the outcomes of every restart's probes (Restart.Probes).
func (r RollingResult) Probes() map[string]int {
	sum := map[string]int{}
	for _, restart := range r.Restarts {
		for outcome, n := range restart.Probes {
			sum[outcome] += n
		}
	}
	return sum
}

// ProbesFailed counts the probes that did not get a 200.
func (r RollingResult) ProbesFailed() int {
	n := 0
	for outcome, count := range r.Probes() {
		if outcome != "200" {
			n += count
		}
	}
	return n
}

// Failed counts hey's requests that did not get a 200.
func (r RollingResult) Failed() int {
	n := 0
	for code, count := range r.Statuses {
		if code != 200 {
			n += count
		}
	}
	for _, count := range r.Errors {
		n += count
	}
	return n
}

// RunRolling starts the instances and HAProxy in front of them (each with
// start), waits until HAProxy reports them all UP, starts hey and
// the clients that never resend through HAProxy, waits until every
// instance serves, restarts them one by one (RollingRestart), waits until
// every new one serves, stops hey (SIGINT: it prints its report) and the
// other clients, and reads the counts.
//
// It ends everything it started before it returns, so that the next run
// may take the same ports.
func RunRolling(start proc.Starter, cfg RollingConfig) (RollingResult, error) {
	res := RollingResult{Program: cfg.Program, Retries: cfg.Retries}
	var started []*proc.Process
	defer func() {
		for _, p := range started {
			// One that has exited is not signalled: its PID may be reused.
			if p.Running() {
				_ = p.Kill(cfg.Limit)
			}
		}
	}()
	startedBy := start
	start = func(cmd *exec.Cmd) (*proc.Process, error) {
		p, err := startedBy(cmd)
		if err == nil {
			started = append(started, p)
		}
		return p, err
	}
	launch := func(addr string) (*proc.Server, error) {
		p, err := start(proc.ServerCommand(cfg.Binary, addr, cfg.Args...))
		if err != nil {
			return nil, err
		}
		s := &proc.Server{Process: p, Addr: addr}
		if err := s.WaitReady(cfg.Limit); err != nil {
			if last := p.LastLine(); strings.Contains(last, "address already in use") {
				return nil, fmt.Errorf("%s on %s: %w: %s", cfg.Program, addr, proc.ErrPortBusy, last)
			}
			return nil, fmt.Errorf("%s on %s: %v: %s", cfg.Program, addr, err, p.LastLine())
		}
		if err := s.OwnsPort(); err != nil {
			return nil, fmt.Errorf("%s on %s: %w", cfg.Program, addr, err)
		}
		return s, nil
	}
	var servers []*proc.Server
	for _, addr := range cfg.Instances {
		s, err := launch(addr)
		if err != nil {
			return res, err
		}
		servers = append(servers, s)
	}
	h, err := haproxy.StartHAProxy(start, cfg.Dir, haproxy.HAProxyConfig{Listen: cfg.Listen, Servers: cfg.Instances,
		Retries: cfg.Retries, Socket: cfg.Dir + "/admin.sock", HealthCheck: cfg.HealthCheck}, cfg.Limit)
	if err != nil {
		return res, err
	}
	if err := h.WaitAllUp(cfg.Limit); err != nil {
		return res, err
	}
	url := "http://" + cfg.Listen + "/"
	// -z bounds hey should nothing stop it; SIGINT ends it sooner.
	hey, err := start(client.HeyCommand(cfg.Hey, url, "-c", strconv.Itoa(cfg.Clients), "-z", (10 * cfg.Limit).String()))
	if err != nil {
		return res, err
	}
	raw := client.StartNeverResend(client.NeverResendOptions{Addr: cfg.Listen, Clients: cfg.Clients, Until: time.Now().Add(10 * cfg.Limit)})
	defer raw.Stop()
	// Evidence that the load reaches every instance, before and after.
	serving := func(servers []*proc.Server) error {
		for _, s := range servers {
			if err := s.WaitLog("GET / started", 3, cfg.Limit); err != nil {
				return err
			}
		}
		return nil
	}
	if err := serving(servers); err != nil {
		return res, err
	}
	res.Restarts, err = RollingRestart(h, servers, launch, cfg.Limit)
	if err != nil {
		return res, fmt.Errorf("rolling restart: %w", err)
	}
	if err := serving(servers); err != nil {
		return res, err
	}

	if err := hey.Signal(syscall.SIGINT); err != nil {
		return res, err
	}
	if _, err := hey.WaitExit(client.HeyTimeout + cfg.Limit); err != nil {
		return res, err
	}
	res.NeverResend = NewNeverResendResult(raw.Stop())
	report := client.ParseHey(hey.Out.String())
	res.Statuses, res.Errors = report.Statuses, report.Errors
	for _, n := range report.Statuses {
		res.Requests += n
	}
	for _, n := range report.Errors {
		res.Requests += n
	}
	stats, err := h.Stats()
	if err != nil {
		return res, err
	}
	res.Retried = stats["BACKEND"].Retries
	// The log is read once HAProxy has exited (SIGUSR1: it stops
	// listening, finishes what it serves, and exits), all of it written.
	if err := h.Signal(syscall.SIGUSR1); err != nil {
		return res, err
	}
	if _, err := h.WaitExit(cfg.Limit); err != nil {
		return res, err
	}
	for _, req := range haproxy.HAProxyRequests(h.Out.All()) {
		res.Logged++
		if req.Retries > 0 {
			res.RetriedLog++
			res.RetriedLine = req.Text
		}
		if req.Stalled() {
			res.Stalled++
		}
		res.Slowest = max(res.Slowest, req.Total)
	}
	if res.Logged == 0 {
		return res, errors.New("no request in HAProxy's log")
	}
	return res, nil
}

// RollingReport is load.sh rolling's --json report.
type RollingReport struct {
	Mode       string          `json:"mode"` // "rolling"
	Results    []RollingResult `json:"results"`
	Mismatches []string        `json:"mismatches"`
}

// DownBeforeStopping counts the instances HAProxy had taken out before
// their listener closed.
func (r RollingResult) DownBeforeStopping() int {
	n := 0
	for _, restart := range r.Restarts {
		if restart.DownBeforeStopping() {
			n++
		}
	}
	return n
}

// Name is the result's column heading: "05-load-balancer, retries 3".
func (r RollingResult) Name() string {
	return fmt.Sprintf("%s, retries %d", r.Program, r.Retries)
}

// RollingTable is load.sh rolling's table of the results, one column
// each.
func RollingTable(results []RollingResult) report.Table {
	t := report.Table{LabelWidth: 24, ColumnWidth: 29}
	for _, r := range results {
		t.Columns = append(t.Columns, r.Name())
	}
	t.Rows = append(t.Rows, row(results, "requests (hey)", func(r RollingResult) string { return fmt.Sprint(r.Requests) }))
	t.Rows = append(t.Rows, statusRows(results, "status", func(r RollingResult) map[int]int { return r.Statuses })...)
	t.Rows = append(t.Rows, classRows(results, func(r RollingResult, c client.Class) int { return r.Errors[c] })...)
	t.Rows = append(t.Rows, row(results, "requests (never resend)", func(r RollingResult) string { return fmt.Sprint(r.NeverResend.Requests) }))
	t.Rows = append(t.Rows, statusRows(results, "  status", func(r RollingResult) map[int]int { return r.NeverResend.Statuses })...)
	var failures []string
	for _, r := range results {
		failures = append(failures, slices.Collect(maps.Keys(r.NeverResend.Failures))...)
	}
	slices.Sort(failures)
	for _, failure := range slices.Compact(failures) {
		t.Rows = append(t.Rows, row(results, "  "+failure, func(r RollingResult) string { return fmt.Sprint(r.NeverResend.Failures[failure]) }))
	}
	t.Rows = append(t.Rows,
		row(results, "probes (one-shot)", func(r RollingResult) string {
			sent := 0
			for _, n := range r.Probes() {
				sent += n
			}
			return fmt.Sprintf("%d, %d failed", sent, r.ProbesFailed())
		}),
		row(results, "HAProxy retried", func(r RollingResult) string { return fmt.Sprint(r.Retried) }),
		row(results, "stalled by a retry", func(r RollingResult) string { return fmt.Sprint(r.Stalled) }),
		row(results, "slowest", func(r RollingResult) string { return report.Seconds(r.Slowest) + " s" }),
		row(results, "DOWN before it stopped", func(r RollingResult) string {
			return fmt.Sprintf("%d of %d", r.DownBeforeStopping(), len(r.Restarts))
		}))
	return t
}

// RollingMismatches is load.sh rolling's verdict: where the results
// contradict the lesson (lesson.Promises). Every instance exits 0. A
// program that leaves the balancer first (05) fails no request, hey's nor the other
// clients' nor the probes', needs no retry (show stat, the log's retried
// and stalled requests), and every instance is DOWN in HAProxy before it stops
// accepting; 02 needs HAProxy's retries (show stat) and its requests stall
// for them, or, without retries, costs 503s.
func RollingMismatches(results []RollingResult) []string {
	var found []string
	for _, r := range results {
		for _, restart := range r.Restarts {
			if restart.Exit != "exit 0" {
				found = append(found, fmt.Sprintf("%s: %s (pid %d) ended with %s, want exit 0", r.Name(), restart.Server, restart.OldPID, restart.Exit))
			}
		}
		switch {
		case lesson.Promises[r.Program].LeavesBalancerFirst:
			if n := r.Failed(); n > 0 {
				found = append(found, fmt.Sprintf("%s: %d of hey's requests failed, want none", r.Name(), n))
			}
			if n := r.NeverResend.Failed(); n > 0 {
				found = append(found, fmt.Sprintf("%s: %d requests of the clients that never resend failed (%v), want none", r.Name(), n, r.NeverResend.Failures))
			}
			if n := r.ProbesFailed(); n > 0 {
				found = append(found, fmt.Sprintf("%s: %d probes failed (%v), want none", r.Name(), n, r.Probes()))
			}
			if r.Retried > 0 || r.RetriedLog > 0 || r.Stalled > 0 {
				found = append(found, fmt.Sprintf("%s: HAProxy retried %d connections (show stat); its log shows %d requests retried, %d stalled; want none",
					r.Name(), r.Retried, r.RetriedLog, r.Stalled))
			}
			if n := r.DownBeforeStopping(); n != len(r.Restarts) {
				found = append(found, fmt.Sprintf("%s: %d of %d instances DOWN before they stopped accepting, want all", r.Name(), n, len(r.Restarts)))
			}
		case r.Retries > 0:
			if r.Retried == 0 || r.Stalled == 0 {
				found = append(found, fmt.Sprintf("%s: HAProxy retried %d connections (show stat), %d requests stalled (log); want some of each",
					r.Name(), r.Retried, r.Stalled))
			}
		default:
			if r.Rejected() == 0 {
				found = append(found, r.Name()+": no 503, want some")
			}
		}
	}
	return found
}

// RestartVerdict is one instance's restart in the verdict's words.
func RestartVerdict(r Restart) string {
	down := "DOWN before it stopped"
	switch {
	case r.Down.IsZero():
		down = "never DOWN"
	case !r.DownBeforeStopping():
		down = "DOWN after it stopped"
	}
	up := "UP"
	if r.Up.IsZero() {
		up = "never UP"
	}
	return down + ", " + r.Exit + ", " + up
}

// RestartRow draws an instance of a rolling restart on a timeline that
// starts at t0 and ends at stopped: up ('-') until HAProxy has it DOWN
// ('D'), which lasts until it exits ('o' for exit 0), then the new one up
// from when HAProxy reports it UP.
func RestartRow(r Restart, t0, stopped time.Time) report.TimelineRow {
	down := r.Down
	if down.IsZero() || down.After(r.Exited) {
		down = r.Exited
	}
	spans := []report.Span{
		{From: t0, To: down, Fill: '-'},
		{From: down, To: r.Exited, Fill: 'D', End: endMark(r.Exit == "exit 0")},
	}
	if !r.Up.IsZero() {
		spans = append(spans, report.Span{From: r.Up, To: stopped, Fill: '-', End: 'o'})
	}
	return report.TimelineRow{Label: r.Server, OK: RestartVerdict(r) == lesson.RestartedCleanly, Spans: spans,
		Note: fmt.Sprintf("SIGTERM %s, DOWN %s, exit %s, UP %s", report.SecondsSince(t0, r.Signalled),
			report.SecondsSince(t0, r.Down), report.SecondsSince(t0, r.Exited), report.SecondsSince(t0, r.Up))}
}

// endMark is 'o' for an ending that went well, 'X' for one that did not.
func endMark(ok bool) byte {
	if ok {
		return 'o'
	}
	return 'X'
}
