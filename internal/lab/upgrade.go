package lab

import "regexp"

// InstallCommands are the two commands that put a new build where a
// running binary is, the way a deploy should: copy it beside, then rename
// it over. cp onto a running binary fails (text file busy); mv swaps the
// name, and the running process keeps its own file, which no name points
// to any more. The copy is made by cp, not by the caller: a child forked
// meanwhile could inherit a write descriptor, and exec of a file open for
// writing fails with "text file busy".
func InstallCommands(build, binary string) [][]string {
	next := binary + ".next"
	return [][]string{{"cp", build, next}, {"mv", next, binary}}
}

// Serving matches 04-zero-downtime's line once it serves: its version and PID.
var Serving = regexp.MustCompile(`version (\S+) serving on \S+ \(pid (\d+)\)$`)
