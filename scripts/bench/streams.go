package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/grpcclient"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// streamRun is a program measured with a stream open at the signal: its
// flags, the log line that shows the slow request inside its handler, and
// how to open the stream and send the request.
type streamRun struct {
	name    string
	flags   []string
	started string
	open    func(b *bench, ctx context.Context, s *proc.Server) <-chan time.Time
}

// streamRuns are 06's SSE stream and 09's gRPC Ticks, each beside one slow
// request or call.
var streamRuns = []streamRun{
	{"06-streaming", nil, "GET / started", (*bench).openHTTP},
	{"09-grpc", []string{"-drain-delay", "0s"}, "Slow started", (*bench).openGRPC},
}

// streamDrain measures, with a stream and a slow request open at SIGTERM,
// the last answer reaching its client -> the server is gone. Both
// programs end the stream at once and wait for the request: the cost is
// how soon each notices that nothing is left. 06 is net/http's Shutdown,
// which polls; 09 is grpc-go's GracefulStop, which is woken when its last
// call ends.
func (b *bench) streamDrain(r streamRun) time.Duration {
	if err := proc.RequireFreePort(b.addr()); err != nil {
		b.d.Fail(err)
	}
	flags := append([]string{"-delay", drainDelay, "-timeout", "10s", "-tick", "100ms"}, r.flags...)
	s, err := b.d.StartServer(filepath.Join(b.dir, r.name), b.addr(), flags...)
	if err != nil {
		b.d.Fail(err)
	}
	if err := s.WaitReady(10 * time.Second); err != nil {
		b.d.Failf("%s: %v: %s", r.name, err, s.Process.LastLine())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	answered := r.open(b, ctx, s)
	if err := s.Out.WaitFor(r.started, 1, s.OutputDone, 10*time.Second); err != nil {
		b.d.Failf("%s: %v", r.name, err)
	}
	if err := s.Signal(syscall.SIGTERM); err != nil {
		b.d.Fail(err)
	}
	var answer time.Time
	select {
	case answer = <-answered:
	case <-ctx.Done():
		b.d.Failf("%s: no answer within 15 s", r.name)
	}
	end := s.WaitEnding(15 * time.Second)
	b.check(r.name, end.Status(), end.Text())
	return end.At.Sub(answer)
}

// openHTTP opens 06's SSE stream, then sends GET /: the time its answer
// arrived comes on the channel.
func (b *bench) openHTTP(ctx context.Context, s *proc.Server) <-chan time.Time {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL("/events"), nil)
	if err != nil {
		b.d.Fail(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.d.Failf("06-streaming: GET /events: %v", err)
	}
	go func() {
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body) // until the server ends it
	}()
	answered := make(chan time.Time, 1)
	go func() {
		r := client.Send(ctx, http.MethodGet, s.URL("/"))
		answered <- r.Done
	}()
	return answered
}

// openGRPC opens 09's Ticks stream, then calls Slow: the time its answer
// arrived comes on the channel.
func (b *bench) openGRPC(ctx context.Context, s *proc.Server) <-chan time.Time {
	conn, err := grpcclient.Dial(s.Addr)
	if err != nil {
		b.d.Fail(err)
	}
	ticks, err := grpcclient.Ticks(ctx, conn)
	if err != nil {
		b.d.Failf("09-grpc: Ticks: %v", err)
	}
	if _, err := ticks.Next(10 * time.Second); err != nil {
		b.d.Failf("09-grpc: Ticks: %v", err)
	}
	answered := make(chan time.Time, 1)
	go func() {
		defer conn.Close()
		answered <- grpcclient.Slow(ctx, conn).At
	}()
	return answered
}

// printStreams writes the second table: the last answer -> exit with a
// stream open, 06 beside 09.
func (b *bench) printStreams(samples map[string][]int64) {
	out := b.d.Stdout()
	header, cells := "| with a stream open |", ""
	for _, r := range streamRuns {
		median, low, high := medianOf(samples[r.name+":stream"])
		header += " " + r.name + " |"
		cells += fmt.Sprintf(" %s ms (%s–%s) |", ms(median), ms(low), ms(high))
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, header)
	fmt.Fprintln(out, "|---|"+strings.Repeat("---:|", len(streamRuns)))
	fmt.Fprintf(out, "| last answer → exit (one request of %s, a stream open) |%s\n", drainDelay, cells)
}
