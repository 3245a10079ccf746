package proc

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RepoRoot finds the module's root: $LAB_REPO_ROOT, which the scripts'
// entry points set (their drivers run in the caller's folder), or else the
// nearest folder, from the working directory up, whose go.mod is this
// module's.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if root := os.Getenv("LAB_REPO_ROOT"); root != "" {
		dir = root
	}
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/graceful-shutdown-lab/lab\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the graceful-shutdown-lab checkout (no go.mod of it found)")
		}
		dir = parent
	}
}

// CacheDir is a folder for builds that is kept from one run to the next,
// in the user's cache folder beside Go's own build cache: go build finds a
// binary there up to date (its build ID names every input: sources, flags,
// -race) and skips the link, most of a warm run's build time. There is one
// folder per checkout, so two clones never run each other's binaries, and
// one per use ("demo", "tests-race"), so each use's builds have their own
// flags.
func CacheDir(use string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir() // no $HOME: still one folder per user's machine
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(cache, "graceful-shutdown-lab", fmt.Sprintf("%s-%x", use, sum[:6]))
	return dir, os.MkdirAll(dir, 0o755)
}

// Build compiles each package (./01-basic, ./09-grpc) into dir, named after
// its folder, with one `go build -o`. We run the binaries, never `go run`:
// a signal sent to `go run` reaches the go tool, which dies and leaves the
// real server running (TestGoRunHidesSignals). The go tool's temporary
// folder is inside dir too (GOTMPDIR), so that an interrupted build leaves
// nothing behind once dir is removed.
func Build(dir string, race bool, pkgs ...string) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	return goBuild(dir, append(args, pkgs...))
}

// BuildAs builds pkg into out, for a program known by another name than
// its folder's (the tests run ./exercises/02-log-fatal as log-fatal).
func BuildAs(out, pkg string, race bool) error {
	return buildOne(out, pkg, race)
}

// BuildVersion builds pkg into out with main.version set, the way a release
// would (04-zero-downtime reports it in X-Version).
func BuildVersion(out, pkg, version string, race bool) error {
	return buildOne(out, pkg, race, "-ldflags", "-X main.version="+version)
}

// buildOne builds one package into the file out, with extra build flags.
func buildOne(out, pkg string, race bool, flags ...string) error {
	args := append([]string{"build", "-o", out}, flags...)
	if race {
		args = append(args, "-race")
	}
	return goBuild(filepath.Dir(out), append(args, pkg))
}

// BuildHey builds the load generator, a tool of the module, into dir/hey,
// never with -race: it is the client, not what is under test.
func BuildHey(dir string) error {
	return goBuild(dir, []string{"build", "-o", filepath.Join(dir, "hey"), "github.com/rakyll/hey"})
}

// BuildCommand is the `go build` line a person would type for pkg, as the
// demo prints it.
func BuildCommand(out, pkg, version string) []string {
	if version == "" {
		return []string{"go", "build", "-o", out, pkg}
	}
	return []string{"go", "build", "-ldflags", "-X main.version=" + version, "-o", out, pkg}
}

func goBuild(tmp string, args []string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTMPDIR="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// InstallCommands are the commands that put a new build at the path of a
// running binary, the way a deploy should: cp onto a running binary fails
// (text file busy), so the build is copied beside it, then renamed over it.
// The running process keeps its own file, which no name points to any more;
// the next one to start gets the new build.
func InstallCommands(build, binary string) [][]string {
	next := binary + ".next"
	return [][]string{{"cp", build, next}, {"mv", "-f", next, binary}}
}

// Install runs InstallCommands. The copy is made by cp, not by this
// process: a child forked meanwhile could inherit our write descriptor for
// a moment, and exec of a file open for writing fails with "text file busy".
func Install(build, binary string) error {
	for _, args := range InstallCommands(build, binary) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
