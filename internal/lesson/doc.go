// Package lesson is what each lesson promises, as data: how each program
// behaves when stopped under load (Programs), the demo's steps (Steps: one
// Step each, in order, with what the lesson expects of every request, job
// and process), the timings, and the words of the verdicts. It imports
// nothing from the repository: the tests, the scripts and the machinery
// read it, and nothing in the machinery compares a program's name.
package lesson
