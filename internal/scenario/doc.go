// Package scenario runs a lesson program through a shutdown under load and
// says what the clients saw: a stop (SIGTERM), a restart, 04's in-place
// upgrade (SIGHUP), and a rolling restart of instances behind HAProxy. Its
// verdicts compare the results with what package lesson says each program
// promises.
package scenario
