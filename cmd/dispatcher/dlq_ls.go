package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/deadletter"
)

func newDLQLsCmd() *cobra.Command {
	var (
		conn   connFlags
		filter dlqFilterFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List dead letters (reads without consuming)",
		Long: `ls lists the dead letters that pass the filters, oldest first, as a table cut to
the terminal's width, or with --json as one JSON object per line:
{"seq": N, "time": "<stored at, RFC 3339>", "record": {<the dead-letter record>}}.
Listing reads the stream with an ordered consumer and direct gets; it consumes
and changes nothing.`,
		Example: `  dispatcher dlq ls
  dispatcher dlq ls --target payments --reason exhausted --since 1h
  dispatcher dlq ls --status 5xx --class timeout_total,http_5xx --limit 20
  dispatcher dlq ls --job-id ord-1001 --json | jq .record.history`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := filter.filter(time.Now())
			if err != nil {
				return err
			}
			nc, store, err := openStore(&conn)
			if err != nil {
				return err
			}
			defer nc.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			if asJSON {
				return lsJSON(ctx, cmd, store, flt)
			}
			return lsTable(ctx, cmd, store, flt)
		},
	}
	conn.register(cmd)
	filter.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per record and line")
	envFlags(cmd, "json")
	return cmd
}

func lsJSON(ctx context.Context, cmd *cobra.Command, store *deadletter.Store, flt deadletter.Filter) error {
	bw := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	err := store.List(ctx, flt, func(r *deadletter.Record) error {
		data := r.Data
		if bytes.ContainsAny(data, "\r\n") || !json.Valid(data) {
			var buf bytes.Buffer
			if json.Compact(&buf, data) == nil {
				data = buf.Bytes()
			} else {
				data, _ = json.Marshal(string(data)) // not JSON: keep it, as a string
			}
		}
		bw.WriteString(`{"seq":`)
		bw.WriteString(strconv.FormatUint(r.Seq, 10))
		bw.WriteString(`,"time":"`)
		bw.WriteString(r.Time.UTC().Format(time.RFC3339Nano))
		bw.WriteString(`","record":`)
		bw.Write(data)
		_, err := bw.WriteString("}\n")
		return err
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return storeErr(err)
	}
	return nil
}

func lsTable(ctx context.Context, cmd *cobra.Command, store *deadletter.Store, flt deadletter.Filter) error {
	t := &table{head: []string{"SEQ", "TIME", "TARGET", "REASON", "CLASS", "STATUS", "ATTEMPTS", "JOB ID", "ERROR"}}
	err := store.List(ctx, flt, func(r *deadletter.Record) error {
		t.add(recordRow(r)...)
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	if len(t.rows) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "no dead letters in %s match (%s)\n", store.Stream(), flt.Describe())
		return nil
	}
	return t.write(cmd.OutOrStdout(), termWidth(cmd.OutOrStdout()))
}

// recordRow is a record's row of the ls table (and of replay's dry run).
func recordRow(r *deadletter.Record) []string {
	sum := r.Summary()
	status := "-"
	if sum.LastStatus != 0 {
		status = strconv.Itoa(sum.LastStatus)
	}
	jobID := r.JobID
	if jobID == "" {
		jobID = "-"
	}
	return []string{strconv.FormatUint(r.Seq, 10), r.Time.UTC().Format(time.RFC3339), r.Target, r.Reason, r.ErrorClass,
		status, strconv.Itoa(sum.Attempts), jobID, sum.Error}
}
