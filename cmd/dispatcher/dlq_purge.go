package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/audit"
)

type purgeFlags struct {
	conn   connFlags
	sel    selectorFlags
	yes    bool
	dryRun bool
	asJSON bool
}

func newDLQPurgeCmd() *cobra.Command {
	var f purgeFlags
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete dead letters",
		Long: `purge deletes the selected dead letters for good. Nothing happens without a
selector on the command line: filters, --seq N (repeatable) or --all. A
filter's DISPATCHER_* variable (DISPATCHER_TARGET, say) only narrows a
selection the command line makes; alone, or beside --all, it is refused with
status 2. On a terminal it asks for confirmation; without one (a script, CI)
it needs --yes, else it exits with status 2 and deletes nothing. Records
stored after the selection was made are never touched.`,
		Example: `  dispatcher dlq purge --target payments --reason non_retryable
  dispatcher dlq purge --until 720h --yes          # older than 30 days
  dispatcher dlq purge --seq 1042 --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPurge(cmd, &f) },
	}
	f.conn.register(cmd)
	f.sel.register(cmd)
	fl := cmd.Flags()
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would be deleted and the count; change nothing")
	fl.BoolVar(&f.asJSON, "json", false, "print the outcome as JSON")
	envFlags(cmd, "seq", "all", "yes", "dry-run", "json")
	return cmd
}

func runPurge(cmd *cobra.Command, f *purgeFlags) error {
	flt, err := f.sel.filter(cmd, time.Now())
	if err != nil {
		return err
	}
	f.sel.noteNarrowed(cmd.ErrOrStderr())
	run, err := openSelection(cmd, &f.conn, flt)
	if err != nil {
		return err
	}
	defer run.done()
	ctx, store, sel := run.ctx, run.store, run.sel
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	what := fmt.Sprintf("%d dead letter%s in %s (%s)", sel.Len(), plural(sel.Len()), store.Stream(), flt.Describe())
	switch {
	case sel.Len() == 0:
		if f.asJSON {
			return json.NewEncoder(out).Encode(map[string]any{"selected": 0, "deleted": 0, "dry_run": f.dryRun})
		}
		fmt.Fprintf(out, "no dead letters in %s match (%s); nothing to purge\n", store.Stream(), flt.Describe())
		return nil
	case f.dryRun:
		if f.asJSON {
			return json.NewEncoder(out).Encode(map[string]any{"selected": sel.Len(), "seqs": sel.Seqs, "deleted": 0, "dry_run": true})
		}
		t := &table{head: []string{"SEQ", "TIME", "TARGET", "REASON", "CLASS", "STATUS", "ATTEMPTS", "JOB ID", "ERROR"}}
		show := flt
		show.MaxSeq = sel.MaxSeq()
		if err := store.List(ctx, show, func(r *deadletter.Record) error { t.add(recordRow(r)...); return nil }); err != nil {
			return storeErr(err)
		}
		_ = t.write(out, termWidth(out))
		fmt.Fprintf(out, "dry run: would delete %s; nothing changed\n", what)
		return nil
	case !f.yes:
		if !isTerminal(cmd.InOrStdin()) || !isTerminal(stderr) {
			return usageErr("refusing to delete %s without confirmation: there is no terminal to ask on; add --yes", what)
		}
		fmt.Fprintf(stderr, "Delete %s? This cannot be undone. [y/N] ", what)
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return runtimeErr(fmt.Errorf("aborted: nothing deleted"))
		}
	}
	rep, err := store.Purge(ctx, sel)
	aerr := appendAudit(run.js, run.topo, audit.PurgeRecord(flt, f.sel.all, sel.Len(), rep, err))
	if f.asJSON {
		_ = json.NewEncoder(out).Encode(map[string]any{"selected": sel.Len(), "deleted": rep.Deleted, "gone": rep.Gone, "dry_run": false})
	} else {
		fmt.Fprintf(out, "deleted %d of %s", rep.Deleted, what)
		if rep.Gone > 0 {
			fmt.Fprintf(out, "; %d were already gone", rep.Gone)
		}
		fmt.Fprintln(out)
	}
	if err != nil {
		return storeErr(err)
	}
	return aerr
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
