package tests

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/report"
)

// go test ./tests -run TestRender -update writes the golden files anew.
var update = flag.Bool("update", false, "rewrite testdata/render/*.golden")

// assertGolden compares got with testdata/render/NAME.golden.
func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "render", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s", path, got, want)
	}
}

// languages are the demo's languages, each with the suffix of its golden
// files: English's are the files without one.
var languages = []struct {
	suffix string
	words  lesson.Words
}{{"", lesson.WordsOf(lesson.English)}, {".zh-TW", lesson.WordsOf(lesson.TaiwanMandarin)}}

// at is a moment ms milliseconds into a step that starts at t0.
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// The timelines, one renderer for every step: a request answered, a
// request refused, a request cut, a job that waited in the queue before it
// ran, a v1→v2 hand-over under load, a stream and a socket that end at
// the signal (their end hides it) while a request and one cut stream run on,
// a gRPC watch that turns NOT_SERVING at the signal, a drain, and a call
// cut by Stop at the budget, and a job cut by kill -9, held by the dead
// process's lease and run again by the next one.
func TestRenderTimeline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		timeline report.Timeline
	}{
		{"steps", report.Timeline{Start: at(0), Signal: at(600), SignalName: "SIGINT", Legend: report.LegendSteps, Rows: []report.TimelineRow{
			{Label: "req1", OK: true, Note: "200 after 2.00 s", Spans: []report.Span{{From: at(0), To: at(2000), Fill: '=', End: 'o'}}},
			{Label: "cut", Note: "empty reply after 0.45 s", Spans: []report.Span{{From: at(200), To: at(650), Fill: '=', End: 'X'}}},
			{Label: "job1", OK: true, Note: "done 0.50 s after queued", Spans: []report.Span{
				{From: at(250), To: at(250), Fill: '.'}, {From: at(250), To: at(750), Fill: '=', End: 'o'}}},
			{Label: "job3", OK: true, Note: "done 1.50 s after queued", Spans: []report.Span{
				{From: at(260), To: at(1260), Fill: '.'}, {From: at(1260), To: at(1760), Fill: '=', End: 'o'}}},
			{Label: "late", Note: "refused after 0.00 s", Spans: []report.Span{{From: at(700), To: at(701), Fill: '=', End: 'X'}}},
			{Label: "server", OK: true, Note: "exit 0 at 2.45 s", Spans: []report.Span{{From: at(0), To: at(2450), Fill: '-', End: 'o'}}},
		}}},
		{"upgrade", report.Timeline{Start: at(0), Signal: at(900), SignalName: "SIGHUP", Legend: report.LegendUpgrade, Rows: []report.TimelineRow{
			{Label: "client1", OK: true, Note: "2 x v1, 2 x v2, 0 failed", Spans: []report.Span{
				{From: at(0), To: at(450), Fill: '1', End: 'o'}, {From: at(450), To: at(950), Fill: '1', End: 'o'},
				{From: at(950), To: at(1400), Fill: '2', End: 'o'}, {From: at(1400), To: at(1850), Fill: '2', End: 'o'}}},
			{Label: "client2", Note: "1 x v1, 1 x v2, 1 failed", Spans: []report.Span{
				{From: at(100), To: at(550), Fill: '1', End: 'o'}, {From: at(550), To: at(900), Fill: '=', End: 'X'},
				{From: at(900), To: at(1350), Fill: '2', End: 'o'}}},
			{Label: "old", OK: true, Note: "v1, PID 100: exit 0 at 1.20 s", Spans: []report.Span{{From: at(0), To: at(1200), Fill: '-', End: 'o'}}},
			{Label: "new", OK: true, Note: "v2, PID 101: serving at 0.91 s, gone at 2.00 s", Spans: []report.Span{{From: at(910), To: at(2000), Fill: '-', End: 'o'}}},
		}}},
		{"streaming", report.Timeline{Start: at(0), Signal: at(1200), SignalName: "SIGTERM", Legend: report.LegendStreaming, Rows: []report.TimelineRow{
			{Label: "stream", OK: true, Note: "ended 3 ms after SIGTERM", Spans: []report.Span{{From: at(0), To: at(1203), Fill: '=', End: 'o'}}},
			{Label: "socket", OK: true, Note: "closed 10 ms after SIGTERM", Spans: []report.Span{{From: at(500), To: at(1210), Fill: '=', End: 'o'}}},
			{Label: "cut", Note: "cut 2000 ms after SIGTERM", Spans: []report.Span{{From: at(100), To: at(3200), Fill: '=', End: 'X'}}},
			{Label: "request", OK: true, Note: "200 after 2.00 s", Spans: []report.Span{{From: at(1000), To: at(3000), Fill: '=', End: 'o'}}},
			{Label: "server", OK: true, Note: "exit 0 at 3.30 s, 2.10 s after SIGTERM", Spans: []report.Span{{From: at(0), To: at(3300), Fill: '-', End: 'o'}}},
		}}},
		{"grpc", report.Timeline{Start: at(0), Signal: at(760), SignalName: "SIGTERM", Legend: report.LegendGRPC, Rows: []report.TimelineRow{
			{Label: "watch", OK: true, Note: "NOT_SERVING 2 ms after SIGTERM, ended 1.01 s after", Spans: []report.Span{
				{From: at(0), To: at(762), Fill: '='}, {From: at(762), To: at(1770), Fill: '~', End: 'o'}}},
			{Label: "drain", OK: true, Note: "calls still taken for 1.00 s", Spans: []report.Span{{From: at(760), To: at(1760), Fill: 'd'}}},
			{Label: "stream", OK: true, Note: "ended 1.00 s after SIGTERM", Spans: []report.Span{{From: at(30), To: at(1760), Fill: '=', End: 'o'}}},
			{Label: "call", Note: "Unavailable: 4.00 s after SIGTERM", Spans: []report.Span{{From: at(540), To: at(5760), Fill: '=', End: 'X'}}},
			{Label: "server", Note: "exit 1 at 5.77 s, 5.01 s after SIGTERM", Spans: []report.Span{{From: at(0), To: at(5770), Fill: '-', End: 'X'}}},
		}}},
		{"durable", report.Timeline{Start: at(0), Signal: at(400), SignalName: "SIGKILL", Legend: report.LegendDurable, Rows: []report.TimelineRow{
			{Label: "job1", OK: true, Note: "done, 2 attempts, 1 effect", Spans: []report.Span{
				{From: at(0), To: at(10), Fill: '.'}, {From: at(10), To: at(400), Fill: '=', End: 'X'},
				{From: at(400), To: at(1050), Fill: '~'}, {From: at(1050), To: at(1050), Fill: '.'},
				{From: at(1050), To: at(2050), Fill: '=', End: 'o'}}},
			{Label: "job3", OK: true, Note: "done, 1 attempt, 1 effect", Spans: []report.Span{
				{From: at(20), To: at(450), Fill: '.'}, {From: at(450), To: at(1450), Fill: '=', End: 'o'}}},
			{Label: "server1", Note: "killed by SIGKILL at 0.40 s", Spans: []report.Span{{From: at(0), To: at(400), Fill: '-', End: 'X'}}},
			{Label: "server2", OK: true, Note: "exit 0 at 2.10 s", Spans: []report.Span{{From: at(420), To: at(2100), Fill: '-', End: 'o'}}},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assertTimelineGoldens(t, "timeline-"+tc.name, tc.timeline)
		})
	}
}

// assertTimelineGoldens compares timeline, rendered in each language, with
// and without colours, with its golden files: name, then the language's
// and the colours' suffixes.
func assertTimelineGoldens(t *testing.T, name string, timeline report.Timeline) {
	t.Helper()
	for _, lang := range languages {
		for _, colours := range []struct {
			suffix string
			c      report.Colours
		}{{"", report.NoColours}, {".colour", report.TerminalColours}} {
			var out bytes.Buffer
			report.RenderTimeline(&out, colours.c, lang.words, timeline)
			assertGolden(t, name+lang.suffix+colours.suffix, out.Bytes())
		}
	}
}

// The verdict table: a matched row and a mismatch; in Traditional Chinese
// its columns line up on a terminal, where a Chinese character takes two
// columns.
func TestRenderVerdicts(t *testing.T) {
	t.Parallel()
	for _, lang := range languages {
		var out bytes.Buffer
		report.RenderVerdicts(&out, report.NoColours, lang.words, "03-workers", []lesson.Verdict{
			{Label: "req1", Got: lesson.Answered, Want: lesson.Answered},
			{Label: "job3", Got: "job 3 abandoned: context canceled", Want: "job 3 done"},
			{Label: "late-job", Got: lesson.Refusal, Want: lesson.Refusal},
			{Label: "server", Got: lesson.ExitedClean, Want: lesson.ExitedClean},
		})
		assertGolden(t, "verdicts"+lang.suffix, out.Bytes())
		assertColumnsLineUp(t, out.String())
	}
}

// assertColumnsLineUp checks that each line of a verdict table that has
// the column separators has them in the same terminal columns as the
// table's header.
func assertColumnsLineUp(t *testing.T, table string) {
	t.Helper()
	var want []int
	for line := range strings.Lines(table) {
		var bars []int
		column := 0
		for _, r := range line {
			if r == '|' {
				bars = append(bars, column)
			}
			column += report.Columns(string(r))
		}
		if len(bars) == 0 {
			continue
		}
		if want == nil {
			want = bars
		} else if !slices.Equal(bars, want) {
			t.Errorf("separators in columns %v, the header's in %v:\n%s", bars, want, table)
		}
	}
}

// One classifier for every hey report, tested on real hey output: each file
// in testdata/hey is hey's stdout from a run that met one kind of failure
// (testdata/hey/COMMANDS.txt says how each was provoked).
func TestHeyReport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file     string
		statuses map[int]int
		errors   map[client.Class]int
	}{
		{"refused", nil, map[client.Class]int{client.Refused: 20}},
		{"eof", nil, map[client.Class]int{client.Cut: 20}},
		{"reset", nil, map[client.Class]int{client.Cut: 20}},
		{"broken-pipe", nil, map[client.Class]int{client.Cut: 18, client.Other: 2}},
		{"write-reset", nil, map[client.Class]int{client.Cut: 18, client.Other: 2}},
		{"idle-closed-dx", map[int]int{200: 160}, map[client.Class]int{client.Cut: 40}},
		{"timeout", nil, map[client.Class]int{client.Timeout: 20}},
		{"mixed-dx", map[int]int{200: 111, 500: 18}, map[client.Class]int{client.Cut: 52, client.Timeout: 19}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("testdata", "hey", tc.file+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			got := client.ParseHey(string(data))
			if !mapsEqual(got.Statuses, tc.statuses) || !mapsEqual(got.Errors, tc.errors) {
				t.Errorf("got statuses %v errors %v, want %v %v", got.Statuses, got.Errors, tc.statuses, tc.errors)
			}
		})
	}
}

// mapsEqual compares two count maps, nil being empty.
func mapsEqual[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
