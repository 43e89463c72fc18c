package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Shell completion: cobra's `dispatcher completion bash|zsh|fish|powershell`
// command writes the scripts; this file teaches them the values of flags.

// reasons and errorClasses are the values of Dispatch-Reason and
// Dispatch-Error-Class (docs/contract.md sections 3.3 and 3.9).
var (
	reasons      = schemas.Reasons
	errorClasses = schemas.ErrorClasses
	statusValues = []string{"5xx", "4xx", "429", "500", "502", "503", "504", "none"}
)

// completeFixed completes flag from a fixed list of values.
func completeFixed(cmd *cobra.Command, flag string, values []string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// completeTargets completes flag with the target names that the server
// knows (the jobs stream's consumers and subjects) and the config's,
// asking NATS with the command line's connection flags for at most 2s.
func completeTargets(cmd *cobra.Command, flag string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		return knownTargets(cmd, prefix), cobra.ShellCompDirectiveNoFileComp
	})
}

// knownTargets lists target names starting with prefix; nothing on error.
func knownTargets(cmd *cobra.Command, prefix string) []string {
	cf, err := connFlagsOf(cmd)
	if err != nil {
		return nil
	}
	var names []string
	nc, js, conn, err := cf.connect()
	if err != nil {
		return nil
	}
	defer nc.Close()
	names = append(names, conn.knownTargets()...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	topo := conn.topology()
	if st, err := js.Stream(ctx, topo.JobsStream()); err == nil {
		if info, err := st.Info(ctx, jetstream.WithSubjectFilter(topo.JobsWildcard())); err == nil {
			for subj := range info.State.Subjects {
				if t, ok := topo.JobsTarget(subj); ok {
					names = append(names, t)
				}
			}
		}
		l := st.ConsumerNames(ctx)
		for n := range l.Name() {
			if t, ok := strings.CutPrefix(n, topo.ConsumerName("")); ok {
				names = append(names, t)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	// A subject's last token is whatever a publisher wrote: offer only
	// names --target accepts, never escape sequences to the shell.
	return slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, prefix) || !schemas.ValidTarget(n) })
}
