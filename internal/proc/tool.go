package proc

import "path/filepath"

// BuildTool builds pkg, a tool of the module (a `tool` line of go.mod, such
// as grpcurl), into dir/name, never with -race: it is a client, not what is
// under test.
func BuildTool(dir, name, pkg string) error {
	return goBuild(dir, []string{"build", "-o", filepath.Join(dir, name), pkg})
}
