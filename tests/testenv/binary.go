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

// build is a program built once per test binary into the temp dir the
// package shares (removed by Cleanup, which TestMain calls).
type build struct {
	once    sync.Once
	name    string        // file name of the binary
	pkg     string        // what `go build` builds, from the module root
	tags    string        // build tags, if any
	timeout time.Duration // bounds the build
	path    string
	err     error
	out     []byte
}

var (
	dispatcherBuild = &build{name: "dispatcher", pkg: "./cmd/dispatcher", timeout: 4 * time.Minute}
	// crashHookBuild is the dispatcher with the crashhook tag: it kills
	// itself between storing an outcome and acking its delivery when
	// DISPATCHER_TEST_CRASH_AFTER_STORE says so (worker/crashhook.go).
	crashHookBuild = &build{name: "dispatcher-crashhook", pkg: "./cmd/dispatcher", tags: "crashhook", timeout: 4 * time.Minute}
	// natsServerBuild is nats-server at the version in go.mod.
	natsServerBuild = &build{name: "nats-server", pkg: "github.com/nats-io/nats-server/v2", timeout: 3 * time.Minute}

	buildDirOnce sync.Once
	buildDir     string
	buildDirErr  error
)

// Binary returns the path of ./cmd/dispatcher, built once per test binary.
// A build failure fails every test that asks for the binary.
func Binary(t testing.TB) string {
	t.Helper()
	return dispatcherBuild.get(t)
}

// CrashHookBinary returns the path of ./cmd/dispatcher built with the
// crashhook tag (see crashHookBuild), built once per test binary.
func CrashHookBinary(t testing.TB) string {
	t.Helper()
	return crashHookBuild.get(t)
}

// NATSServerBinary returns the path of nats-server (the version in go.mod),
// built once per test binary, for tests that run it as a process of its own.
func NATSServerBinary(t testing.TB) string {
	t.Helper()
	return natsServerBuild.get(t)
}

func (b *build) get(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		buildDirOnce.Do(func() { buildDir, buildDirErr = os.MkdirTemp("", "dispatcher-tests-bin-") })
		if b.err = buildDirErr; b.err != nil {
			return
		}
		b.path = filepath.Join(buildDir, b.name)
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		defer cancel()
		args := []string{"build", "-o", b.path}
		if b.tags != "" {
			args = append(args, "-tags", b.tags)
		}
		cmd := exec.CommandContext(ctx, "go", append(args, b.pkg)...)
		cmd.Dir = moduleRoot()
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("build %s: %v\n%s", b.pkg, b.err, b.out)
	}
	return b.path
}

// Cleanup removes what the package's helpers left for the whole test
// binary (the built binaries). Call it from TestMain after m.Run.
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
