package tests

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// trackedSources are what the tests really depend on besides their own code.
var trackedSources = []string{"01-basic", "02-graceful", "03-workers", "04-zero-downtime", "05-load-balancer", "06-streaming", "07-durable-jobs", "09-grpc", "scripts", "internal", "tests/testdata", "exercises", "go.mod", "go.sum"}

var trackOnce sync.Once

// trackSources reads the examples' and scripts' files from inside a test.
// go test caches a passing result keyed on the files a test opened; without
// this read it would print a stale "ok (cached)" after an example changed.
func trackSources(t *testing.T) {
	trackOnce.Do(func() {
		for _, name := range trackedSources {
			err := filepath.WalkDir(filepath.Join(repoRoot(), name), func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				_, err = os.ReadFile(path)
				return err
			})
			if err != nil {
				t.Fatalf("reading the sources the tests depend on: %v", err)
			}
		}
	})
}
