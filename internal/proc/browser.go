package proc

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// ChromiumMissing is what a test that needs the browser says without it.
const ChromiumMissing = "chromium not installed: apt-get install chromium"

// ChromiumCommand runs a headless Chromium with a fresh profile in profile
// and its DevTools endpoint on a free loopback port (see DevToolsURL). The
// flags keep it from reaching out: no background networking, component
// updates or sync, which a closed network refuses (and which would open
// connections of their own); no QUIC; no GPU. --no-sandbox because the
// tests may run as root. Its crash handlers leave the process group; with
// XDG_CONFIG_HOME inside profile their command lines name it, so that
// EndChromium finds them too.
func ChromiumCommand(path, profile string) *exec.Cmd {
	RememberArgument(profile) // the leak check looks for it
	cmd := exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"about:blank")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+profile)
	return cmd
}

var devToolsLine = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// DevToolsURL waits for Chromium's "DevTools listening on ws://..." line and
// returns the address, for chromedp.NewRemoteAllocator.
func DevToolsURL(p *Process, limit time.Duration) (string, error) {
	if err := p.WaitLog("DevTools listening on ws://", 1, limit); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(p.Out.String()))
	}
	line := p.Out.Lines("DevTools listening on ws://")[0]
	return devToolsLine.FindStringSubmatch(line)[1], nil
}

// EndChromium ends a Chromium started with ChromiumCommand: its process
// group, then, by PID, any descendant still naming profile on its command
// line (every Chromium process carries --user-data-dir), until a few looks
// in a row find none. It fails if one is still there after limit.
func EndChromium(p *Process, profile string, limit time.Duration) error {
	err := p.Kill(limit)
	deadline := time.Now().Add(limit)
	for quiet := 0; quiet < 3; time.Sleep(10 * time.Millisecond) {
		pids := processesNaming([]string{profile})
		if len(pids) == 0 {
			quiet++
			continue
		}
		quiet = 0
		if time.Now().After(deadline) {
			return fmt.Errorf("chromium processes still running after %s: %v", limit, pids)
		}
		KillAndReap(pids)
	}
	return err
}
