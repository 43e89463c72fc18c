package main

import (
	"errors"
	"testing"

	"github.com/spf13/cobra"
)

func TestApplyEnv(t *testing.T) {
	newCmd := func() (*cobra.Command, *string, *int64, *bool) {
		var s string
		var n int64
		var yes bool
		cmd := &cobra.Command{Use: "x"}
		cmd.Flags().StringVar(&s, "nats-url", "", "url")
		cmd.Flags().Int64Var(&n, "max-pending", -1, "n")
		cmd.Flags().BoolVar(&yes, "yes", false, "y")
		envFlags(cmd, "yes")
		return cmd, &s, &n, &yes
	}
	t.Setenv("DISPATCHER_NATS_URL", "nats://env:4222")
	t.Setenv("DISPATCHER_MAX_PENDING", "7")
	t.Setenv("DISPATCHER_YES", "true")

	cmd, s, n, yes := newCmd()
	if err := cmd.ParseFlags([]string{"--max-pending", "3"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(cmd); err != nil {
		t.Fatal(err)
	}
	if *s != "nats://env:4222" || *n != 3 || *yes {
		t.Errorf("url %q (want from env), max-pending %d (want the flag's 3), yes %v (want not from env)", *s, *n, *yes)
	}
	if u := cmd.Flags().Lookup("nats-url").Usage; u != "url (env DISPATCHER_NATS_URL)" {
		t.Errorf("usage %q does not name the variable", u)
	}

	t.Setenv("DISPATCHER_MAX_PENDING", "lots")
	cmd, _, _, _ = newCmd()
	err := applyEnv(cmd)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage {
		t.Errorf("bad value from env: %v, want a usage error", err)
	}
}
