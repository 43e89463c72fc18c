package main

import "github.com/spf13/cobra"

func newStreamsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "streams",
		Short: "Maintain the service's JetStream streams",
		Long: `The service creates and updates its streams at start (DISPATCH_JOBS,
DISPATCH_SCHED, DISPATCH_DLQ, DISPATCH_FALLBACK for the default prefix).
What it cannot do on a running deployment is here.`,
		Example: `  dispatcher streams migrate-jobs --dry-run
  dispatcher streams migrate-jobs --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newStreamsMigrateJobsCmd())
	return cmd
}
