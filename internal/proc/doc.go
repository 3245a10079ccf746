// Package proc runs the lesson programs and the tools around them as
// processes: it builds them, starts each in a process group of its own,
// collects their output line by line and waits for a log line, signals
// them and says how they ended, finds free ports and who listens on one,
// finds leftovers, and guards a script's Go program (Guard): everything it
// started ends on every exit path. It knows no lesson and no client.
package proc
