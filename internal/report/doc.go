// Package report prints what the runs saw: a step's verdict table and its
// timeline, the side-by-side tables of load.sh, and the verdict line. The
// golden files of tests/testdata/render pin its output.
package report
