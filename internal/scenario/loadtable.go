package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/report"
)

// LoadReport is what load.sh --json writes: every program's results, and
// the lines that say how they contradict the lesson (none: they match).
type LoadReport struct {
	Mode       string       `json:"mode"` // load.sh's subcommand: "stop", "upgrade" or "arrival"
	Results    []LoadResult `json:"results"`
	Mismatches []string     `json:"mismatches"`
}

// LoadRow is a row of load.sh's table under the error classes: its label
// and the value it shows for a program.
type LoadRow struct {
	Label string
	Value func(LoadResult) string
}

// ShutdownRows are the rows of load.sh's table, UpgradeRows those of
// load.sh upgrade (where Exit is about the old process).
var (
	ShutdownRows = []LoadRow{
		{"SIGTERM at", func(r LoadResult) string { return report.Seconds(r.SignalAt) + "s" }},
		{"server exit", func(r LoadResult) string { return r.Exit }},
		{"exit after", func(r LoadResult) string { return report.Seconds(r.ExitAfter) + "s" }},
	}
	UpgradeRows = []LoadRow{
		{"signal at", func(r LoadResult) string { return r.Signal + " " + report.Seconds(r.SignalAt) + "s" }},
		{"old server", func(r LoadResult) string { return r.OldServer }},
		{"old exit", func(r LoadResult) string { return r.Exit }},
		{"old exit after", func(r LoadResult) string { return report.Seconds(r.ExitAfter) + "s" }},
		{"new server", func(r LoadResult) string { return r.NewServer }},
		{"new serves after", func(r LoadResult) string { return report.Seconds(r.NewAfter) + "s" }},
		{"after old exit", func(r LoadResult) string { return fmt.Sprint(r.AfterOldExit) }},
		{"new exit", func(r LoadResult) string { return r.NewExit }},
	}
)

// LoadTable is load.sh's table of the results, one column per program:
// the status codes any program received, the error classes, then rows;
// under it, the text of every "other" error, so that nothing is silently
// lost.
func LoadTable(results []LoadResult, rows []LoadRow, labelWidth, columnWidth int) report.Table {
	t := report.Table{LabelWidth: labelWidth, ColumnWidth: columnWidth}
	for _, r := range results {
		t.Columns = append(t.Columns, r.Program)
	}
	t.Rows = append(statusRows(results, "status", func(r LoadResult) map[int]int { return r.Statuses }),
		classRows(results, LoadResult.Count)...)
	for _, extra := range rows {
		t.Rows = append(t.Rows, row(results, extra.Label, extra.Value))
	}
	for _, r := range results {
		if len(r.OtherTexts) == 0 {
			continue
		}
		note := fmt.Sprintf("other errors seen by hey against %s:\n", r.Program)
		texts := slices.Sorted(maps.Keys(r.OtherTexts))
		for _, text := range texts {
			note += fmt.Sprintf("  [%d] %s\n", r.OtherTexts[text], text)
		}
		t.Notes = append(t.Notes, note)
	}
	return t
}

// row is a table row: label, and value for each result.
func row[R any](results []R, label string, value func(R) string) report.Row {
	r := report.Row{Label: label}
	for _, result := range results {
		r.Values = append(r.Values, value(result))
	}
	return r
}

// statusRows are one row per status code any result received, in order,
// labelled "LABEL CODE".
func statusRows[R any](results []R, label string, statuses func(R) map[int]int) []report.Row {
	var codes []int
	for _, r := range results {
		codes = append(codes, slices.Collect(maps.Keys(statuses(r)))...)
	}
	slices.Sort(codes)
	var rows []report.Row
	for _, code := range slices.Compact(codes) {
		rows = append(rows, row(results, fmt.Sprintf("%s %d", label, code), func(r R) string { return fmt.Sprint(statuses(r)[code]) }))
	}
	return rows
}

// classRows are one row per error class, in client.Classes' order.
func classRows[R any](results []R, count func(R, client.Class) int) []report.Row {
	var rows []report.Row
	for _, class := range client.Classes {
		rows = append(rows, row(results, string(class), func(r R) string { return fmt.Sprint(count(r, class)) }))
	}
	return rows
}

// ShutdownMismatches lists, one line each, the results that contradict
// the lesson (lesson.Promises): a program that is not graceful (01-basic)
// cuts requests and dies by SIGTERM; the graceful programs cut none, answer only 200s, none times out or fails otherwise,
// they answer something, and exit 0.
func ShutdownMismatches(results []LoadResult) []string {
	var found []string
	add := func(format string, args ...any) { found = append(found, fmt.Sprintf(format, args...)) }
	for _, r := range results {
		name := r.Program
		if !lesson.Promises[name].Graceful {
			if r.Cut == 0 {
				add("%s: no request was cut, yet it dies with requests in flight", name)
			}
			if r.Exit != "SIGTERM" {
				add("%s: ended with '%s', expected death by SIGTERM", name, r.Exit)
			}
			continue
		}
		found = append(found, gracefulMismatches(r, false)...)
	}
	return found
}

// gracefulMismatches are a graceful program's: it cuts nothing (unless
// mayCut), answers only 200s, none times out or fails otherwise, it
// answers something, and it exits 0. "Nothing" is what Shutdown promises
// for the requests in the handler, where the signal finds them; a server
// that begins Shutdown late (a busy machine) has first sent r.AnsweredBeforeShutdown answers on
// keep-alive connections, and it may cut as many of their clients' next
// requests (see WaitAllInFlight), no more, and only requests that never
// reached the handler: it still answers every one that did (r.Started).
func gracefulMismatches(r LoadResult, mayCut bool) []string {
	var found []string
	add := func(format string, args ...any) { found = append(found, fmt.Sprintf(format, args...)) }
	name := r.Program
	switch {
	case mayCut || r.Cut == 0:
	case r.AnsweredBeforeShutdown == 0:
		add("%s: %d request(s) cut, expected 0", name, r.Cut)
	case r.Cut > r.AnsweredBeforeShutdown:
		add("%s: %d request(s) cut, expected %d at most (answers it sent before Shutdown began)", name, r.Cut, r.AnsweredBeforeShutdown)
	case r.Served != r.Started:
		add("%s: %d request(s) cut, and %d reached the handler but %d were answered", name, r.Cut, r.Started, r.Served)
	}
	for _, code := range r.Codes() {
		if code != 200 {
			add("%s: %d answer(s) with status %d, expected only 200", name, r.Statuses[code], code)
		}
	}
	if r.Timeout != 0 {
		add("%s: %d request(s) timed out, expected 0", name, r.Timeout)
	}
	if r.Other != 0 {
		add("%s: %d other error(s), expected 0", name, r.Other)
	}
	if r.Served == 0 {
		add("%s: no request was answered at all", name)
	}
	if r.Exit != "exit 0" {
		add("%s: ended with '%s', expected exit 0", name, r.Exit)
	}
	return found
}

// LateSignalNotes explain, one line each, the cuts gracefulMismatches
// allows under hey: a server that began Shutdown only after answers had
// gone out (a busy machine), whose clients' next requests met it.
func LateSignalNotes(results []LoadResult) []string {
	var notes []string
	for _, r := range results {
		if r.Clients == "hey" && r.Cut > 0 && r.Cut <= r.AnsweredBeforeShutdown && r.Served == r.Started {
			notes = append(notes, fmt.Sprintf("%s began Shutdown only after %d answer(s) went out (a busy machine): %d next request(s) met it closing their keep-alive connection; it answered all %d it started",
				r.Program, r.AnsweredBeforeShutdown, r.Cut, r.Started))
		}
	}
	return notes
}

// UpgradeMismatches lists the results of load.sh upgrade that contradict
// the lesson: both as ShutdownMismatches' graceful programs, and the new
// process answers once the old one is gone and exits 0; the restart
// refuses requests, the hand-over none, and its new process is v2 and is
// the one the PID file names.
func UpgradeMismatches(restart, upgrade LoadResult) []string {
	return upgradeMismatches(restart, upgrade, false)
}

// NeverResendUpgradeMismatches are UpgradeMismatches for keep-alive
// clients that never resend, GET / answering in 1 ms: 04's hand-over cuts
// and refuses none. What 02's restart loses is measured, not judged: it
// may cut requests (Shutdown closes the connections idle at that instant,
// and a client's next request may be on its way), and it may refuse none
// (a client that lost its connection pauses, and the new process may be
// listening by then).
func NeverResendUpgradeMismatches(restart, upgrade LoadResult) []string {
	return upgradeMismatches(restart, upgrade, true)
}

func upgradeMismatches(restart, upgrade LoadResult, neverResend bool) []string {
	found := slices.Concat(gracefulMismatches(restart, neverResend), gracefulMismatches(upgrade, false),
		newProcessMismatches(restart), newProcessMismatches(upgrade))
	if restart.Refused <= 0 && !neverResend {
		found = append(found, fmt.Sprintf("%s: no request refused, yet nothing listened between stop and start", restart.Program))
	}
	return append(found, handOverMismatches(upgrade)...)
}

// newProcessMismatches are those of the process that took over: it
// answers once the old one is gone, and exits 0.
func newProcessMismatches(r LoadResult) []string {
	var found []string
	if r.AfterOldExit <= 0 {
		found = append(found, fmt.Sprintf("%s: the new process answered nothing once the old one had exited", r.Program))
	}
	if !strings.HasPrefix(r.NewExit, "exit 0") {
		found = append(found, fmt.Sprintf("%s: the new process ended with '%s', expected exit 0", r.Program, r.NewExit))
	}
	return found
}

// handOverMismatches are 04's after SIGHUP: it refuses none, and its new
// process is v2, the one the PID file names.
func handOverMismatches(upgrade LoadResult) []string {
	var found []string
	add := func(format string, args ...any) { found = append(found, fmt.Sprintf(format, args...)) }
	name := upgrade.Program
	if upgrade.Refused != 0 {
		add("%s: %d request(s) refused, expected 0 (the socket never closes)", name, upgrade.Refused)
	}
	if upgrade.NewVersion != "v2" {
		add("%s: the new process is version '%s', expected v2", name, upgrade.NewVersion)
	}
	if upgrade.PIDFilePID != upgrade.NewPID {
		add("%s: the PID file names '%s', not the new process %d", name, pidText(upgrade.PIDFilePID), upgrade.NewPID)
	}
	return found
}

func pidText(pid int) string {
	if pid == 0 {
		return ""
	}
	return fmt.Sprint(pid)
}

// Rows for clients that never resend: the cut requests by what the client
// saw. At a stop, "reset" is a connection the kernel had completed but the
// server never accepted, reset when the listener closed; "EOF" one whose
// request the server read, then closed without an answer (see FailureText).
var (
	CutByRows = []LoadRow{
		{"cut: reset", cutBy("connection reset by peer")},
		{"cut: EOF", cutBy("unexpected EOF")},
	}
	ArrivalRows = slices.Concat(CutByRows, []LoadRow{
		{"signal at", func(r LoadResult) string { return r.Signal + " " + report.Seconds(r.SignalAt) + "s" }},
		{"(old) exit", func(r LoadResult) string { return r.Exit }},
		{"exit after", func(r LoadResult) string { return report.Seconds(r.ExitAfter) + "s" }},
	})
)

func cutBy(text string) func(LoadResult) string {
	return func(r LoadResult) string { return fmt.Sprint(r.CutBy[text]) }
}

// ArrivalMismatches lists the results of load.sh arrival that contradict
// the lesson. A stop (SIGTERM) refuses the clients that keep arriving once
// the listener is closed, and exits 0 having answered only 200s; the
// requests it cuts on the way are measured, not judged. 04's hand-over
// (SIGHUP) loses nothing: graceful, cut none, refuse none.
func ArrivalMismatches(results []LoadResult) []string {
	var found []string
	for _, r := range results {
		if r.Signal == "SIGHUP" {
			found = append(found, gracefulMismatches(r, false)...)
			found = append(found, handOverMismatches(r)...)
			found = append(found, newProcessMismatches(r)...)
			continue
		}
		found = append(found, gracefulMismatches(r, true)...)
		if r.Refused <= 0 {
			found = append(found, fmt.Sprintf("%s: no request refused, yet clients kept arriving after %s closed the listener", r.Program, r.Signal))
		}
	}
	return found
}
