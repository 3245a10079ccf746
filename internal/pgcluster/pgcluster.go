// Package pgcluster runs a throwaway PostgreSQL server for the tests, the
// demo and load.sh: initdb and pg_ctl in a temporary folder of its own, on
// a free loopback port, with its unix socket in that folder. As root, the
// server runs as the postgres user (PostgreSQL refuses to run as root).
// An existing server named by DATABASE_URL works as well: then nothing is
// started, and each caller gets a database of its own on that server.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// InstallCommand installs what Start needs, on Debian and Ubuntu.
const InstallCommand = "apt-get install postgresql"

// ErrNotInstalled says that initdb and pg_ctl are nowhere to be found.
var ErrNotInstalled = errors.New("PostgreSQL is not installed (initdb and pg_ctl not found); install it with: " + InstallCommand)

// Binaries returns the folder that holds initdb and pg_ctl: from PATH, or
// else Debian's /usr/lib/postgresql/VERSION/bin, which is not on PATH.
func Binaries() (string, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(initdb), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // the newest version first
		if isFile(filepath.Join(dirs[i], "initdb")) && isFile(filepath.Join(dirs[i], "pg_ctl")) {
			return dirs[i], nil
		}
	}
	return "", ErrNotInstalled
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

// Cluster is a PostgreSQL server: one Start made, or one DATABASE_URL names.
type Cluster struct {
	// Dir is the temporary folder of a started cluster (data/, the unix
	// socket, postgres.log), empty for an existing server.
	Dir string
	// Port is the loopback port a started cluster listens on.
	Port int

	base    *url.URL // the server, with the database to connect to for admin work
	bin     string
	owner   *syscall.Credential // the postgres user when run as root, or nil
	created atomic.Int64        // databases created, for their names
}

// FromURL is a Cluster for an existing server, such as DATABASE_URL's
// (postgres://user:password@host:port/database?sslmode=disable).
func FromURL(raw string) (*Cluster, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("DATABASE_URL %q is not a postgres:// URL", raw)
	}
	return &Cluster{base: u}, nil
}

// Start creates and starts a cluster in a new folder under os.TempDir.
// Stop stops it and removes the folder.
func Start() (*Cluster, error) {
	bin, err := Binaries()
	if err != nil {
		return nil, err
	}
	owner, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, owner: owner}
	if err := c.create(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Another program may take the free port before the server binds it:
	// then try another, a few times.
	for attempt := 1; ; attempt++ {
		if c.Port, err = freePort(); err != nil {
			break
		}
		if err = c.start(); err == nil || attempt == 3 || !strings.Contains(err.Error(), "could not bind") {
			break
		}
	}
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.base = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	return c, nil
}

// serverUser is the user the server runs as: this one, or postgres as root.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root, and there is no postgres user to run it as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// DataDir is the cluster's data folder: its postmaster names it (-D).
func (c *Cluster) DataDir() string { return filepath.Join(c.Dir, "data") }

// create runs initdb: trust on loopback and the socket (a throwaway
// cluster for one run), no fsync of the new files (they are thrown away).
func (c *Cluster) create() error {
	if c.owner != nil {
		if err := os.Chown(c.Dir, int(c.owner.Uid), int(c.owner.Gid)); err != nil {
			return err
		}
		if err := letIn(c.Dir); err != nil {
			return err
		}
	}
	return c.run("initdb", "-D", c.DataDir(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
}

// letIn lets the server's user reach dir: each folder above it that
// others may not enter (a test's or a script's temporary folder, 0700)
// gets the search permission, x: never the right to list or to write.
func letIn(dir string) error {
	for d := filepath.Dir(dir); d != filepath.Dir(d); d = filepath.Dir(d) {
		info, err := os.Stat(d)
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o001 == 0 {
			if err := os.Chmod(d, perm|0o001); err != nil {
				return err
			}
		}
	}
	return nil
}

// start starts the server on c.Port and waits until it accepts connections.
// max_connections is raised from 100: the tests run several groups of
// three instances at once, each with a pool of its own.
func (c *Cluster) start() error {
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c max_connections=400", c.Port, c.Dir)
	return c.run("pg_ctl", "-D", c.DataDir(), "-l", filepath.Join(c.Dir, "postgres.log"), "-o", opts, "-w", "-t", "60", "start")
}

// StopServer stops the server, leaving its folder for a later StartServer.
func (c *Cluster) StopServer() error {
	return c.run("pg_ctl", "-D", c.DataDir(), "-m", "fast", "-w", "-t", "60", "stop")
}

// StartServer starts a server that StopServer stopped, on the same port.
func (c *Cluster) StartServer() error {
	return c.start()
}

// Stop stops a started cluster and removes its folder; for an existing
// server it does nothing. A server pg_ctl cannot stop is killed.
func (c *Cluster) Stop() error {
	if c.Dir == "" {
		return nil
	}
	var err error
	if isFile(filepath.Join(c.DataDir(), "postmaster.pid")) {
		if err = c.run("pg_ctl", "-D", c.DataDir(), "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
			c.killPostmaster()
		}
	}
	return errors.Join(err, os.RemoveAll(c.Dir))
}

// killPostmaster kills the server by the PID in its postmaster.pid; its
// own processes exit once it has gone.
func (c *Cluster) killPostmaster() {
	data, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(data), "\n")
	if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// run runs one of PostgreSQL's programs as the server's user, and returns
// its output in the error when it fails.
func (c *Cluster) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.owner}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// URL is the address of database db on the server.
func (c *Cluster) URL(db string) string {
	u := *c.base
	u.Path = "/" + db
	return u.String()
}

// CreateDatabase creates a new, empty database named after prefix, and
// returns its URL: one per test, so that tests can run in parallel.
func (c *Cluster) CreateDatabase(ctx context.Context, prefix string) (string, error) {
	conn, err := pgx.Connect(ctx, c.base.String())
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	name := fmt.Sprintf("%s_%d_%d", sanitize(prefix), os.Getpid(), c.created.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return c.URL(name), nil
}

// sanitize makes a database name out of text (a test's name): lower-case
// letters, digits and underscores, short enough for PostgreSQL's 63 bytes
// with the suffix CreateDatabase adds.
func sanitize(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() == 40 {
			break
		}
	}
	return b.String()
}
