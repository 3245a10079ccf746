package haproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// HAProxy is the real load balancer of 05-load-balancer's lesson: Debian's
// haproxy, started as a child in the foreground (-db) with a generated
// configuration, its log on its stdout, its runtime API on a unix socket.

// HAProxyMissing is the one-line message for a machine without haproxy.
const HAProxyMissing = "haproxy is not installed: apt-get install haproxy"

// BackendName is the backend every generated configuration defines; its
// servers are named app1, app2, ...
const BackendName = "app"

// HAProxyConfig is what the generated configuration varies: where HAProxy
// listens, the instances behind it, and how often it retries a connection
// an instance refused.
type HAProxyConfig struct {
	Listen  string   // the frontend, 127.0.0.1:port
	Servers []string // the instances, 127.0.0.1:port each
	Retries int      // the backend's retries
	Socket  string   // the runtime API's unix socket
	// HealthCheck is the path HAProxy's check asks for ("/readyz"); empty
	// for a program that has none (02-graceful): the check then only
	// connects, the most HAProxy can know of it.
	HealthCheck string
}

// ServerName is the name of the i-th server (from 0) in the configuration.
func ServerName(i int) string { return "app" + strconv.Itoa(i+1) }

// Text is the configuration as a user would write it: a frontend, a
// backend whose health check asks GET /readyz every 100 ms (two failures
// take a server out, two successes put it back), the usual retries, the
// HTTP log on stdout and an admin socket for the runtime API. A check may
// take 2 s (timeout check; without it, the 100 ms of inter): a draining
// instance answers 503 at once, but on a busy machine a healthy one may
// answer a check late, and must not be taken out for that.
func (c HAProxyConfig) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    log stdout format raw local0
    stats socket %s mode 600 level admin

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout check 2s
    retries %d

frontend web
    bind %s
    default_backend %s

backend %s
    balance roundrobin
`, c.Socket, c.Retries, c.Listen, BackendName, BackendName)
	if c.HealthCheck != "" {
		fmt.Fprintf(&b, "    option httpchk GET %s\n", c.HealthCheck)
	}
	b.WriteString("    default-server inter 100ms fall 2 rise 2\n")
	for i, addr := range c.Servers {
		fmt.Fprintf(&b, "    server %s %s check\n", ServerName(i), addr)
	}
	return b.String()
}

// HAProxy is a running haproxy.
type HAProxy struct {
	*proc.Process
	Config HAProxyConfig
}

// HAProxyCommand is `haproxy -db -f cfgFile`: in the foreground, so that
// it is our child, in our process group's reach, its log on its stdout.
func HAProxyCommand(cfgFile string) *exec.Cmd {
	return exec.Command("haproxy", "-db", "-f", cfgFile)
}

// StartHAProxy writes cfg into dir/haproxy.cfg, starts haproxy with start
// (Start, a Guard's Start, or a test's wrapper that ends it at cleanup),
// and waits (limit at most) until its frontend listens and its runtime API
// answers. dir must be short: a unix socket's path has 107 bytes at most.
func StartHAProxy(start proc.Starter, dir string, cfg HAProxyConfig, limit time.Duration) (*HAProxy, error) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		return nil, errors.New(HAProxyMissing)
	}
	if len(cfg.Socket) > 107 {
		return nil, fmt.Errorf("the path of HAProxy's socket is too long for a unix socket (%d bytes, 107 at most): %s", len(cfg.Socket), cfg.Socket)
	}
	file := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg.Text()), 0o644); err != nil {
		return nil, err
	}
	// HAProxy's command line names no address: the leftover check looks
	// for its configuration file.
	proc.RememberArgument(file)
	p, err := start(HAProxyCommand(file))
	if err != nil {
		return nil, err
	}
	h := &HAProxy{Process: p, Config: cfg}
	// Another process on the frontend's port also answers here: then
	// HAProxy exits, and the runtime API never answers.
	if err := proc.WaitListening(cfg.Listen, proc.Connect, limit, p.Exited); err != nil {
		return nil, haproxyFailed(p, cfg.Listen, err)
	}
	// The runtime API's socket may come a moment after the frontend.
	deadline := time.Now().Add(limit)
	for {
		_, err := h.ServersState()
		if err == nil {
			return h, nil
		}
		if !p.Running() || time.Now().After(deadline) {
			return nil, haproxyFailed(p, cfg.Listen, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// haproxyFailed is StartHAProxy's error once haproxy did not come up: a
// busy frontend port as ErrPortBusy with HAProxy's own line about it
// (wherever it is in the output: HAProxy goes on to say more), anything
// else with its last line.
func haproxyFailed(p *proc.Process, listen string, err error) error {
	last := p.LastLine() // waits a moment for the rest of the output
	if line, ok := p.Out.First("cannot bind socket"); ok && strings.Contains(line.Text, "Address already in use") {
		return fmt.Errorf("haproxy on %s: %w: %s", listen, proc.ErrPortBusy, strings.TrimSpace(line.Text))
	}
	return fmt.Errorf("haproxy: %v: %s", err, last)
}

// Command sends one command to the runtime API and returns its answer.
func (h *HAProxy) Command(command string) (string, error) {
	conn, err := net.DialTimeout("unix", h.Config.Socket, time.Second)
	if err != nil {
		return "", fmt.Errorf("haproxy's runtime API: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, command+"\n"); err != nil {
		return "", fmt.Errorf("haproxy's runtime API: %w", err)
	}
	answer, err := io.ReadAll(conn)
	if err != nil {
		return "", fmt.Errorf("haproxy's runtime API: %w", err)
	}
	return string(answer), nil
}

// ServerState is one server as `show servers state` reports it.
type ServerState struct {
	Name    string
	OpState int // srv_op_state: 0 stopped (DOWN), 1 starting, 2 running (UP), 3 stopping
}

// Up reports whether HAProxy sends the server traffic.
func (s ServerState) Up() bool { return s.OpState == 2 }

// ServersState asks the runtime API for `show servers state` of the backend.
func (h *HAProxy) ServersState() (map[string]ServerState, error) {
	answer, err := h.Command("show servers state " + BackendName)
	if err != nil {
		return nil, err
	}
	return ParseServersState(answer)
}

// ParseServersState reads `show servers state`: a version line, a header
// line "# be_id be_name srv_id srv_name srv_addr srv_op_state ...", then
// one line per server, fields in the header's order.
func ParseServersState(answer string) (map[string]ServerState, error) {
	var columns map[string]int
	states := map[string]ServerState{}
	for line := range strings.Lines(answer) {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case fields[0] == "#":
			columns = map[string]int{}
			for i, name := range fields[1:] {
				columns[name] = i
			}
		case columns != nil:
			get := func(name string) string {
				if i, ok := columns[name]; ok && i < len(fields) {
					return fields[i]
				}
				return ""
			}
			op, err := strconv.Atoi(get("srv_op_state"))
			if err != nil {
				return nil, fmt.Errorf("show servers state: no srv_op_state in %q", line)
			}
			s := ServerState{Name: get("srv_name"), OpState: op}
			states[s.Name] = s
		}
	}
	if columns == nil {
		return nil, fmt.Errorf("show servers state: no header in %q", answer)
	}
	return states, nil
}

// Stat is one row of `show stat`: a server, or the backend (Name "BACKEND").
type Stat struct {
	Name    string
	Retries int // wretr: connections retried
}

// Stats asks the runtime API for `show stat` of the backend's rows.
func (h *HAProxy) Stats() (map[string]Stat, error) {
	answer, err := h.Command("show stat")
	if err != nil {
		return nil, err
	}
	return ParseStats(answer)
}

// ParseStats reads `show stat`'s CSV: a "# pxname,svname,..." header, then
// one row per frontend, server and backend; it keeps the backend's rows.
func ParseStats(answer string) (map[string]Stat, error) {
	var columns map[string]int
	stats := map[string]Stat{}
	for line := range strings.Lines(answer) {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			columns = map[string]int{}
			for i, name := range strings.Split(rest, ",") {
				columns[name] = i
			}
			continue
		}
		fields := strings.Split(line, ",")
		if columns == nil || len(fields) < len(columns) || fields[columns["pxname"]] != BackendName {
			continue
		}
		retries, _ := strconv.Atoi(fields[columns["wretr"]])
		s := Stat{Name: fields[columns["svname"]], Retries: retries}
		stats[s.Name] = s
	}
	if columns == nil {
		return nil, fmt.Errorf("show stat: no header in %q", answer)
	}
	return stats, nil
}

// HAProxyRequest is one request as HAProxy's HTTP log (option httplog)
// reports it.
type HAProxyRequest struct {
	Connect time.Duration // Tc: connecting to the server, retries included
	Total   time.Duration // Ta: the whole request
	Retries int           // %rc
	Text    string        // the log line
}

// Stalled reports whether the request waited for a retry: HAProxy retries
// a refused connection after min(timeout connect, 1 s).
func (r HAProxyRequest) Stalled() bool { return r.Retries > 0 || r.Connect >= time.Second }

// httplog matches option httplog's "BACKEND/SERVER TR/Tw/Tc/Tr/Ta STATUS
// BYTES CC CS TERM ac/fc/bc/sc/rc".
var httplog = regexp.MustCompile(` \S+/\S+ -?\d+/-?\d+/(-?\d+)/-?\d+/\+?(-?\d+) -?\d+ \d+ \S+ \S+ \S{4} \d+/\d+/\d+/\d+/\+?(\d+) `)

// HAProxyRequests reads the HTTP log lines out of haproxy's output.
func HAProxyRequests(lines []proc.Line) []HAProxyRequest {
	var found []HAProxyRequest
	for _, l := range lines {
		m := httplog.FindStringSubmatch(l.Text)
		if m == nil {
			continue
		}
		ms := func(s string) time.Duration { n, _ := strconv.Atoi(s); return time.Duration(n) * time.Millisecond }
		retries, _ := strconv.Atoi(m[3])
		found = append(found, HAProxyRequest{Connect: ms(m[1]), Total: ms(m[2]), Retries: retries, Text: l.Text})
	}
	return found
}

// WaitUp polls the runtime API until server is UP, and returns when it saw
// it; it gives up when exited is closed or after limit.
func (h *HAProxy) WaitUp(server string, limit time.Duration, exited <-chan struct{}) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		states, err := h.ServersState()
		if err != nil {
			return time.Time{}, err
		}
		if states[server].Up() {
			return time.Now(), nil
		}
		select {
		case <-exited:
			return time.Time{}, fmt.Errorf("%s exited before HAProxy saw it UP", server)
		default:
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("HAProxy did not report %s UP within %s", server, limit)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// WaitAllUp waits until HAProxy reports every configured server UP.
func (h *HAProxy) WaitAllUp(limit time.Duration) error {
	for i := range h.Config.Servers {
		if _, err := h.WaitUp(ServerName(i), limit, h.Exited); err != nil {
			return err
		}
	}
	return nil
}
