package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// requireChromium returns the path of Debian's chromium, or skips the test
// saying how to install it; under CI=true, where .ci/run installs it, the
// test fails instead.
func requireChromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		missing(t, proc.ChromiumMissing)
	}
	return path
}

// openBrowser starts a headless Chromium with a fresh profile, in a process
// group of its own, and returns a chromedp context on a tab of it. The
// cleanup closes the tab and ends every Chromium process, also when the
// test fails.
func openBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "chromium-")
	if err != nil {
		t.Fatal(err)
	}
	p, err := proc.Start(proc.ChromiumCommand(path, profile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := proc.EndChromium(p, profile, exitTimeout); err != nil {
			t.Error(err)
		}
		os.RemoveAll(profile)
	})
	wsURL, err := proc.DevToolsURL(p, readyTimeout)
	if err != nil {
		t.Fatal(err)
	}
	allocCtx, cancelAlloc := remote.NewAllocator(context.Background(), wsURL, remote.NoModifyURL)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	return ctx
}

// liveLine is one line /live printed: when (ms since the epoch, the
// browser's clock, which is this machine's), from which source ("events"
// or "socket"), and what.
type liveLine struct {
	At     float64 `json:"at"`
	Source string  `json:"source"`
	Text   string  `json:"text"`
}

func (l liveLine) time() time.Time { return time.UnixMilli(int64(l.At)) }

// livePage is the /live page open in the browser.
type livePage struct {
	ctx context.Context
}

// lines reads every line the page has printed so far.
func (p livePage) lines(t *testing.T) []liveLine {
	t.Helper()
	lines, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]liveLine]("window.liveLines"))
	if err != nil {
		t.Fatalf("reading the page's lines: %v", err)
	}
	return lines
}

// waitFor waits until the page has printed, from source, a line starting
// with text, after its first `after` lines, and returns its index and the
// line.
func (p livePage) waitFor(t *testing.T, after int, source, text string) (int, liveLine) {
	t.Helper()
	deadline := time.Now().Add(logTimeout)
	for {
		lines := p.lines(t)
		for i := after; i < len(lines); i++ {
			if lines[i].Source == source && strings.HasPrefix(lines[i].Text, text) {
				return i, lines[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page printed no %q line %q within %s; it printed:\n%s", source, text, logTimeout, renderLines(lines))
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func renderLines(lines []liveLine) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "  %s %s %s\n", l.time().Format("15:04:05.000"), l.Source, l.Text)
	}
	return b.String()
}

// A real browser on 06-streaming's /live: headless Chromium, driven by
// chromedp, holds an EventSource on /events, a WebSocket on /ws and any
// connection it opened on its own. At SIGTERM the page shows the shutdown
// event and the socket's clean close 1001, and the server exits 0 at once,
// the browser's connections still open: none of them holds the stop, and
// the process is gone before the browser tries to reconnect (the retry:
// hint, 2 s). Chromium keeps a spare connection it has not used: without
// connections.go, Shutdown waited for it until the EventSource reconnected
// on it 2 s later (net/http closed it instead of answering, and only then
// was the server idle). The budget is generous, 10 s. The server starts
// again on the same port, and the page shows
// the EventSource reconnecting by itself after the retry: hint, and the
// first tick of the new server. The restarted server stops at once too.
//
// LIVE_SCREENSHOT=FILE saves a PNG of the page once it has reconnected
// (06-streaming/live.png comes from such a run).
func TestLivePageInBrowser(t *testing.T) {
	chromium := requireChromium(t)
	t.Parallel()
	const budget = 10 * time.Second
	args := []string{"-tick", "250ms", "-timeout", budget.String()}
	s := startServer(t, "06-streaming", args...)
	_, portText, _ := net.SplitHostPort(s.addr)
	port, _ := strconv.Atoi(portText)

	ctx := openBrowser(t, chromium)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(960, 420)); err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url("/live"))); err != nil {
		t.Fatalf("loading /live: %v", err)
	}
	page := livePage{ctx}
	page.waitFor(t, 0, "events", "tick 1")
	page.waitFor(t, 0, "socket", "tick 1")
	held, err := proc.ConnectionsHeld(s.PID(), port)
	if err != nil {
		t.Fatal(err)
	}

	signalled := time.Now()
	s.signal(t, syscall.SIGTERM)
	state := s.waitExit(t)
	exited := s.ExitedAt.Sub(signalled)
	shutdownAt, shutdown := page.waitFor(t, 0, "events", "shutdown: server shutting down")
	_, closed := page.waitFor(t, 0, "socket", "close 1001 server shutting down, clean")
	t.Logf("SIGTERM %s after the page was opened, with %d connections of the browser open: shutdown event +%s, close 1001 +%s, exit +%s (%s)",
		ms(signalled.Sub(opened)), held, ms(shutdown.time().Sub(signalled)), ms(closed.time().Sub(signalled)), ms(exited), proc.ExitText(state))
	s.assertExitedWith(t, state, 0)
	_, lost := page.waitFor(t, shutdownAt, "events", "connection lost")
	if retry := lost.time().Add(reconnectAfter); !s.ExitedAt.Before(retry) {
		t.Errorf("exit %s after the stream was lost: want it before the browser's retry, %s later", ms(s.ExitedAt.Sub(lost.time())), reconnectAfter)
	}
	if held < 2 {
		t.Errorf("want the browser's stream and socket open at the signal, the server held %d connections", held)
	}

	restarted := launch(t, filepath.Join(binDir, "06-streaming"), s.addr, args...)
	if err := restarted.waitReady(); err != nil {
		t.Fatalf("06-streaming did not start again on %s: %v\noutput:\n%s", s.addr, err, restarted.out)
	}
	listening := time.Now()
	reconnectAt, reconnect := page.waitFor(t, shutdownAt, "events", "open again: reconnected")
	_, firstTick := page.waitFor(t, reconnectAt, "events", "tick 1")
	_, socketAgain := page.waitFor(t, shutdownAt, "socket", "open again: reconnected")
	t.Logf("restarted %s after SIGTERM; the EventSource reconnected +%s after the shutdown event (+%s after the restart), its first tick +%s; the page's WebSocket +%s after the restart",
		ms(listening.Sub(signalled)), ms(reconnect.time().Sub(shutdown.time())), ms(reconnect.time().Sub(listening)),
		ms(firstTick.time().Sub(listening)), ms(socketAgain.time().Sub(listening)))
	t.Logf("the page printed:\n%s", renderLines(page.lines(t)))

	if file := os.Getenv("LIVE_SCREENSHOT"); file != "" {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	signalled = time.Now()
	restarted.signal(t, syscall.SIGTERM)
	state = restarted.waitExit(t)
	t.Logf("the restarted server exited +%s after SIGTERM (%s)", ms(restarted.ExitedAt.Sub(signalled)), proc.ExitText(state))
	restarted.assertExitedWith(t, state, 0)
}

// reconnectAfter is 06's retry: hint, the wait before an EventSource
// reconnects.
const reconnectAfter = 2 * time.Second

// ms is a duration in milliseconds, as the logs show them.
func ms(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}
