package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/graceful-shutdown-lab/lab/internal/lesson"
)

// The demo's steps exist once, in lesson.Steps: demo.sh --help is made
// from them, and each README's table of steps must list the same steps,
// in order, each linking to its lesson's page and naming the command the
// step needs, if any.
func TestDemoStepsInREADME(t *testing.T) {
	t.Parallel()
	row := regexp.MustCompile(`(?m)^\| \[(\d+)\]\((\d\d-[a-z0-9-]+)/README[.a-zA-Z-]*\.md#[^)]*\) \|.*\|(.*)\|$`)
	var want []string
	for _, s := range lesson.Steps {
		want = append(want, fmt.Sprintf("%d %s", s.Number, s.Program))
	}
	for _, page := range []string{"README.md", "README.zh-TW.md"} {
		data, err := os.ReadFile(filepath.Join(repoRoot(), page))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range row.FindAllStringSubmatch(string(data), -1) {
			got = append(got, m[1]+" "+m[2])
			step, ok := lesson.StepOf(m[2])
			if ok && step.Needs != "" && !strings.Contains(m[3], step.Needs) {
				t.Errorf("%s: step %s needs %s, its row says %q", page, m[1], step.Needs, m[3])
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: the table of the demo's steps lists %q; lesson.Steps has %q", page, got, want)
		}
	}
}
