package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envAnnotation marks a flag that also reads an environment variable.
const envAnnotation = "dispatcher_env"

// envName is the variable a flag reads: DISPATCHER_ and the flag's name in
// upper case with - as _, e.g. --max-pending reads DISPATCHER_MAX_PENDING.
func envName(flag string) string {
	return "DISPATCHER_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// envFlag makes f read its environment variable when not given on the
// command line, and says so in its usage unless the usage already does.
func envFlag(f *pflag.Flag) {
	name := envName(f.Name)
	if f.Annotations == nil {
		f.Annotations = map[string][]string{}
	}
	f.Annotations[envAnnotation] = []string{name}
	if !strings.Contains(f.Usage, name) {
		f.Usage += " (env " + name + ")"
	}
}

// envFlags applies envFlag to every local flag of cmd except those named.
// Flags that act (--yes, --dry-run, --all, --seq) are best left out: an
// exported variable should not delete or replay anything by itself. The
// filters of replay and purge do read their variables, but only to narrow
// a selection made on the command line (selectorFlags.filter).
func envFlags(cmd *cobra.Command, except ...string) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		for _, e := range except {
			if f.Name == e {
				return
			}
		}
		if f.Name != "help" {
			envFlag(f)
		}
	})
}

// applyEnv sets each env-reading flag of cmd that the command line left
// alone from its variable, when that is set and not empty.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		name, v, ok := fromEnv(f)
		if err != nil || !ok {
			return
		}
		if serr := f.Value.Set(v); serr != nil {
			err = usageErr("%s=%q: invalid value for --%s: %v", name, v, f.Name, serr)
		}
	})
	return err
}

// fromEnv reports whether f takes its value from its variable: it reads
// one, the command line did not give f, and the variable is set and not
// empty. It returns the variable's name and value.
func fromEnv(f *pflag.Flag) (name, value string, ok bool) {
	names := f.Annotations[envAnnotation]
	if f.Changed || len(names) == 0 {
		return "", "", false
	}
	v, set := os.LookupEnv(names[0])
	if !set || v == "" {
		return "", "", false
	}
	return names[0], v, true
}
