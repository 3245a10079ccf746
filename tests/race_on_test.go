//go:build race

package tests

// raceEnabled: the suite runs under -race, so the examples are built with it.
const raceEnabled = true
