package tests

import (
	"testing"

	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/report"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// Instances in a rolling restart, as the demo's step 5 draws them and
// words them: one HAProxy took out before it stopped accepting (05), one
// it saw DOWN only after its listener closed (02), one never seen DOWN and
// never back UP.
var sampleRestarts = []scenario.Restart{
	{Server: "app1", Signalled: at(400), Down: at(520), Stopping: at(1400), Exited: at(1410), Exit: "exit 0", Up: at(1550)},
	{Server: "app2", Signalled: at(1600), Down: at(1750), Stopping: at(1601), Exited: at(1900), Exit: "exit 0", Up: at(2050)},
	{Server: "app3", Signalled: at(2100), Stopping: at(2101), Exited: at(2150), Exit: "killed by SIGKILL"},
}

func TestRestartVerdict(t *testing.T) {
	t.Parallel()
	want := []string{
		lesson.RestartedCleanly,
		"DOWN after it stopped, exit 0, UP",
		"never DOWN, killed by SIGKILL, never UP",
	}
	for i, r := range sampleRestarts {
		if got := scenario.RestartVerdict(r); got != want[i] {
			t.Errorf("%s: got %q, want %q", r.Server, got, want[i])
		}
	}
}

// The rolling restart's timeline: each instance up, DOWN in HAProxy until
// it exits, then the new one up; against golden files, as the other
// timelines (go test ./tests -run TestRenderRolling -update).
func TestRenderRollingTimeline(t *testing.T) {
	t.Parallel()
	timeline := report.Timeline{Start: at(0), Signal: at(400), SignalName: "app1's SIGTERM", Legend: report.LegendRolling,
		Rows: []report.TimelineRow{{Label: "client1", OK: true, Note: "4 answered, 0 failed", Spans: []report.Span{
			{From: at(0), To: at(600), Fill: '=', End: 'o'}, {From: at(600), To: at(1200), Fill: '=', End: 'o'},
			{From: at(1200), To: at(1800), Fill: '=', End: 'o'}, {From: at(1800), To: at(2400), Fill: '=', End: 'o'}}}}}
	for _, r := range sampleRestarts {
		timeline.Rows = append(timeline.Rows, scenario.RestartRow(r, at(0), at(2500)))
	}
	assertTimelineGoldens(t, "timeline-rolling", timeline)
}
