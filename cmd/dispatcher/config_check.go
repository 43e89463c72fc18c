package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with config files",
		Example: `  dispatcher config check dispatcher.yaml
  dispatcher config check deploy/k8s/base/dispatcher.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newConfigCheckCmd())
	return cmd
}

func newConfigCheckCmd() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate config files exactly as 'serve' would, without starting anything",
		Long: `check loads each file with the same rules as 'dispatcher serve': ${VAR}
expansion from the environment, unknown keys, types and every validation rule. It
prints one line per file; a bad file's errors name their key paths. Exit status 2
when any file is invalid.`,
		Example: `  dispatcher config check dispatcher.yaml
  PAYMENTS_TOKEN=x dispatcher config check deploy/compose/dispatcher.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			bad := 0
			for _, path := range args {
				cfg, err := config.Load(path)
				if err != nil {
					bad++
					fmt.Fprintf(errOut, "%s: invalid\n%v\n", path, err)
					continue
				}
				if !quiet {
					fmt.Fprintf(out, "%s: ok (%d targets: %v)\n", path, len(cfg.Targets), cfg.TargetNames())
				}
			}
			if bad > 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("%d of %d config files are invalid", bad, len(args))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing for valid files")
	return cmd
}
