//go:build !race

package tests

// raceEnabled: the suite runs without -race, so the examples are built without it.
const raceEnabled = false
