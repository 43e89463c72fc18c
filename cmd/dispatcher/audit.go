package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/schemas"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit stream: who paused, resumed, replayed or purged what",
		Long: `The audit stream (e.g. DISPATCH_AUDIT, on <prefix>.audit.<action>) holds one
record per action of an operator — pause, resume, replay, purge —, from the
command line or the console: who, what, on which selection, how many, when,
and the result (schemas/audit.v1.schema.json). Records older than
streams.audit_max_age (90 days by default) are dropped.`,
		Example: `  dispatcher audit ls --since 24h
  dispatcher audit ls --action pause,resume --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAuditLsCmd())
	return cmd
}

type auditLsFlags struct {
	conn    connFlags
	since   string
	actions []string
	limit   int
	asJSON  bool
}

func newAuditLsCmd() *cobra.Command {
	var f auditLsFlags
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List audit records (reads without consuming)",
		Long: `ls lists the audit records, oldest first, as a table cut to the terminal's
width (text an operator or a console client wrote — who, a reason, an error —
is shown escaped), or with --json as one JSON object per line:
{"seq": N, "record": {<the audit record>}}. It consumes and changes nothing.`,
		Example: `  dispatcher audit ls
  dispatcher audit ls --since 2h --action pause,resume
  dispatcher audit ls --limit 20 --json | jq .record.who`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditLs(cmd, &f) },
	}
	f.conn.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "only records since: a duration ago (90m, 24h) or a time (2026-11-26, RFC 3339)")
	fl.StringSliceVar(&f.actions, "action", nil, "only these actions: "+strings.Join(schemas.AuditActions, ", "))
	fl.IntVar(&f.limit, "limit", 0, "the newest this many records (0: every one)")
	fl.BoolVar(&f.asJSON, "json", false, "one JSON object per record and line")
	envFlags(cmd, "json")
	completeFixed(cmd, "action", schemas.AuditActions)
	return cmd
}

func runAuditLs(cmd *cobra.Command, f *auditLsFlags) error {
	flt := audit.Filter{Actions: f.actions, Limit: f.limit}
	for _, a := range f.actions {
		if !slices.Contains(schemas.AuditActions, a) {
			return usageErr("--action %q: want one of %s", a, strings.Join(schemas.AuditActions, ", "))
		}
	}
	if f.limit < 0 {
		return usageErr("--limit %d: want a number of records, or 0 for every one", f.limit)
	}
	var err error
	if flt.Since, err = parseWhen("since", f.since, time.Now()); err != nil {
		return err
	}
	nc, js, conn, err := f.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	topo := conn.topology()
	entries, err := audit.List(ctx, js, topo, flt)
	if err != nil {
		return runtimeErr(err)
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		enc := json.NewEncoder(out)
		for _, e := range entries {
			if e.Err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), escape(e.Err.Error()))
				continue
			}
			_ = enc.Encode(struct {
				Seq    uint64              `json:"seq"`
				Record schemas.AuditRecord `json:"record"`
			}{e.Seq, e.Record})
		}
		return nil
	}
	if len(entries) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "no audit records in %s match\n", topo.AuditStream())
		return nil
	}
	t := &table{head: []string{"SEQ", "TIME", "WHO", "ACTION", "SELECTION", "COUNT", "RESULT", "DETAIL"}}
	for _, e := range entries {
		if e.Err != nil {
			t.add(strconv.FormatUint(e.Seq, 10), "-", "-", "-", "-", "-", "-", e.Err.Error())
			continue
		}
		r := e.Record
		t.add(strconv.FormatUint(e.Seq, 10), r.At.UTC().Format(time.RFC3339), r.Who, r.Action, selection(r.Selection),
			count(r), r.Result, detail(r))
	}
	return t.write(out, termWidth(out))
}

// selection says in words what an audit record's selection was.
func selection(s schemas.AuditSelection) string {
	if s.Target != "" {
		return s.Target
	}
	flt := deadletter.AuditFilter(s)
	return flt.Describe()
}

// count is a record's COUNT: n, or n of selected.
func count(r schemas.AuditRecord) string {
	if r.Selected > 0 || r.Action == schemas.AuditReplay || r.Action == schemas.AuditPurge {
		return fmt.Sprintf("%d of %d", r.Count, r.Selected)
	}
	return strconv.Itoa(r.Count)
}

// detail is a record's DETAIL: a pause's end and reason, an error.
func detail(r schemas.AuditRecord) string {
	var parts []string
	if r.Action == schemas.AuditPause {
		if r.Until != nil {
			parts = append(parts, "until "+r.Until.UTC().Format(time.RFC3339))
		} else {
			parts = append(parts, "until resumed")
		}
	}
	if r.Reason != "" {
		parts = append(parts, "reason: "+r.Reason)
	}
	if r.Error != "" {
		parts = append(parts, "error: "+r.Error)
	}
	return strings.Join(parts, "; ")
}

// appendAudit appends the record of a command's action; a failure is
// returned as the command's error (the action stands).
func appendAudit(js jetstream.JetStream, topo schemas.Topology, rec schemas.AuditRecord) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec.Who = audit.CLI()
	if _, err := audit.Append(ctx, js, topo, rec); err != nil {
		return runtimeErr(fmt.Errorf("%s done, but its audit record was not stored: %w", rec.Action, err))
	}
	return nil
}
