package main

import (
	"errors"
	"regexp"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// TestEnvOneMechanism checks that every flag whose usage names a
// DISPATCHER_* variable reads it through applyEnv (the annotation of
// envFlag), and that no flag takes its default from the environment when
// the command is built (a second mechanism, which would also put the
// variable's value in --help as the default). serve has the connection
// flags every other command has.
func TestEnvOneMechanism(t *testing.T) {
	envInUsage := regexp.MustCompile(`DISPATCHER_[A-Z_]+`)
	defaults := map[string]string{}
	vars := map[string]bool{}
	walkFlags(newRoot(), func(key string, f *pflag.Flag) {
		defaults[key] = f.DefValue
		want := envInUsage.FindString(f.Usage)
		if want == "" {
			return
		}
		vars[want] = true
		if got := f.Annotations[envAnnotation]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: usage names %s but applyEnv reads %v", key, want, got)
		}
	})
	if len(vars) == 0 {
		t.Fatal("no flag names a DISPATCHER_* variable")
	}
	for v := range vars {
		t.Setenv(v, "from-the-environment")
	}
	walkFlags(newRoot(), func(key string, f *pflag.Flag) {
		if f.DefValue != defaults[key] {
			t.Errorf("%s: default %q read from the environment when the command is built", key, f.DefValue)
		}
	})

	serve, _, err := newRoot().Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nats-url", "creds", "user", "password", "token", "nkey", "tls-ca", "tls-cert", "tls-key",
		"subject-prefix", "config", "log-level"} {
		f := serve.Flags().Lookup(name)
		if f == nil || len(f.Annotations[envAnnotation]) != 1 || f.Annotations[envAnnotation][0] != envName(name) {
			t.Errorf("serve --%s: missing or not reading %s", name, envName(name))
		}
	}
}

// walkFlags calls fn with every local flag of cmd and its subcommands, keyed
// "command path --flag".
func walkFlags(cmd *cobra.Command, fn func(key string, f *pflag.Flag)) {
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) { fn(cmd.CommandPath()+" --"+f.Name, f) })
	for _, c := range cmd.Commands() {
		walkFlags(c, fn)
	}
}

// TestConnFlagsOf checks that shell completion reads the connection flags
// the way the command does: the command line first, then the variable.
func TestConnFlagsOf(t *testing.T) {
	t.Setenv("DISPATCHER_NATS_URL", "nats://from-env:4222")
	t.Setenv("DISPATCHER_SUBJECT_PREFIX", "fromenv")
	lag, _, err := newRoot().Find([]string{"lag"})
	if err != nil {
		t.Fatal(err)
	}
	if err := lag.ParseFlags([]string{"--subject-prefix", "fromflag", "--token", "tk"}); err != nil {
		t.Fatal(err)
	}
	f, err := connFlagsOf(lag)
	if err != nil {
		t.Fatal(err)
	}
	if f.url != "nats://from-env:4222" || f.prefix != "fromflag" || f.token != "tk" || f.user != "" {
		t.Errorf("url %q prefix %q token %q user %q, want the variable's url, the flags' prefix and token, no user", f.url, f.prefix, f.token, f.user)
	}
}
