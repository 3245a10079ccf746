// 04-zero-downtime answers the post's opening question, "how do we upgrade
// a web service?", without refusing a single connection. Graceful shutdown
// (02-graceful) finishes the requests in flight, but between the old
// process closing its listener and the new one opening its own, new clients
// are refused. Here the running process hands its listening socket to the
// new binary instead, using github.com/cloudflare/tableflip:
//
//  1. SIGHUP: start the binary now at the same path (the new version) as a
//     child, passing it the listening socket;
//  2. the child serves on that socket at once, and tells the parent it is
//     ready; both accept from the one socket for a moment;
//  3. the parent stops accepting, answers what its connections send,
//     lets each keep-alive connection go when that loses no request
//     (finishAccepted, in keepalive.go), and drains like 02-graceful, then
//     exits 0.
//
// The socket never closes, so the kernel queues new connections for
// whichever process accepts next: no client is refused. If the new binary
// fails to start or exits, the old process keeps serving and says why.
//
// SIGINT and SIGTERM stop the server gracefully, exactly like 02-graceful.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/gin-gonic/gin"
)

// version is set at build time: go build -ldflags "-X main.version=v2".
var version = "dev"

func main() {
	// The defaults are the post's numbers. Build it rather than `go run` it:
	// an upgrade starts the binary at this process's path again.
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests")
	pidFile := flag.String("pidfile", "", "file to write the serving process's PID to (empty: none)")
	flag.Parse()

	// run returns instead of calling log.Fatal itself, so its deferred
	// cleanup always runs before the process exits non-zero.
	if err := run(*addr, *delay, *timeout, *pidFile); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, timeout time.Duration, pidFile string) error {
	pid := strconv.Itoa(os.Getpid())
	router := gin.Default()
	router.GET("/", func(c *gin.Context) {
		// This line lets you (and the tests) see that the request is
		// inside the handler before the signal is sent.
		log.Printf("GET / started, answering in %s", delay)
		time.Sleep(delay)
		// Which process answered, and which build: the hand-over is
		// visible from the client's side.
		c.Header("X-Pid", pid)
		c.Header("X-Version", version)
		c.String(http.StatusOK, "Welcome Gin Server")
	})

	srv := &http.Server{
		Handler: router,
	}
	// After an upgrade the old process lets its keep-alive connections go
	// one by one (keepalive.go): conns watches them from the start.
	conns := watchConnections(srv, timeout)

	// The post makes a channel and calls signal.Notify; NotifyContext does
	// the same job and hands back a context that is done at the first
	// SIGINT (Ctrl+C, kill -2) or SIGTERM (kill, docker stop, Kubernetes).
	// It comes before serving: a signal that beat it would kill the process.
	// SIGKILL (kill -9) cannot be caught by any program.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP asks for an upgrade (upgradeOnSIGHUP below).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// In the first process, New finds no parent. In an upgraded one, it
	// picks up the sockets the parent passed down.
	upg, err := tableflip.New(tableflip.Options{PIDFile: pidFile})
	if err != nil {
		return err
	}
	defer upg.Stop()

	var stopping atomic.Bool
	go upgradeOnSIGHUP(upg, hup, &stopping)

	// The parent's socket if there is one, else a new one on addr.
	ln, err := upg.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	// Serve in the background so that run can wait for a signal. The post
	// calls log.Fatal inside this goroutine; sending the error back instead
	// ends the program through the same return path. conns.listener(ln)
	// is the same socket, with connections conns can watch.
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- srv.Serve(conns.listener(ln))
	}()

	// Ready writes the PID file and, in an upgraded process, tells the
	// parent to let go: from here on this process alone is the server.
	if err := upg.Ready(); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	log.Printf("version %s serving on %s (pid %s)", version, ln.Addr(), pid)

	upgraded := false
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-upg.Exit():
		upgraded = true
	case <-ctx.Done():
	}

	// Stop catching signals: from now on a second Ctrl+C gets Go's default
	// action and kills the process at once, for when the drain takes too long.
	stop()
	if upgraded {
		log.Println("Upgrade done: the new process serves; draining this one ...")
	} else {
		log.Println("Shutdown Server ... (press Ctrl+C again to force exit)")
	}

	// tableflip keeps a copy of the listening socket to pass on. Stop refuses
	// any further upgrade and has tableflip close that copy (after an upgrade
	// it is closed already); Exit tells when it has. While a copy stays open,
	// the kernel keeps accepting connections that no one would serve.
	stopping.Store(true)
	upg.Stop()
	<-upg.Exit()

	// Shutdown closes the listener, then waits for every in-flight request
	// to finish. Do not wait for Serve instead: it returns
	// ErrServerClosed the moment Shutdown starts, while requests still run.
	//
	// When shutdownCtx expires first, Shutdown returns context.DeadlineExceeded and
	// stops waiting. That is all it does: it neither closes the remaining
	// connections nor cancels their requests' contexts (the post's "強制關閉所有
	// 連線" is loose here). Those connections die when the process exits just
	// below, or earlier if you call srv.Close().
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// After an upgrade, first answer every connection this process accepted
	// (keepalive.go), within the same budget; the new process keeps its own
	// listener. Shutdown then finds nothing left to wait for.
	if upgraded {
		if err := conns.finishAccepted(shutdownCtx, ln, serveErr); err != nil {
			return fmt.Errorf("hand-over: %w", err)
		}
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		//lint:ignore ST1005 the post's own words: log.Fatal("Server Shutdown: ", err)
		return fmt.Errorf("Server Shutdown: %w", err)
	}

	log.Println("Server exiting")
	return nil
}

// upgradeOnSIGHUP runs one upgrade per SIGHUP. It refuses a SIGHUP that
// comes while an upgrade is still starting the new process, or once this
// process is stopping.
func upgradeOnSIGHUP(upg *tableflip.Upgrader, hup <-chan os.Signal, stopping *atomic.Bool) {
	var upgrading atomic.Bool
	for range hup {
		switch {
		case stopping.Load():
			log.Println("SIGHUP refused: this process is stopping")
		case !upgrading.CompareAndSwap(false, true):
			log.Println("SIGHUP refused: an upgrade is already in progress")
		default:
			log.Println("SIGHUP: upgrading, starting the new binary ...")
			go func() {
				// Upgrade starts the binary at this process's path and waits
				// until it is ready, or fails. On failure nothing changes:
				// this process keeps its socket, keeps serving, and may try
				// again.
				if err := upg.Upgrade(); err != nil {
					if stopping.Load() {
						log.Printf("Upgrade cancelled, this process is stopping: %v", err)
						return
					}
					log.Printf("Upgrade failed, still serving: %v", err)
					upgrading.Store(false)
				}
			}()
		}
	}
}
