package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("targets:\n  a:\n    endpoints: [\"https://a.example.com\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("targets:\n  a:\n    endpoints: [\"https://a.example.com\"]\n    retrys: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"valid file", []string{"config", "check", good}, exitOK},
		{"unknown key", []string{"config", "check", bad}, exitUsage},
		{"one bad among good", []string{"config", "check", good, bad}, exitUsage},
		{"missing file", []string{"config", "check", filepath.Join(dir, "nope.yaml")}, exitUsage},
		{"no file", []string{"config", "check"}, exitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := run(c.args); got != c.want {
				t.Fatalf("dispatcher %v exited %d, want %d", c.args, got, c.want)
			}
		})
	}
}
