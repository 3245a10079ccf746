package report

import (
	"fmt"
	"io"
)

// Table is results side by side, one right-aligned column each: load.sh's
// tables. Notes follow the table, each after a blank line.
type Table struct {
	LabelWidth, ColumnWidth int
	Columns                 []string // the headings
	Rows                    []Row
	Notes                   []string
}

// Row is a table's row: its label and one value per column.
type Row struct {
	Label  string
	Values []string
}

// WriteTable writes t.
func WriteTable(w io.Writer, t Table) {
	row := func(label string, values []string) {
		fmt.Fprintf(w, "%-*s", t.LabelWidth, label)
		for _, v := range values {
			fmt.Fprintf(w, " %*s", t.ColumnWidth, v)
		}
		fmt.Fprintln(w)
	}
	row("", t.Columns)
	for _, r := range t.Rows {
		row(r.Label, r.Values)
	}
	for _, note := range t.Notes {
		fmt.Fprintf(w, "\n%s", note)
	}
}

// WriteVerdict writes the verdict after a blank line: that the results
// match the lesson, or each mismatch. It returns the exit status: 0, or 1
// when anything contradicts the lesson.
func WriteVerdict(w io.Writer, mismatches []string) int {
	fmt.Fprintln(w)
	if len(mismatches) == 0 {
		fmt.Fprintln(w, "These results match the lesson.")
		return 0
	}
	fmt.Fprintln(w, "These results contradict the lesson:")
	for _, m := range mismatches {
		fmt.Fprintln(w, "  "+m)
	}
	return 1
}
