package tests

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportsRunOneWay: schemas imports nothing of ours; worker and
// deadletter import schemas only; dispatcher (and its sub-packages) import
// those; nothing imports cmd. Read from `go list -deps`, so anyone can run
// the same check.
func TestImportsRunOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "github.com/jetdispatch/dispatcher/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/jetdispatch/dispatcher/"
	rank := func(pkg string) int {
		p := strings.TrimPrefix(pkg, mod)
		switch {
		case p == "schemas":
			return 0
		case p == "worker" || p == "deadletter":
			return 1
		case p == "dispatcher" || strings.HasPrefix(p, "dispatcher/"):
			return 2
		case strings.HasPrefix(p, "cmd/"):
			return 4
		default: // tests and their helpers
			return 3
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			from, to := rank(p.ImportPath), rank(imp)
			if strings.HasPrefix(strings.TrimPrefix(imp, mod), "cmd/") || to > from ||
				(to == from && from < 2 && p.ImportPath != imp) {
				t.Errorf("%s imports %s: imports run schemas ← worker, deadletter ← dispatcher ← cmd", p.ImportPath, imp)
			}
		}
	}
	if n < 8 {
		t.Fatalf("go list listed %d packages", n)
	}
}

// TestWorkerFilesStaySmall: one behaviour, one file; none of worker/ over
// 350 lines.
func TestWorkerFilesStaySmall(t *testing.T) {
	files, err := filepath.Glob("../worker/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("glob: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			n++
		}
		fh.Close()
		if n > 350 && !strings.HasSuffix(f, "_test.go") {
			t.Errorf("%s has %d lines (over 350): split it by behaviour", f, n)
		}
	}
}
