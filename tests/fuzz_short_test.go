package tests

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Bounds of TestFuzzShort: each target is fuzzed for fuzzTime beyond its
// seeds; fuzzRunTimeout also covers building the instrumented test binary.
const (
	// A count, not a duration: a duration -fuzztime can end in a bare
	// "context deadline exceeded" failure with no failing input (a race in
	// the go tool's fuzz coordinator seen on Go 1.26 under CPU contention);
	// a count has no deadline. 10,000 inputs take 3-8 s per target here.
	fuzzTime       = "10000x"
	fuzzRunTimeout = 4 * time.Minute
)

// fuzzTarget is one FuzzXxx function and the package directory that holds it.
type fuzzTarget struct {
	dir, name string // dir relative to the module root, "./worker"
}

// TestFuzzShort runs every fuzz target of the module, one after the other,
// for a short time beyond its seed corpus (testdata/fuzz and f.Add):
// `go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime 10000x -parallel 1 ./pkg`. The
// targets are found by parsing every _test.go file, so a new one is fuzzed
// without being listed here. A crash fails the test; `go test` then writes the
// failing input to the package's testdata/fuzz/FuzzXxx/, where it is kept as
// evidence and becomes a seed. Nothing else is written into the repository:
// the generated corpus goes to GOCACHE. Skipped with -short.
func TestFuzzShort(t *testing.T) {
	if testing.Short() {
		t.Skip("fuzzing skipped with -short")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s: %v", root, err)
	}
	targets := findFuzzTargets(t, root)
	if len(targets) == 0 {
		t.Fatal("no FuzzXxx function found: the search is broken")
	}
	before := corpusFiles(t, root)
	execsRe := regexp.MustCompile(`execs: (\d+)`)
	start := time.Now()
	for _, ft := range targets {
		ctx, cancel := context.WithTimeout(context.Background(), fuzzRunTimeout)
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-fuzz", "^"+ft.name+"$",
			"-fuzztime", fuzzTime, "-parallel", "1", ft.dir)
		cmd.Dir = root
		cmd.WaitDelay = 10 * time.Second
		began := time.Now()
		out, err := cmd.CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		execs := "?"
		if m := execsRe.FindAllSubmatch(out, -1); len(m) > 0 {
			execs = string(m[len(m)-1][1])
		}
		took := time.Since(began).Round(100 * time.Millisecond)
		switch {
		case err == nil:
			t.Logf("%s %s: execs %s in %s (build included)", ft.dir, ft.name, execs, took)
		case timedOut:
			t.Errorf("%s %s: not done within %s (execs %s)\n%s", ft.dir, ft.name, fuzzRunTimeout, execs, tail(string(out), 40))
		default:
			t.Errorf("%s %s: %v after %s (execs %s)\n%s", ft.dir, ft.name, err, took, execs, tail(string(out), 40))
		}
	}
	t.Logf("%d fuzz targets in %s", len(targets), time.Since(start).Round(100*time.Millisecond))
	for _, f := range corpusFiles(t, root) {
		if !slices.Contains(before, f) {
			t.Errorf("new failing input kept as evidence: %s", f)
		}
	}
}

// findFuzzTargets parses every _test.go file under root (testdata, hidden
// and underscore directories left out, as the go tool does) and returns its
// top-level func FuzzXxx(*testing.F), sorted by directory and name.
func findFuzzTargets(t *testing.T, root string) []fuzzTarget {
	t.Helper()
	var found []fuzzTarget
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if ok && fn.Recv == nil && isFuzzName(fn.Name.Name) && takesTestingF(fn) {
				found = append(found, fuzzTarget{dir: "./" + filepath.ToSlash(rel), name: fn.Name.Name})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(found, func(a, b fuzzTarget) int {
		return strings.Compare(a.dir+" "+a.name, b.dir+" "+b.name)
	})
	return found
}

// isFuzzName follows the go tool: "Fuzz" alone or followed by a character
// that is not a lower-case letter.
func isFuzzName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Fuzz")
	return ok && (rest == "" || !(rest[0] >= 'a' && rest[0] <= 'z'))
}

// takesTestingF reports whether fn's only parameter is a *testing.F.
func takesTestingF(fn *ast.FuncDecl) bool {
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "F"
}

// corpusFiles lists the files under every testdata/fuzz directory of the
// module, relative to root.
func corpusFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.Contains(filepath.ToSlash(path), "/testdata/fuzz/") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
