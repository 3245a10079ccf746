package tests

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// loadLimit bounds every load run, whatever happens to the test.
const loadLimit = 2 * time.Minute

// hit is one request of a load run.
type hit struct {
	status  int
	body    string
	pid     string // X-Pid: which process answered
	version string // X-Version: which build answered
	err     error
	client  string // "keep-alive" or "fresh": how the client connects
	at      time.Time
}

// load keeps clients hammering a URL until it is finished: some reuse
// keep-alive connections, some open a fresh connection per request.
type load struct {
	stop    chan struct{}
	workers sync.WaitGroup
	mu      sync.Mutex
	hits    []hit
	changed chan struct{} // closed and replaced on every hit
}

// startLoad starts keepAlive + fresh clients against url. They stop when
// finish is called, at the latest after loadLimit.
func startLoad(t *testing.T, url string, keepAlive, fresh int) *load {
	l := &load{stop: make(chan struct{}), changed: make(chan struct{})}
	shared := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: keepAlive},
		Timeout:   clientTimeout,
	}
	deadline := time.Now().Add(loadLimit)
	for i := range keepAlive + fresh {
		client, kind := shared, "keep-alive"
		if i >= keepAlive {
			client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: clientTimeout}
			kind = "fresh"
		}
		l.workers.Go(func() {
			for time.Now().Before(deadline) {
				select {
				case <-l.stop:
					return
				default:
				}
				h := get(client, url)
				h.client = kind
				l.record(h)
			}
		})
	}
	t.Cleanup(func() { l.finish() })
	return l
}

func get(client *http.Client, url string) hit {
	resp, err := client.Get(url)
	if err != nil {
		return hit{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return hit{
		status:  resp.StatusCode,
		body:    string(body),
		pid:     resp.Header.Get("X-Pid"),
		version: resp.Header.Get("X-Version"),
		err:     err,
	}
}

func (l *load) record(h hit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h.at = time.Now()
	l.hits = append(l.hits, h)
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitUntil waits until ok holds for the hits so far: evidence, not time.
func (l *load) waitUntil(t *testing.T, what string, ok func([]hit) bool) {
	t.Helper()
	timer := time.NewTimer(loadLimit)
	defer timer.Stop()
	for {
		l.mu.Lock()
		done, changed := ok(l.hits), l.changed
		l.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("load: still waiting for %s after %s", what, loadLimit)
		}
	}
}

// hitsSoFar returns the hits so far, while the clients go on.
func (l *load) hitsSoFar() []hit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]hit(nil), l.hits...)
}

// finish stops the clients, waits for their last requests and returns every hit.
func (l *load) finish() []hit {
	l.mu.Lock()
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.mu.Unlock()
	l.workers.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits
}

// answeredBy counts the successful hits answered by a build.
func answeredBy(hits []hit, version string) int {
	n := 0
	for _, h := range hits {
		if h.err == nil && h.status == http.StatusOK && h.version == version {
			n++
		}
	}
	return n
}
