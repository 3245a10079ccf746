package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/haproxy"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// runRolling is step 5: 05-load-balancer's three instances behind HAProxy
// on PORT (the instances on the three ports after it), restarted one by
// one while clients send GET / through HAProxy.
func (d *demo) runRolling(step lesson.Step) {
	program := step.Program
	_, portText, _ := net.SplitHostPort(d.addr)
	port, _ := strconv.Atoi(portText)
	var addrs []string
	for i := 1; i <= step.Instances; i++ {
		addr := "127.0.0.1:" + strconv.Itoa(port+i)
		if err := proc.RequireFreePort(addr); err != nil {
			d.die("%v", err)
		}
		addrs = append(addrs, addr)
	}
	flags := step.Flags(d.t)
	get := d.curlLine(client.CurlHeaders, "GET", "/")
	build := proc.BuildCommand(program, "./"+program, "")
	lines := []string{quote(build...)}
	for _, addr := range addrs {
		lines = append(lines, quote(append([]string{"GIN_MODE=release", "./" + program, "-addr", addr}, append(flags, "&")...)...))
	}
	lines = append(lines, d.w.T("cat haproxy.cfg            # written by the demo: %d servers, option httpchk GET /readyz", step.Instances),
		"haproxy -db -f haproxy.cfg &",
		d.w.T("%s   # %d clients through HAProxy, again and again", get, step.Clients),
		d.w.T("kill -TERM <app1 pid>      # wait until it exits, start it again, wait until HAProxy says UP;"),
		d.w.T("                           # then app2, then app3 (HAProxy's state from its runtime API)"),
		d.w.T("kill -TERM <each pid>      # once the load stopped; HAProxy too"))
	d.beginStep(step, lines)

	d.show(quote("cd", d.root))
	build[len(build)-2] = filepath.Join(d.bin, program) // -o into the build folder
	d.run(d.root, build...)
	d.show(quote("cd", d.bin))

	launch := func(addr string) (*proc.Server, error) {
		d.show(quote(append([]string{"GIN_MODE=release", "./" + program, "-addr", addr}, append(flags, "&")...)...))
		s, err := d.drv.StartServer(filepath.Join(d.bin, program), addr, flags...)
		if err != nil {
			return nil, err
		}
		if err := s.WaitReady(10 * time.Second); err != nil {
			return nil, fmt.Errorf("%s did not start: %v: %s", addr, err, lastLine(s.Out))
		}
		if err := s.OwnsPort(); err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
		d.note("listening on %s, PID %d", addr, s.PID())
		return s, nil
	}
	var servers []*proc.Server
	for _, addr := range addrs {
		s, err := launch(addr)
		if err != nil {
			d.die("%v", err)
		}
		servers = append(servers, s)
	}
	cfg := haproxy.HAProxyConfig{Listen: d.addr, Servers: addrs, Retries: 3, Socket: filepath.Join(d.work, "admin.sock"), HealthCheck: "/readyz"}
	config := filepath.Join(d.work, "haproxy.cfg")
	if err := os.WriteFile(config, []byte(cfg.Text()), 0o644); err != nil {
		d.die("%v", err)
	}
	d.show(quote("cat", config))
	text, err := exec.Command("cat", config).Output()
	if err != nil {
		d.die("cat haproxy.cfg: %v", err)
	}
	for line := range strings.Lines(string(text)) {
		d.result(strings.TrimRight(line, "\n"))
	}
	d.show(quote("haproxy", "-db", "-f", config) + " &")
	h, err := haproxy.StartHAProxy(d.drv.Start, d.work, cfg, 10*time.Second)
	if err != nil {
		d.die("%v", err)
	}
	if err := h.WaitAllUp(10 * time.Second); err != nil {
		d.die("%v", err)
	}
	d.note("HAProxy (PID %d) reports app1, app2 and app3 UP", h.PID())

	// The clients.
	d.stepT0 = time.Now()
	load := d.startCurlLoad(step.Clients, get)
	serving := func() {
		for _, s := range servers {
			d.waitLog(s, lesson.Evidence{Text: "GET / started", N: step.Answers})
		}
	}
	serving()
	d.note("every instance has answered %d requests", step.Answers)

	var restarts []scenario.Restart
	for i := range servers {
		d.note("app%d: SIGTERM; HAProxy's runtime API says when it is DOWN", i+1)
		r, s, err := scenario.RestartOne(h, i, servers[i], func(old *proc.Server) error {
			d.kill(syscall.SIGTERM, old.PID())
			return nil
		}, false, launch, 30*time.Second)
		if err != nil {
			d.die("%v", err)
		}
		servers[i] = s
		restarts = append(restarts, r)
		d.note("app%d: DOWN at +%s s, %s at +%s s, the new one UP at +%s s", i+1, at(d.stepT0, r.Down),
			d.w.Phrase(r.Exit), at(d.stepT0, r.Exited), at(d.stepT0, r.Up))
	}
	serving()
	d.note("stop the load: each client finishes the request it has in flight")
	answers := load.finish()
	stats, err := h.Stats()
	if err != nil {
		d.die("%v", err)
	}
	d.note("stop the instances and HAProxy")
	for _, s := range servers {
		d.kill(syscall.SIGTERM, s.PID())
	}
	newExits := map[string]string{}
	for i, s := range servers {
		newExits[haproxy.ServerName(i)] = proc.ExitText(d.waitExit(s))
	}
	d.kill(syscall.SIGTERM, h.PID())
	if _, err := h.WaitExit(10 * time.Second); err != nil {
		d.die("%v", err)
	}
	stopped := time.Now()

	got := map[string]string{
		"requests": requestsVerdict(answers),
		"retries":  fmt.Sprintf("%d (HAProxy's show stat)", stats["BACKEND"].Retries),
	}
	for _, r := range restarts {
		got[r.Server] = scenario.RestartVerdict(r)
		if exit := newExits[r.Server]; exit != "exit 0" {
			got[r.Server] += ", the new one " + exit
		}
	}
	verdicts := judge(step.Expect, got)

	var rows []report.TimelineRow
	for n, as := range answers {
		row := report.TimelineRow{Label: fmt.Sprintf("client%d", n+1), OK: true}
		bad := 0
		for _, a := range as {
			s := report.Span{From: a.Sent, To: a.Done, Fill: '=', End: 'o'}
			if !a.OK() {
				s.End, row.OK = 'X', false
				bad++
			}
			row.Spans = append(row.Spans, s)
		}
		row.Note = fmt.Sprintf("%d answered, %d failed", len(as)-bad, bad)
		rows = append(rows, row)
	}
	// Requests per instance: each answer names its process (X-Pid).
	served := map[string]int{}
	for _, as := range answers {
		for _, a := range as {
			if a.OK() {
				served[a.PID()]++
			}
		}
	}
	for _, r := range restarts {
		row := scenario.RestartRow(r, d.stepT0, stopped)
		row.Note += fmt.Sprintf("; answered %d, the new one %d", served[strconv.Itoa(r.OldPID)], served[strconv.Itoa(r.NewPID)])
		rows = append(rows, row)
	}
	d.report(program, verdicts, report.Timeline{
		Start: d.stepT0, Signal: restarts[0].Signalled, SignalName: "app1's SIGTERM",
		Rows: rows, Legend: report.LegendRolling,
	})
}

// at is a moment on the step's clock, in seconds; "never" for none.
func at(t0, t time.Time) string { return report.SecondsSince(t0, t) }
