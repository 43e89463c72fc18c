package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
)

type migrateJobsFlags struct {
	conn   connFlags
	yes    bool
	dryRun bool
	asJSON bool
}

func newStreamsMigrateJobsCmd() *cobra.Command {
	var f migrateJobsFlags
	cmd := &cobra.Command{
		Use:   "migrate-jobs",
		Short: "Recreate a jobs stream made before partitions, without scheduled messages",
		Long: `A jobs stream created by a version before partitions allows scheduled
messages, so JetStream keeps rollups on and a publisher's Nats-Rollup header
can purge every waiting job; schedules cannot be turned off on an existing
stream. migrate-jobs recreates it without them, losing and doubling nothing:

  1. it creates a holding stream (<S>_JOBS_MIGRATION) and retires the jobs
     stream onto <prefix>.migrating.retired.> (publishes to <prefix>.jobs.>
     fail from here on: publishers must retry), then copies every message
     into the holding stream;
  2. it deletes the old jobs stream and creates the new one (no schedules,
     no rollups, the partitions' transform): publishes work again;
  3. it publishes each held job again to <prefix>.jobs.<target> (stored in
     its partition; a subject of several tokens as it was published) and
     turns each retry copy of a version before the scheduling stream
     (<prefix>.retry.<target>.<seq>) into a scheduled copy in <S>_SCHED,
     due at the same time (now if past); such a copy's retry state was
     never signed, so the service attempts it as a fresh job;
  4. it deletes the holding stream.

Every instance of the service must be stopped, and no delivery of the jobs
stream may have had its outcome stored without its ack (an instance that
died in between: start the service so that it redoes them, stop it, rerun):
else it refuses with status 4 and changes nothing. Deliveries merely not
acked (handed back, or held by an instance that stopped) are moved like any
job. Killed or failed at any point, rerun it: it picks up where it stopped,
and loses or doubles nothing. While the old stream is retired no service can
start; start the service once it printed "migrated". With a terminal it asks
for confirmation; without one it needs --yes (else status 2). On a jobs
stream that allows no schedules there is nothing to do (status 0).`,
		Example: `  dispatcher streams migrate-jobs --dry-run --config /etc/dispatcher.yaml
  dispatcher streams migrate-jobs --yes --config /etc/dispatcher.yaml
  dispatcher streams migrate-jobs --yes --json | jq .window_seconds`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMigrateJobs(cmd, &f) },
	}
	f.conn.register(cmd)
	fl := cmd.Flags()
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would be moved, by kind, and whether it would be refused; change nothing")
	fl.BoolVar(&f.asJSON, "json", false, "print the outcome as JSON")
	envFlags(cmd, "yes", "dry-run", "json")
	return cmd
}

func runMigrateJobs(cmd *cobra.Command, f *migrateJobsFlags) error {
	nc, js, conn, err := f.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	topo := conn.topology()
	var set dispatcher.JobsMigrationSettings
	if conn.cfg != nil {
		set = dispatcher.JobsMigrationSettings{Partitions: conn.cfg.Streams.Partitions, Replicas: conn.cfg.NATS.Replicas,
			SettleWindow: dispatcher.SettleWindow(conn.cfg)}
	}
	p := &migrateProgress{w: stderr, topo: topo, quiet: f.asJSON}
	m := dispatcher.NewJobsMigration(js, topo, set, dispatcher.WithMigrationProgress(p.event))

	chk, err := m.Check(ctx)
	if errors.Is(err, dispatcher.ErrNoJobsStream) {
		return runtimeErr(fmt.Errorf("%w; has 'dispatcher serve' run against this NATS server? (check --subject-prefix)", err))
	}
	if err != nil {
		return runtimeErr(err)
	}
	if chk.Stage == dispatcher.MigrationNotNeeded {
		if f.asJSON {
			return json.NewEncoder(out).Encode(map[string]any{"stage": chk.Stage, "dry_run": f.dryRun, "migrated": false})
		}
		fmt.Fprintf(out, "%s allows no scheduled messages and no rollups: nothing to migrate\n", topo.JobsStream())
		return nil
	}
	if f.dryRun {
		counts, err := m.Count(ctx, chk)
		if err != nil {
			return runtimeErr(err)
		}
		if f.asJSON {
			_ = json.NewEncoder(out).Encode(map[string]any{"stage": chk.Stage, "dry_run": true, "counts": counts,
				"messages": counts.Messages(), "refusal": chk.Refusal})
		} else {
			writeMigratePlan(out, topo, chk, counts)
		}
		if chk.Refusal != nil {
			return refusedErr(chk.Refusal)
		}
		return nil
	}
	if chk.Refusal != nil {
		if f.asJSON {
			_ = json.NewEncoder(out).Encode(map[string]any{"stage": chk.Stage, "dry_run": false, "migrated": false, "refusal": chk.Refusal})
		}
		return refusedErr(chk.Refusal)
	}
	if !f.yes {
		what := fmt.Sprintf("Recreate %s without scheduled messages (%d messages to move)? Publishes to %s fail until the new stream exists.",
			topo.JobsStream(), chk.Messages, topo.JobsWildcard())
		if chk.Stage > dispatcher.MigrationPending {
			what = fmt.Sprintf("Finish the migration of %s (%s)?", topo.JobsStream(), chk.Stage)
		}
		if !isTerminal(cmd.InOrStdin()) || !isTerminal(stderr) {
			return usageErr("refusing to migrate %s without confirmation: there is no terminal to ask on; add --yes", topo.JobsStream())
		}
		fmt.Fprintf(stderr, "%s [y/N] ", what)
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return runtimeErr(fmt.Errorf("aborted: nothing changed"))
		}
	}
	rep, err := m.Run(ctx)
	var ref *dispatcher.MigrationRefusal
	switch {
	case errors.As(err, &ref):
		if f.asJSON {
			_ = json.NewEncoder(out).Encode(map[string]any{"stage": rep.Stage, "dry_run": false, "migrated": false, "refusal": ref})
		}
		return refusedErr(ref)
	case err != nil && rep == nil:
		return runtimeErr(err)
	}
	if f.asJSON {
		_ = json.NewEncoder(out).Encode(migrateJSON(rep, err))
	} else if err == nil {
		writeMigrateReport(out, topo, rep)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return runtimeErr(fmt.Errorf("interrupted (%s): rerun 'dispatcher streams migrate-jobs' to finish; it picks up where this run stopped", stageNow(err)))
	case err != nil:
		return runtimeErr(fmt.Errorf("%w; rerun 'dispatcher streams migrate-jobs' to finish: it picks up where this run stopped", err))
	}
	return nil
}

// stageNow describes an interrupted run's error briefly.
func stageNow(err error) string {
	if errors.Is(err, context.Canceled) {
		return "by a signal"
	}
	return err.Error()
}

// refusedErr is the refusal with its exit status.
func refusedErr(ref *dispatcher.MigrationRefusal) error {
	return &exitError{code: exitRefused, err: errors.New(ref.Error() + "; nothing changed")}
}

// migrateJSON is the --json outcome of a run.
func migrateJSON(rep *dispatcher.MigrationReport, err error) map[string]any {
	out := map[string]any{"stage": rep.Stage, "dry_run": false, "migrated": err == nil, "report": rep,
		"seconds": rep.Took.Seconds()}
	if rep.Window > 0 {
		out["window_seconds"] = rep.Window.Seconds()
	}
	if err != nil {
		out["error"] = err.Error()
	}
	return out
}

// writeMigratePlan prints the dry run.
func writeMigratePlan(w io.Writer, topo schemas.Topology, chk *dispatcher.MigrationCheck, c dispatcher.MigrationCounts) {
	switch chk.Stage {
	case dispatcher.MigrationPending:
		fmt.Fprintf(w, "%s allows scheduled messages and rollups (created before partitions): it would be recreated without them\n", topo.JobsStream())
	default:
		fmt.Fprintf(w, "a migration of %s is under way (stage %s): a rerun would finish it\n", topo.JobsStream(), chk.Stage)
	}
	t := &table{head: []string{"KIND", "MESSAGES", "BECOMES"}}
	t.add("jobs", strconv.Itoa(c.Jobs), "published again on "+topo.JobsSubject("<target>")+": stored in the target's partition")
	t.add("partitioned", strconv.Itoa(c.Partitioned), "the same (partitions follow the new stream's transform)")
	t.add("multi-token", strconv.Itoa(c.MultiToken), "published again on the subject they were published on (orphans)")
	t.add("retry copies", strconv.Itoa(c.RetryCopies), fmt.Sprintf("scheduled copies in %s due at the same time (%d due already: now), attempted as fresh jobs", topo.SchedStream(), c.RetryCopiesDue))
	if c.RetryCopiesFired > 0 {
		t.add("fired copies", strconv.Itoa(c.RetryCopiesFired), "retry copies whose job is held too: dropped")
	}
	if c.Other > 0 {
		t.add("other", strconv.Itoa(c.Other), "retry subjects of no target: published again on "+topo.JobsSubject("<rest of the subject>"))
	}
	_ = t.write(w, termWidth(w))
	if chk.Refusal != nil {
		fmt.Fprintf(w, "dry run: it would be refused now: %s\n", escape(chk.Refusal.Error()))
		return
	}
	fmt.Fprintf(w, "dry run: would move %d messages; nothing changed. Publishes to %s fail while they are copied, until the new stream exists.\n",
		c.Messages(), topo.JobsWildcard())
}

// writeMigrateReport prints the outcome of a run.
func writeMigrateReport(w io.Writer, topo schemas.Topology, rep *dispatcher.MigrationReport) {
	c := rep.Counts
	fmt.Fprintf(w, "migrated %s in %s: %d held messages (%d jobs stored before partitions, %d partitioned, %d multi-token, %d retry copies, %d other)\n",
		topo.JobsStream(), rep.Took.Round(time.Millisecond), c.Messages(), c.Jobs, c.Partitioned, c.MultiToken, c.RetryCopies, c.Other)
	fmt.Fprintf(w, "copied %d (%d by an earlier run); published %d jobs again (%d were there already); scheduled %d retry copies in %s (%d were there already, %d had fired: dropped)",
		rep.Copied, rep.AlreadyHeld, rep.Republished, rep.AlreadyStored, rep.Rescheduled, topo.SchedStream(), rep.AlreadyScheduled, c.RetryCopiesFired)
	if rep.DoneBefore > 0 {
		fmt.Fprintf(w, "; %d published by an earlier run", rep.DoneBefore)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s now allows no scheduled messages and no rollups; %d partitions; first sequence %d\n", topo.JobsStream(), rep.Partitions, rep.FirstSeq)
	if rep.Window > 0 {
		fmt.Fprintf(w, "publishes to %s failed for %s\n", topo.JobsWildcard(), rep.Window.Round(time.Millisecond))
	}
	fmt.Fprintln(w, "start the service: its partition consumers deliver every job stored (deliver all)")
}

// migrateProgress prints a run's steps on stderr, the counting ones at
// most once a second.
type migrateProgress struct {
	w        io.Writer
	topo     schemas.Topology
	quiet    bool
	last     time.Time
	lastLine string
}

func (p *migrateProgress) event(ev dispatcher.MigrationEvent) {
	if p.quiet && ev.Step != dispatcher.StepWarning {
		return
	}
	switch ev.Step {
	case dispatcher.StepHolding:
		fmt.Fprintf(p.w, "created the holding stream %s\n", p.topo.HoldingStream())
	case dispatcher.StepRetired:
		fmt.Fprintf(p.w, "retired %s onto %s: publishes to %s fail until the new stream exists\n", p.topo.JobsStream(), ev.Detail, p.topo.JobsWildcard())
	case dispatcher.StepCopy, dispatcher.StepRepublish, dispatcher.StepReschedule:
		if ev.Detail == "" && time.Since(p.last) < time.Second {
			return
		}
		p.last = time.Now()
		what := map[dispatcher.MigrationStep]string{dispatcher.StepCopy: "copied to " + p.topo.HoldingStream(),
			dispatcher.StepRepublish: "held jobs published again", dispatcher.StepReschedule: "retry copies scheduled in " + p.topo.SchedStream()}[ev.Step]
		line := fmt.Sprintf("%s: %d", what, ev.Done)
		if ev.Total > 0 {
			line += fmt.Sprintf(" of %d", ev.Total)
		}
		if line != p.lastLine {
			fmt.Fprintln(p.w, line)
			p.lastLine = line
		}
	case dispatcher.StepDeleted:
		fmt.Fprintf(p.w, "deleted the old %s\n", p.topo.JobsStream())
	case dispatcher.StepCreated:
		fmt.Fprintf(p.w, "created %s without scheduled messages or rollups: publishes work again\n", p.topo.JobsStream())
	case dispatcher.StepWarning:
		fmt.Fprintf(p.w, "warning: %s\n", escape(ev.Detail))
	case dispatcher.StepFinished:
		fmt.Fprintf(p.w, "deleted the holding stream %s\n", p.topo.HoldingStream())
	}
}
