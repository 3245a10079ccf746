package lab

import (
	"regexp"
	"strconv"
	"strings"
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
