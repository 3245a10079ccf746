package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/lesson"
)

// Curl is one request made by a real curl process, as the class would
// type it: its own error texts (`curl: (52) Empty reply from server`) are
// what the class should see.
type Curl struct {
	Args   []string // the command line, curl first
	Sent   time.Time
	Done   time.Time
	Exit   int    // curl's exit code
	Stdout string // the body, then the -w line
	Stderr string
}

// What curl prints after the body: the status code (CurlStatus), and which
// build and process answered (CurlHeaders; curl 7.84 or newer: %header{}).
const (
	CurlStatus  = `\n%{http_code}`
	CurlHeaders = `\n%{http_code} X-Version: %header{x-version} X-Pid: %header{x-pid}`
)

// CurlArgs is the command line for one request, write being CurlStatus or
// CurlHeaders; maxTime bounds it, so a run never hangs on one.
func CurlArgs(maxTime time.Duration, write, method, url string) []string {
	args := []string{"curl", "-sS", "--max-time", strconv.Itoa(int(maxTime.Seconds())), "-w", write}
	if method != "GET" {
		args = append(args, "-X", method)
	}
	return append(args, url)
}

// RunCurl runs curl with args (CurlArgs) in a process group of its own and
// waits for it; cancelling ctx kills it.
func RunCurl(ctx context.Context, args []string) *Curl {
	c := &Curl{Args: args}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	c.Sent = time.Now()
	err := cmd.Run()
	c.Done = time.Now()
	c.Stdout, c.Stderr = stdout.String(), stderr.String()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		c.Exit = exitErr.ExitCode()
	default:
		c.Exit = -1
		c.Stderr = err.Error()
	}
	return c
}

var curlTail = regexp.MustCompile(`\n(\d{3})(?: X-Version: (.*) X-Pid: (.*))?$`)

// Status, Body, Version and PID read what curl printed (zero values when
// curl failed).
func (c *Curl) parts() (status int, body, version, pid string) {
	m := curlTail.FindStringSubmatchIndex(c.Stdout)
	if c.Exit != 0 || m == nil {
		return 0, "", "", ""
	}
	status, _ = strconv.Atoi(c.Stdout[m[2]:m[3]])
	if m[4] >= 0 {
		version, pid = c.Stdout[m[4]:m[5]], c.Stdout[m[6]:m[7]]
	}
	return status, c.Stdout[:m[0]], version, pid
}

func (c *Curl) Status() int     { s, _, _, _ := c.parts(); return s }
func (c *Curl) Body() string    { _, b, _, _ := c.parts(); return b }
func (c *Curl) Version() string { _, _, v, _ := c.parts(); return v }
func (c *Curl) PID() string     { _, _, _, p := c.parts(); return p }

// OK reports whether the request got 200 Welcome Gin Server.
func (c *Curl) OK() bool { return c.Status() == 200 && c.Body() == lesson.Welcome }

// Outcome is what the request got, in the verdict's words: "200 Welcome
// Gin Server", "curl: (7) connection refused", "curl: (52) Empty reply
// from server".
func (c *Curl) Outcome() string {
	if c.Exit == 0 {
		return strings.TrimSpace(fmt.Sprintf("%d %s", c.Status(), c.Body()))
	}
	msg, _, _ := strings.Cut(c.Stderr, "\n")
	if c.Exit == 7 && (strings.Contains(msg, "refused") || strings.Contains(msg, "Couldn't connect")) {
		return "curl: (7) connection refused"
	}
	if _, rest, ok := strings.Cut(msg, ") "); ok && strings.HasPrefix(msg, "curl: (") {
		msg = rest
	}
	return fmt.Sprintf("curl: (%d) %s", c.Exit, msg)
}

// Short is the outcome in a timeline note: "200", "refused", "empty reply".
func (c *Curl) Short() string {
	switch c.Exit {
	case 0:
		return strconv.Itoa(c.Status())
	case 7:
		return "refused"
	case 52:
		return "empty reply"
	}
	return fmt.Sprintf("curl error %d", c.Exit)
}
