// Command dispatcher runs the dispatcher service and its operator tools.
//
//	dispatcher serve --config dispatcher.yaml
//	dispatcher publish --target payments --path /v1/charges --data '{"amount":100}'
//	dispatcher demo
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit statuses (docs/contract.md section 5).
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
	exitCheck   = 3
	// exitRefused: the command would not act on the deployment as it is
	// (streams migrate-jobs while an instance is live).
	exitRefused = 4
)

// Build information, set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "none"
)

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr and runtimeErr tag an error with its exit status.
func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func runtimeErr(err error) error { return &exitError{code: exitRuntime, err: err} }

func main() { os.Exit(run(os.Args[1:])) }

// run executes the command line and returns the exit status; main is the
// only place that exits.
func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	code := exitRuntime
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if isUsageError(err) {
		code = exitUsage
	}
	if err.Error() != "" {
		fmt.Fprintln(os.Stderr, "error:", escapeLines(err.Error())) // it may quote a record or a subject
	}
	if code == exitUsage && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "Run 'dispatcher --help' for usage.")
	}
	return code
}

// isUsageError recognises cobra's and pflag's own errors about the command line.
func isUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "required flag", "if any flags in the group"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return errors.Is(err, pflag.ErrHelp)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "dispatcher",
		Short: "Make outbound HTTP calls safe to put behind a queue",
		Long: `dispatcher consumes "call this endpoint" jobs from NATS JetStream and makes the
calls with split timeouts, retries with exponential backoff, a circuit breaker per
endpoint, and a dead-letter or fallback record for every job it cannot deliver.`,
		Example: `  dispatcher demo                              # see every outcome, no setup
  dispatcher serve --config dispatcher.yaml    # run the workers
  dispatcher publish --target payments --path /v1/charges --data '{"amount":100}'
  dispatcher lag --watch                       # backlog per target
  dispatcher dlq ls --since 1h                 # what died lately
  dispatcher dlq replay --target payments --dry-run
  dispatcher streams migrate-jobs --dry-run    # a jobs stream made before partitions
  dispatcher pause payments --for 10m           # nothing attempted, jobs wait
  dispatcher audit ls --since 24h               # who paused, replayed, purged what
  source <(dispatcher completion bash)         # shell completion (also zsh, fish, powershell)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageErr("%v", err)
	})
	// Flags registered with envFlag read DISPATCHER_* variables (env.go).
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd) }
	root.AddCommand(newServeCmd(), newVersionCmd(), newPublishCmd(), newDLQCmd(), newLagCmd(), newPauseCmd(), newResumeCmd(),
		newAuditCmd(), newDemoCmd(), newConfigCmd(), newStreamsCmd())
	return root
}
