package lab

import (
	"os"
	"path/filepath"
	"strings"
)

// DriverDirEnv names the temporary folder a scripts/*.sh entry point built
// its driver into; the driver removes it as it starts (Linux runs a binary
// whose file is gone), so that nothing is left behind, however it ends.
const DriverDirEnv = "LAB_DRIVER_DIR"

// RemoveDriverDir removes the folder named by DriverDirEnv, if this
// program's own binary is inside it.
func RemoveDriverDir() {
	dir := os.Getenv(DriverDirEnv)
	os.Unsetenv(DriverDirEnv)
	exe, err := os.Executable()
	if dir == "" || err != nil || !strings.HasPrefix(exe, filepath.Clean(dir)+string(filepath.Separator)) {
		return
	}
	os.RemoveAll(dir)
}
