package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/audit"
)

type replayFlags struct {
	conn        connFlags
	sel         selectorFlags
	dryRun      bool
	rate        float64
	concurrency int
	asJSON      bool
}

func newDLQReplayCmd() *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Publish dead letters' jobs again, then delete the dead letters",
		Long: `replay publishes the job of each selected dead letter back to
<prefix>.jobs.<target>: the same job id (the target sees the same
Idempotency-Key), a fresh Nats-Msg-Id (replay:<seq>) so JetStream's duplicate
window does not drop it, a Dispatch-Replay-Of: <seq> header, and no retry state,
so attempts start anew. Each dead letter is deleted only after JetStream
acknowledged its job's re-publish.

Nothing happens without a selector on the command line: filters, --seq N
(repeatable) or --all. A filter's DISPATCHER_* variable (DISPATCHER_TARGET,
say) only narrows a selection the command line makes; alone, or beside
--all, it is refused with status 2. --dry-run prints what would be replayed and the count, and changes nothing.

Killed half-way, rerun the same command: no dead letter is lost, and a job
that was re-published but whose dead letter was not yet deleted is dropped by
the jobs stream's duplicate window (2 minutes) instead of being published twice.

A job header kept in the dead letter only as [REDACTED] is left out of the
re-publish (the target's configured headers are still added by the service).
A record whose job could not be decoded is skipped: see it with 'dlq show'.
So is a record cut to fit the NATS max payload (its job is not the job as
sent); the skip names what it lost, in the dry run too.

On a terminal a progress bar shows; a summary line always ends the run. The
exit status is 1 when a record failed or the run was interrupted.`,
		Example: `  dispatcher dlq replay --target payments --dry-run
  dispatcher dlq replay --target payments --reason exhausted --since 2h
  dispatcher dlq replay --seq 1042 --seq 1043
  dispatcher dlq replay --all --rate 50        # at most 50 jobs/s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReplay(cmd, &f) },
	}
	f.conn.register(cmd)
	f.sel.register(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would be replayed and the count; change nothing")
	fl.Float64Var(&f.rate, "rate", 0, "at most this many jobs per second (0: as fast as JetStream acks)")
	fl.IntVar(&f.concurrency, "concurrency", deadletter.DefaultReplayConcurrency, "records worked on at once")
	fl.BoolVar(&f.asJSON, "json", false, "one JSON object per record, then a summary object")
	envFlags(cmd, "seq", "all", "dry-run", "json")
	return cmd
}

// replayEventJSON is a record's line of replay --json.
type replayEventJSON struct {
	Seq     uint64   `json:"seq"`
	Target  string   `json:"target,omitempty"`
	JobID   string   `json:"job_id,omitempty"`
	Outcome string   `json:"outcome"`
	JobSeq  uint64   `json:"jobs_seq,omitempty"`
	Dropped []string `json:"dropped_headers,omitempty"`
	Error   string   `json:"error,omitempty"`
}

func runReplay(cmd *cobra.Command, f *replayFlags) error {
	flt, err := f.sel.filter(cmd, time.Now())
	if err != nil {
		return err
	}
	f.sel.noteNarrowed(cmd.ErrOrStderr())
	if f.rate < 0 || f.concurrency < 1 {
		return usageErr("--rate must not be negative and --concurrency must be at least 1")
	}
	run, err := openSelection(cmd, &f.conn, flt)
	if err != nil {
		return err
	}
	defer run.done()
	ctx, store, sel := run.ctx, run.store, run.sel
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if sel.Len() == 0 {
		if f.asJSON {
			return json.NewEncoder(out).Encode(map[string]any{"summary": deadletter.ReplayReport{}, "selected": 0, "dry_run": f.dryRun})
		}
		fmt.Fprintf(out, "no dead letters in %s match (%s); nothing to replay\n", store.Stream(), flt.Describe())
		return nil
	}

	var (
		bar     *progressbar.ProgressBar
		notes   []string // failures, skips and dropped headers, printed after the bar
		dryRows = &table{head: []string{"SEQ", "TARGET", "JOB ID", "WOULD", "NOTE"}}
		enc     = json.NewEncoder(out)
	)
	if !f.dryRun && !f.asJSON && isTerminal(stderr) {
		bar = progressbar.NewOptions(sel.Len(), progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("replaying"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("jobs"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish())
	}
	note := func(s string) {
		s = escape(s) // job ids and errors from the record
		if bar != nil {
			notes = append(notes, s)
			return
		}
		fmt.Fprintln(stderr, s)
	}
	start := time.Now()
	rep, err := store.Replay(ctx, sel, deadletter.ReplaySettings{Rate: f.rate, Concurrency: f.concurrency, DryRun: f.dryRun},
		func(ev deadletter.ReplayEvent) {
			if bar != nil {
				_ = bar.Add(1)
			}
			if f.asJSON {
				e := replayEventJSON{Seq: ev.Seq, Target: ev.Target, JobID: ev.JobID, Outcome: string(ev.Outcome), JobSeq: ev.JobSeq, Dropped: ev.Dropped}
				if ev.Err != nil {
					e.Error = ev.Err.Error()
				}
				_ = enc.Encode(e)
				return
			}
			if f.dryRun {
				would, why := "replay", ""
				if ev.Outcome == deadletter.Skipped {
					would, why = "skip", errText(ev.Err)
				} else if len(ev.Dropped) > 0 {
					why = "without redacted header " + strings.Join(ev.Dropped, ", ")
				}
				dryRows.add(strconv.FormatUint(ev.Seq, 10), or(ev.Target, "-"), or(ev.JobID, "-"), would, why)
				return
			}
			switch {
			case ev.Outcome == deadletter.Skipped || ev.Outcome == deadletter.Failed:
				note(fmt.Sprintf("seq %d (job %s): %s: %s", ev.Seq, or(ev.JobID, "-"), ev.Outcome, errText(ev.Err)))
			case len(ev.Dropped) > 0:
				note(fmt.Sprintf("seq %d (job %s): replayed without header %s (redacted in the dead letter)", ev.Seq, ev.JobID, strings.Join(ev.Dropped, ", ")))
			}
		})
	if bar != nil {
		_ = bar.Finish()
		for _, n := range notes {
			fmt.Fprintln(stderr, n)
		}
	}
	took := time.Since(start).Round(time.Millisecond)
	interrupted := ctx.Err() != nil
	var aerr error
	if !f.dryRun {
		aerr = appendAudit(run.js, run.topo, audit.ReplayRecord(flt, f.sel.all, sel.Len(), rep, err, interrupted))
	}
	if err != nil && !interrupted {
		return storeErr(err)
	}
	if f.asJSON {
		_ = enc.Encode(map[string]any{"summary": rep, "selected": sel.Len(), "dry_run": f.dryRun, "interrupted": interrupted, "seconds": took.Seconds()})
	} else if f.dryRun {
		sortRows(dryRows)
		_ = dryRows.write(out, termWidth(out))
		fmt.Fprintf(out, "dry run: would replay %d of %d selected dead letters (%s), skip %d; nothing changed\n",
			rep.WouldReplay, sel.Len(), flt.Describe(), rep.Skipped)
	} else {
		printReplaySummary(out, rep, sel.Len(), flt, took)
	}
	switch {
	case interrupted:
		return runtimeErr(fmt.Errorf("interrupted after %d of %d: rerun the same command to finish (nothing is published twice)",
			rep.Replayed+rep.Skipped+rep.Failed, sel.Len()))
	case rep.Failed > 0:
		return runtimeErr(fmt.Errorf("%d dead letters failed to replay (see above); they are kept, rerun to retry", rep.Failed))
	}
	return aerr
}

func printReplaySummary(w io.Writer, rep deadletter.ReplayReport, selected int, flt deadletter.Filter, took time.Duration) {
	fmt.Fprintf(w, "replayed %d, failed %d, skipped %d (of %d selected: %s) in %s\n",
		rep.Replayed, rep.Failed, rep.Skipped, selected, flt.Describe(), took)
	if rep.AlreadyReplayed > 0 {
		fmt.Fprintf(w, "%d of them had been re-published by an interrupted run; JetStream dropped the second copy and their dead letters are deleted now\n", rep.AlreadyReplayed)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sortRows sorts a table's rows by their first column, a sequence number.
func sortRows(t *table) {
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	slices.SortFunc(t.rows, func(a, b []string) int { return cmp.Compare(num(a[0]), num(b[0])) })
}
