package tests

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// GET /live is a page built into 06-streaming: HTML that opens /events and
// /ws and asks for nothing else (no script, style sheet or icon from
// anywhere), so a student's browser needs the server alone.
func TestLivePageStandalone(t *testing.T) {
	t.Parallel()
	s := startServer(t, "06-streaming", "-timeout", "60s")
	r := send(http.MethodGet, s.url("/live"))
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /live: want 200, got %d, %v", r.status, r.err)
	}
	for _, want := range []string{`new EventSource("/events")`, `"/ws"`, "window.liveLines"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("GET /live: want the page to contain %s", want)
		}
	}
	// Every src= or href= the page has is a data: URL.
	for _, ref := range regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']?([^"'\s>]*)`).FindAllStringSubmatch(r.body, -1) {
		if !strings.HasPrefix(ref[1], "data:") {
			t.Errorf("GET /live refers to %q: want no outside assets", ref[1])
		}
	}
}
