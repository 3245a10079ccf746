// Command bench is scripts/bench.sh: it measures what a graceful shutdown
// costs, for 02-graceful and 03-workers, over several runs, and prints a
// Markdown table of medians and the machine it ran on; and, in a second
// table, the same drain overhead with a stream open, 06-streaming beside
// 09-grpc. It is a benchmark,
// not a test: it reports numbers and does not judge them (load.sh does).
//
//	idle exit       SIGTERM to an idle server -> the process is gone
//	drain overhead  the last in-flight answer reaches its client -> the
//	                process is gone. Shutdown checks for idle connections
//	                at growing intervals (1 ms, 2 ms, 4 ms ... up to every
//	                500 ms), so it notices the end of the drain late.
//	with a stream   the same, one request in flight and a stream open:
//	                06's SSE beside 09's gRPC stream (GracefulStop is
//	                woken by its last call, it does not poll)
//	under load      requests cut / refused / served when SIGTERM lands in
//	                the middle of a hey run, at several concurrency levels
//	                (load.sh's run: scenario.RunLoad)
//
// A third table puts 02-graceful beside 05, 06 and 07, which carry
// connections.go: the drain overhead, and SIGTERM -> exit with one unused
// connection open (see connections.go here).
//
// With --durable it measures 07-durable-jobs against 08-river instead
// (durable.go).
//
// Progress goes to stderr, the Markdown table to stdout:
//
//	scripts/bench.sh -n 5 > bench.md
package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

var (
	programs = []string{"02-graceful", "03-workers"}
	levels   = []int{10, 50, 200} // hey -c for the "under load" rows
)

const (
	loadDelay    = "300ms" // GET / under load, as in load.sh --fast
	loadDuration = "2s"    // hey -z under load
	drainDelay   = "1s"    // GET / while measuring the drain
	drainClients = 10      // requests in flight while measuring the drain
)

const usage = `Usage: bench.sh [-n RUNS] [--durable]

Measures, for 02-graceful 03-workers, the exit time of an idle server, the
drain overhead, and the requests cut / refused / served under load
(hey -c 10 50 200), and prints the medians as a Markdown table; then the
drain overhead with a stream open, 06-streaming beside 09-grpc; then, for
02 beside 05, 06 and 07, the drain overhead and the exit with one unused
connection open.

  -n RUNS      how many times to measure everything, 1 to 50; default 5
  --durable    measure 07-durable-jobs against 08-river (one and three
               processes) instead, once: jobs/s, kill -9 -> done, jobs lost
               and effects twice across a rolling restart (needs
               PostgreSQL: DATABASE_URL, or initdb and pg_ctl; about 3 min)
  -h, --help   show this help

Environment: PORT (default 8080) is the port on 127.0.0.1 the servers use.
Takes about 35 s per run.
Exit status: 0 the table was printed; 2 it could not run (bad option, busy
port, build failure, a server that never started or never stopped);
130 or 143 when interrupted by SIGINT or SIGTERM.
`

// bench is one benchmark: where the builds are, and the notes on runs
// whose server did not exit 0, printed under the table.
type bench struct {
	d     *proc.Guard
	dir   string
	port  int
	notes []string
}

func main() {
	d := proc.NewGuard("bench.sh")
	runs, durable, err := parse(os.Args[1:])
	if err != nil {
		d.Fail(err)
	}
	if runs == 0 { // --help
		fmt.Print(usage)
		d.Exit(0)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	b := &bench{d: d}
	if b.port, err = proc.ParsePort(port); err != nil {
		d.Fail(err)
	}
	if err := proc.RequireFreePort(b.addr()); err != nil {
		d.Fail(err)
	}
	if b.dir, err = proc.CacheDir("bench"); err != nil {
		d.Fail(err)
	}
	if durable {
		b.durable()
		d.Exit(0)
	}
	if err := proc.BuildHey(b.dir); err != nil {
		d.Failf("could not build hey: %v", err)
	}
	if err := proc.Build(b.dir, false, "./02-graceful", "./03-workers", "./05-load-balancer", "./06-streaming", "./07-durable-jobs", "./09-grpc"); err != nil {
		d.Failf("could not build the programs: %v", err)
	}

	// Samples, in microseconds or counts, by "PROGRAM:measurement".
	samples := map[string][]int64{}
	for run := 1; run <= runs; run++ {
		for _, name := range programs {
			fmt.Fprintf(d.Stderr(), "run %d/%d: %s ...\n", run, runs, name)
			samples[name+":idle"] = append(samples[name+":idle"], b.idle(name).Microseconds())
			samples[name+":drain"] = append(samples[name+":drain"], b.drain(name).Microseconds())
			for _, c := range levels {
				r, err := scenario.RunLoad(d, b.config(name, c))
				if err != nil {
					d.Fail(err)
				}
				b.check(name, r.ExitStatus, r.Exit)
				key := fmt.Sprintf("%s:%d:", name, c)
				samples[key+"cut"] = append(samples[key+"cut"], int64(r.Cut))
				samples[key+"refused"] = append(samples[key+"refused"], int64(r.Refused))
				samples[key+"served"] = append(samples[key+"served"], int64(r.Served))
			}
		}
		for _, r := range streamRuns {
			fmt.Fprintf(d.Stderr(), "run %d/%d: %s, a stream open ...\n", run, runs, r.name)
			samples[r.name+":stream"] = append(samples[r.name+":stream"], b.streamDrain(r).Microseconds())
		}
		b.measureConnections(run, runs, samples)
	}
	b.print(runs, samples)
	d.Exit(0)
}

// parse reads the command line: the number of runs, 0 for --help, and
// whether to measure the durable lessons instead (--durable).
func parse(args []string) (int, bool, error) {
	runs, durable := "5", false
	for ; len(args) > 0; args = args[1:] {
		switch args[0] {
		case "-h", "--help":
			return 0, false, nil
		case "--durable":
			durable = true
		case "-n":
			if len(args) < 2 {
				return 0, false, fmt.Errorf("-n needs a number")
			}
			args = args[1:]
			runs = args[0]
		default:
			return 0, false, fmt.Errorf("unknown argument '%s' (try --help)", args[0])
		}
	}
	n, err := strconv.Atoi(runs)
	if !regexp.MustCompile(`^[0-9]+$`).MatchString(runs) || err != nil || n < 1 || n > 50 {
		return 0, false, fmt.Errorf("-n must be a number from 1 to 50, got '%s'", runs)
	}
	return n, durable, nil
}

func (b *bench) addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

func (b *bench) config(name string, clients int) scenario.LoadConfig {
	return scenario.LoadConfig{
		Program:  name,
		Binary:   filepath.Join(b.dir, name),
		Hey:      filepath.Join(b.dir, "hey"),
		Port:     b.port,
		Delay:    loadDelay,
		Clients:  clients,
		Duration: loadDuration,
		Args:     connectionArgs[name],
	}
}

// check notes a run whose server did not exit 0.
func (b *bench) check(name string, status int, text string) {
	if status != 0 {
		b.notes = append(b.notes, fmt.Sprintf("%s ended with '%s' in one run", name, text))
	}
}

// idle measures SIGTERM to an idle server -> its exit. It waits for the
// listening socket without connecting to it: a probe connection the server
// has not yet seen closed would be one for Shutdown to wait for.
func (b *bench) idle(name string) time.Duration {
	if err := proc.RequireFreePort(b.addr()); err != nil {
		b.d.Fail(err)
	}
	s, err := b.d.StartServer(filepath.Join(b.dir, name), b.addr(), "-delay", loadDelay)
	if err != nil {
		b.d.Fail(err)
	}
	if err := proc.WaitListening(b.addr(), proc.Quietly, 10*time.Second, s.Exited); err != nil {
		b.d.Failf("%s: %v: %s", name, err, s.Process.LastLine())
	}
	signalled := time.Now()
	if err := s.Signal(syscall.SIGTERM); err != nil {
		b.d.Fail(err)
	}
	end := s.WaitEnding(15 * time.Second)
	b.check(name, end.Status(), end.Text())
	return end.At.Sub(signalled)
}

// signalMidDrain waits until drainClients requests are in s's handler,
// then sends SIGTERM at a random point of the first 40% of their
// drainDelay, so that the last answer lands at a random point of
// Shutdown's polling cycle.
func (b *bench) signalMidDrain(s *proc.Server) {
	if err := s.Out.WaitFor("GET / started", drainClients, s.OutputDone, 10*time.Second); err != nil {
		b.d.Failf("only %d of %d requests reached the handler within 10 s", len(s.Out.Lines("GET / started")), drainClients)
	}
	delay, _ := scenario.ParseDuration(drainDelay)
	time.Sleep(time.Duration(rand.Int64N(int64(delay) * 4 / 10))) // a random moment, not a sync
	if err := s.Signal(syscall.SIGTERM); err != nil {
		b.d.Fail(err)
	}
}

// drain measures the last answer reaching its client -> the server is
// gone. drainClients clients send one request each (hey -n = -c), so hey
// exits right after the last answer (within about a millisecond: it
// prints its report and quits). SIGTERM goes at a random point of the
// first 40% of the requests, so that the last answer lands at a random
// point of Shutdown's polling cycle: the median is a fair cost.
func (b *bench) drain(name string) time.Duration {
	cfg := b.config(name, drainClients)
	cfg.Delay = drainDelay
	s, err := scenario.StartServerListening(b.d, cfg)
	if err != nil {
		b.d.Fail(err)
	}
	n := strconv.Itoa(drainClients)
	hey, err := b.d.Start(client.HeyCommand(cfg.Hey, s.URL("/"), "-c", n, "-n", n))
	if err != nil {
		b.d.Fail(err)
	}
	b.signalMidDrain(s)
	_, err = hey.WaitProcessExit(15 * time.Second)
	var state *os.ProcessState
	if err == nil {
		state, err = s.WaitProcessExit(15 * time.Second)
	}
	if err != nil {
		b.d.Failf("%s: hey or the server still running 15 s after SIGTERM", name)
	}
	end := proc.Ending{State: state, At: s.ExitedAt}
	b.check(name, end.Status(), end.Text())
	return s.ExitedAt.Sub(hey.ExitedAt)
}

// print writes the Markdown table of medians.
func (b *bench) print(runs int, samples map[string][]int64) {
	out := b.d.Stdout()
	fmt.Fprintln(out, "### Graceful shutdown benchmark")
	fmt.Fprintln(out)
	fmt.Fprintf(out, "- machine: %s\n", machine())
	fmt.Fprintf(out, "- %s\n", goVersion())
	fmt.Fprintf(out, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(out, "- %d runs; times are median (min–max), counts are medians\n", runs)
	fmt.Fprintln(out)
	fmt.Fprintf(out, "| measurement | %s |\n", strings.Join(programs, " | "))
	fmt.Fprintf(out, "|---|%s\n", strings.Repeat("---:|", len(programs)))

	row := func(label string, cell func(name string) string) {
		line := "| " + label + " |"
		for _, name := range programs {
			line += " " + cell(name) + " |"
		}
		fmt.Fprintln(out, line)
	}
	timeCell := func(key string) func(string) string {
		return func(name string) string {
			median, low, high := medianOf(samples[name+":"+key])
			return fmt.Sprintf("%s ms (%s–%s)", ms(median), ms(low), ms(high))
		}
	}
	row("SIGTERM → exit, idle server", timeCell("idle"))
	row(fmt.Sprintf("drain overhead: last answer → exit (%d requests of %s)", drainClients, drainDelay), timeCell("drain"))
	for _, c := range levels {
		row(fmt.Sprintf("c=%d: cut / refused / served", c), func(name string) string {
			var cell []string
			for _, key := range []string{"cut", "refused", "served"} {
				median, _, _ := medianOf(samples[fmt.Sprintf("%s:%d:%s", name, c, key)])
				cell = append(cell, strconv.FormatInt(median, 10))
			}
			return strings.Join(cell, " / ")
		})
	}

	b.printStreams(samples)

	fmt.Fprintln(out)
	fmt.Fprintf(out, "Under load: GET / takes %s, hey -c C -z %s -q 20 (each client\n", loadDelay, loadDuration)
	fmt.Fprintln(out, `tries at most 20 times a second, which caps "refused"), SIGTERM in the middle.`)
	b.printConnections(samples)
	if len(b.notes) > 0 {
		fmt.Fprintln(out)
		for _, note := range b.notes {
			fmt.Fprintf(out, "- note: %s\n", note)
		}
	}
}

// medianOf returns the median, the minimum and the maximum (for an even
// count, the median is the mean of the two middle values).
func medianOf(values []int64) (median, low, high int64) {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	n := len(sorted)
	median = sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return median, sorted[0], sorted[n-1]
}

// ms writes microseconds as milliseconds with one decimal: 1234 -> 1.2.
func ms(us int64) string {
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	return fmt.Sprintf("%s%d.%d", sign, us/1000, us%1000/100)
}

// machine is the CPU's model name and how many CPUs this process may use.
func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				if _, value, ok := strings.Cut(name, ": "); ok {
					cpu = strings.TrimSpace(value)
					break
				}
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs (nproc)", cpu, runtime.NumCPU())
}

// goVersion is what `go version` prints, the toolchain that built the
// programs.
func goVersion() string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return "go version: " + err.Error()
	}
	return strings.TrimSpace(string(out))
}
