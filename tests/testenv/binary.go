package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// buildTimeout bounds building the dispatcher binary.
const buildTimeout = 4 * time.Minute

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
	buildOut  []byte
)

// Binary returns the path of ./cmd/dispatcher built once per test binary
// into a temp dir the package shares (removed by Cleanup, which TestMain
// calls). A build failure fails every test that asks for the binary.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "dispatcher-tests-bin-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "dispatcher")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", buildBin, "./cmd/dispatcher")
		cmd.Dir = moduleRoot()
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build ./cmd/dispatcher: %v\n%s", buildErr, buildOut)
	}
	return buildBin
}

// Cleanup removes what the package's helpers left for the whole test
// binary (the built dispatcher). Call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// moduleRoot is the directory of go.mod: two levels above this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
