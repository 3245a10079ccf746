package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/lesson"
)

// Colours are the terminal escapes the renderers use; NoColours is the
// zero value, for a pipe, a file or NO_COLOR.
type Colours struct {
	Bold, Dim, Red, Green, Yellow, Cyan, Reset string
}

// NoColours renders plain text.
var NoColours = Colours{}

// TerminalColours are ANSI escapes.
var TerminalColours = Colours{
	Bold: "\x1b[1m", Dim: "\x1b[2m", Red: "\x1b[31m", Green: "\x1b[32m",
	Yellow: "\x1b[33m", Cyan: "\x1b[36m", Reset: "\x1b[0m",
}

// RenderVerdicts prints a step's verdict table.
func RenderVerdicts(w io.Writer, c Colours, program string, rows []lesson.Verdict) {
	width := max(len(program), 11)
	fmt.Fprintf(w, "\n  %sVerdict (%s):%s\n", c.Bold, program, c.Reset)
	fmt.Fprintf(w, "  %-*s %-9s| %-35s| %s\n", width, "program", "request", "what happened", "the lesson expects")
	for _, r := range rows {
		mark := c.Green + "✔" + c.Reset
		if !r.Matched() {
			mark = c.Red + "✘" + c.Reset
		}
		fmt.Fprintf(w, "%s %-*s %-8s | %-34s | %s\n", mark, width, program, r.Label, r.Got, r.Want)
	}
}

// Timeline is what a step's timeline shows: one row per request, job,
// client or server, on a common clock that starts at Start.
type Timeline struct {
	Start      time.Time
	Signal     time.Time
	SignalName string // SIGTERM
	Rows       []TimelineRow
	Legend     string
}

// TimelineRow is one row: its spans in order, and a note after the bar.
type TimelineRow struct {
	Label string
	Spans []Span
	OK    bool // green, or red when something failed
	Note  string
}

// Span is one stretch of a row: Fill from From to To ('=' running, '.'
// queued, '-' a server up, '1' or '2' a request answered by v1 or v2), and
// End drawn at To ('o' answered or done, 'X' failed, 0 for none).
type Span struct {
	From, To time.Time
	Fill     byte
	End      byte
}

// TimelineWidth is how many columns the bars take.
const TimelineWidth = 50

// Seconds prints a duration as the timelines do: two decimals, cut, not
// rounded (1.239 s is 1.23), never below 0.
func Seconds(d time.Duration) string {
	us := max(d.Microseconds(), 0)
	return fmt.Sprintf("%d.%02d", us/1_000_000, us%1_000_000/10_000)
}

// span is how long the timeline lasts: until the last span's end.
func (t Timeline) span() time.Duration {
	end := t.Start
	for _, row := range t.Rows {
		for _, s := range row.Spans {
			if s.To.After(end) {
				end = s.To
			}
		}
	}
	return max(end.Sub(t.Start), time.Microsecond)
}

// col is the column of a moment.
func (t Timeline) col(at time.Time) int {
	c := int(at.Sub(t.Start).Microseconds() * (TimelineWidth - 1) / t.span().Microseconds())
	return min(max(c, 0), TimelineWidth-1)
}

// Bars are the rows' bars, in plain text: ends first ('o', 'X'), then the
// signal ('|'), then the fills.
func (t Timeline) Bars() []string {
	signalCol := t.col(t.Signal)
	bars := make([]string, len(t.Rows))
	for r, row := range t.Rows {
		bar := []byte(strings.Repeat(" ", TimelineWidth))
		ends := make([]byte, TimelineWidth)
		for _, s := range row.Spans {
			a, b := t.col(s.From), t.col(s.To)
			for i := a; i < b; i++ {
				bar[i] = s.Fill
			}
			if s.End != 0 && ends[b] != 'X' { // an o never hides an X
				ends[b] = s.End
			}
		}
		bar[signalCol] = '|'
		for i, e := range ends {
			if e != 0 {
				bar[i] = e
			}
		}
		bars[r] = string(bar)
	}
	return bars
}

// RenderTimeline prints a timeline: the row green (red when something
// failed), v2's stretches cyan, the signal yellow.
func RenderTimeline(w io.Writer, c Colours, t Timeline) {
	span := t.span()
	fmt.Fprintf(w, "\n  %sTimeline%s (0 = the first request; %s| = %s sent at %s s%s; one column = %d ms)\n",
		c.Bold, c.Reset, c.Yellow, t.SignalName, Seconds(t.Signal.Sub(t.Start)), c.Reset,
		span.Microseconds()/(TimelineWidth-1)/1000)
	fmt.Fprintf(w, "  %-9s %-*s%s s\n", "", TimelineWidth, "0 s", Seconds(span))
	for r, bar := range t.Bars() {
		row := t.Rows[r]
		colour := c.Green
		if !row.OK {
			colour = c.Red
		}
		var out strings.Builder
		current := ""
		for i := range len(bar) {
			want := colour
			switch bar[i] {
			case '|':
				want = c.Yellow
			case '2':
				want = c.Cyan
			}
			if want != current {
				out.WriteString(want)
				current = want
			}
			out.WriteByte(bar[i])
		}
		fmt.Fprintf(w, "  %-9s %s%s  %s\n", row.Label, out.String(), c.Reset, row.Note)
	}
	fmt.Fprintf(w, "  %s%s%s\n", c.Dim, t.Legend, c.Reset)
}

// The legends of the four kinds of timeline.
const (
	LegendSteps     = "= in flight or running  . queued  o answered/done  X failed  - server up"
	LegendUpgrade   = "1 2 in flight, answered by v1 or v2  o answered/exit 0  X failed  - server up"
	LegendStreaming = "= open or in flight  o ended cleanly/answered/exit 0  X cut or failed  - server up"
	LegendGRPC      = "= open or in flight  ~ NOT_SERVING  d drain  o ended with the server's status/answered/exit 0  X cut or failed  - server up"
)

// LegendRolling explains the rolling restart's timeline.
const LegendRolling = "= in flight  o answered/exit 0  X failed  - instance up  D HAProxy has it DOWN"

// SecondsSince is t on a clock that starts at t0, as Seconds writes it;
// "never" for a zero t.
func SecondsSince(t0, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return Seconds(t.Sub(t0))
}

// LegendDurable is the legend of the durable step's timeline.
const LegendDurable = "= running  . queued  ~ held by a dead worker's lease  o done  X killed  - server up"

// LegendRiver is the legend of the River step's timeline.
const LegendRiver = "= running  . queued  ~ 'running' in PostgreSQL until River's rescuer  o done  X killed  - server up"
