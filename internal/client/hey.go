package client

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// HeyReport is what hey printed, by status code and by error class. hey
// exits 0 even when every request failed: the errors are only in its
// "Error distribution" section.
type HeyReport struct {
	Statuses map[int]int
	Errors   map[Class]int
	// OtherTexts are the error texts counted as Other, ports stripped,
	// with their counts: nothing is silently lost.
	OtherTexts map[string]int
	Examples   map[Class]string
	Bytes      int // "Total data": the bodies of every response
}

var (
	heyStatus = regexp.MustCompile(`^\s*\[(\d{3})\]\s+(\d+) responses`)
	heyError  = regexp.MustCompile(`^\s*\[(\d+)\]\s+(.*)$`)
	heyBytes  = regexp.MustCompile(`Total data:\s+(\d+) bytes`)
	hostPort  = regexp.MustCompile(`(\d+\.\d+\.\d+\.\d+):\d+`)
)

// ParseHey reads hey's summary. hey keys its errors by their full text,
// ephemeral ports included: equal texts but for the ports are added up.
func ParseHey(summary string) HeyReport {
	r := HeyReport{Statuses: map[int]int{}, Errors: map[Class]int{}, OtherTexts: map[string]int{}, Examples: map[Class]string{}}
	inErrors := false
	for line := range strings.Lines(summary) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "Error distribution:"):
			inErrors = true
		case inErrors:
			if m := heyError.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				class := ClassifyText(m[2])
				r.Errors[class] += n
				r.Examples[class] = m[2]
				if class == Other {
					r.OtherTexts[hostPort.ReplaceAllString(m[2], "$1")] += n
				}
			}
		case heyStatus.MatchString(line):
			m := heyStatus.FindStringSubmatch(line)
			code, _ := strconv.Atoi(m[1])
			r.Statuses[code], _ = strconv.Atoi(m[2])
		case heyBytes.MatchString(line):
			r.Bytes, _ = strconv.Atoi(heyBytes.FindStringSubmatch(line)[1])
		}
	}
	return r
}

// Served counts the answers with status 200.
func (r HeyReport) Served() int { return r.Statuses[200] }

// HeyTimeout is hey's -t: no request waits longer (it would count as a
// timeout).
const HeyTimeout = 10 * time.Second

// HeyCommand is hey against url with -d x -q 20 -t 10, then args:
//
//	-d x   a 1-byte body. Without a body a GET is "replayable", and Go's
//	       client quietly resends it on a new connection when a reused
//	       keep-alive connection dies before the answer: 01-basic's cut
//	       requests would then show up as "connection refused" (the
//	       resend's error), never as cut. With a body, hey reports what
//	       really happened.
//	-q 20  at most 20 requests a second per client. A served request
//	       takes 300ms or more, so this never slows them down; it stops
//	       hey from firing ~25,000 refused connections a second at a dead
//	       port, which would starve a small machine.
//	-t 10  no request waits more than 10 s (see HeyTimeout).
func HeyCommand(hey, url string, args ...string) *exec.Cmd {
	flags := []string{"-d", "x", "-q", "20", "-t", strconv.Itoa(int(HeyTimeout / time.Second))}
	return exec.Command(hey, append(append(flags, args...), url)...)
}
