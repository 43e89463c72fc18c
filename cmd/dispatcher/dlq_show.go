package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/deadletter"
)

func newDLQShowCmd() *cobra.Command {
	var (
		conn   connFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show SEQ",
		Short: "Show one dead letter in full",
		Long: `show prints the dead letter with stream sequence SEQ (the SEQ column of
'dispatcher dlq ls'): why it died, every attempt kept in its history, and the
job itself. --json prints the record exactly as stored.`,
		Example: `  dispatcher dlq show 1042
  dispatcher dlq show 1042 --json | jq .history`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || seq == 0 {
				return usageErr("SEQ %q: want a stream sequence (a positive number; see 'dispatcher dlq ls')", args[0])
			}
			nc, store, err := openStore(&conn)
			if err != nil {
				return err
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			r, err := store.Get(ctx, seq)
			if errors.Is(err, deadletter.ErrNotFound) {
				return runtimeErr(fmt.Errorf("%w (list what is there with 'dispatcher dlq ls')", err))
			}
			if err != nil {
				return storeErr(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := out.Write(append(bytes.TrimSpace(r.Data), '\n'))
				return err
			}
			return showRecord(out, r)
		},
	}
	conn.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the record as stored")
	envFlags(cmd, "json")
	return cmd
}

// showRecord prints a record for a person. What the record holds came from
// a publisher: every piece of it is escaped (escape.go).
func showRecord(w io.Writer, r *deadletter.Record) error {
	dl, err := r.DeadLetter()
	if err != nil {
		fmt.Fprintf(w, "Dead letter %d on %s, stored %s\n%s\n\n%s\n", r.Seq, escape(r.Subject), r.Time.UTC().Format(time.RFC3339Nano),
			escapeLines(err.Error()), escapeLines(string(r.Data)))
		return nil
	}
	fmt.Fprintf(w, "Dead letter %d on %s, stored %s\n\n", r.Seq, escape(r.Subject), r.Time.UTC().Format(time.RFC3339Nano))
	var fields [][2]string
	add := func(k, v string) {
		if v != "" {
			fields = append(fields, [2]string{k, v})
		}
	}
	add("target:", dl.Target)
	add("job id:", or(r.JobID, "(the job could not be decoded)"))
	add("reason:", dl.Reason)
	add("error class:", dl.ErrorClass)
	add("error:", dl.Error)
	if dl.LastStatus != 0 {
		add("last status:", strconv.Itoa(dl.LastStatus))
	}
	add("attempts:", strconv.Itoa(dl.Attempts))
	if dl.FirstAttemptAt != nil {
		add("first attempt:", dl.FirstAttemptAt.UTC().Format(time.RFC3339Nano))
	}
	add("dead at:", dl.DeadAt.UTC().Format(time.RFC3339Nano))
	add("trace id:", dl.TraceID)
	add("service:", strings.TrimSpace(dl.ServiceName+" "+paren(dl.Instance)))
	cut := r.Cut()
	add("truncated:", strings.Join(cut, ", "))
	for _, f := range fields {
		fmt.Fprintf(w, "  %-15s%s\n", f[0], escape(f[1]))
	}
	if len(dl.History) > 0 {
		fmt.Fprintf(w, "\nHistory (%d attempts kept):\n", len(dl.History))
		h := &table{head: []string{"#", "AT", "ENDPOINT", "STATUS", "CLASS", "TOOK", "ERROR"}}
		for _, a := range dl.History {
			st := "-"
			if a.Status != 0 {
				st = strconv.Itoa(a.Status)
			}
			h.add(strconv.Itoa(a.Attempt), a.At.UTC().Format("2006-01-02T15:04:05.000Z"), a.Endpoint, st, a.ErrorClass,
				fmt.Sprintf("%.1fms", a.DurationMS), a.Error)
		}
		var buf bytes.Buffer
		_ = h.write(&buf, 0)
		for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	if len(dl.Job) > 0 && string(dl.Job) != "null" {
		fmt.Fprintf(w, "\nJob:\n%s\n", escapeLines(indentJSON(dl.Job)))
	}
	if len(dl.Raw) > 0 {
		if utf8.Valid(dl.Raw) {
			fmt.Fprintf(w, "\nRaw payload (%d bytes, as received):\n  %s\n", len(dl.Raw), escape(string(dl.Raw)))
		} else {
			fmt.Fprintf(w, "\nRaw payload (%d bytes, base64):\n  %s\n", len(dl.Raw), base64.StdEncoding.EncodeToString(dl.Raw))
		}
	}
	if meta := dl.JobMeta(); meta != nil {
		fmt.Fprintf(w, "\nMeta:\n%s\n", escapeLines(indentJSON(meta)))
	}
	if len(cut) > 0 {
		fmt.Fprintf(w, "\nNot replayable: cut to fit the NATS max payload (lost: %s)\n", escape(strings.Join(cut, ", ")))
		return nil
	}
	fmt.Fprintf(w, "\nReplay it with: dispatcher dlq replay --seq %d\n", r.Seq)
	return nil
}

func indentJSON(raw []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "  ", "  ") != nil {
		return "  " + string(raw)
	}
	return "  " + buf.String()
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}
