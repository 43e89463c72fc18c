package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/schemas"
)

type pauseFlags struct {
	conn   connFlags
	forDur time.Duration
	reason string
	asJSON bool
}

func newPauseCmd() *cobra.Command {
	var f pauseFlags
	cmd := &cobra.Command{
		Use:   "pause TARGET",
		Short: "Pause a target for the whole fleet: nothing is attempted, its jobs wait",
		Long: `pause pauses TARGET on every instance of the fleet (the <prefix>_pauses KV
bucket): from now on no call is made to it, and none of its jobs is
dead-lettered, sent to fallback, retried or counted against a limit. Its jobs
wait: each delivery is parked as a scheduled copy (counted in
dispatcher_parked_total{reason="paused"}) due when the pause ends or, for a
pause without --for, after as long as the pause has lasted (10s to 5m), so no
job is parked in a loop. Calls in flight when the pause begins finish.

With --for the pause ends by itself after that long: every instance resumes
the target then. Without it the pause lasts until 'dispatcher resume TARGET'.
Pausing a paused target replaces its pause. A target no live instance serves
may be paused (the command says so): the instances that serve it later take
the pause when they start.

On resume the target's calls ramp up (its slots from a sixteenth, doubling
every second), the jobs still in the stream first; the parked jobs come back
when their copies are due. The action is appended to the audit stream
('dispatcher audit ls'), who being cli:<user>@<host>.`,
		Example: `  dispatcher pause payments --for 10m --reason "provider maintenance"
  dispatcher pause payments                  # until 'dispatcher resume payments'
  dispatcher lag --target payments           # PAUSED shows until when, and by whom`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPause(cmd, &f, args[0]) },
	}
	f.conn.register(cmd)
	completeTargetArg(cmd)
	fl := cmd.Flags()
	fl.DurationVar(&f.forDur, "for", 0, "end the pause after this long (0: until 'dispatcher resume')")
	fl.StringVar(&f.reason, "reason", "", "why, for the audit stream and lag (at most 1024 bytes)")
	fl.BoolVar(&f.asJSON, "json", false, "print the pause record as JSON")
	return cmd
}

func runPause(cmd *cobra.Command, f *pauseFlags, target string) error {
	if err := checkTargetArg(target); err != nil {
		return err
	}
	if f.forDur < 0 {
		return usageErr("--for %s: want a positive duration, or 0 for a pause until resumed", f.forDur)
	}
	nc, js, conn, err := f.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
	defer cancel()
	var until time.Time
	if f.forDur > 0 {
		until = time.Now().Add(f.forDur)
	}
	rec, err := dispatcher.Pause(ctx, js, conn.topology(), target, until, audit.CLI(), f.reason)
	if err != nil && !errors.Is(err, dispatcher.ErrNotAudited) {
		return pauseErr(err)
	}
	servers, known := serving(ctx, js, conn.topology(), target)
	out := cmd.OutOrStdout()
	if f.asJSON {
		_ = json.NewEncoder(out).Encode(struct {
			dispatcher.TargetPause
			ServedBy *int `json:"served_by"`
		}{rec, servedBy(servers, known)})
	} else {
		writePaused(out, rec, servers, known)
	}
	if err != nil {
		return runtimeErr(fmt.Errorf("%w (the target is paused)", err))
	}
	return nil
}

// writePaused says what pause did.
func writePaused(w io.Writer, rec dispatcher.TargetPause, servers int, known bool) {
	if rec.Until != nil {
		fmt.Fprintf(w, "paused %s until %s (in %s): its jobs are parked until then; 'dispatcher resume %s' ends it sooner\n",
			rec.Target, rec.Until.Format(time.RFC3339), age(time.Until(*rec.Until).Round(time.Second)), rec.Target)
	} else {
		fmt.Fprintf(w, "paused %s until 'dispatcher resume %s': its jobs are parked meanwhile\n", rec.Target, rec.Target)
	}
	switch {
	case !known:
		fmt.Fprintln(w, "which instances serve it is not known (the fleet could not be read)")
	case servers == 0:
		fmt.Fprintf(w, "no live instance serves %s now: the pause applies to the instances that serve it later\n", rec.Target)
	default:
		fmt.Fprintf(w, "%d live instance(s) serve %s\n", servers, rec.Target)
	}
}

type resumeFlags struct {
	conn   connFlags
	asJSON bool
}

func newResumeCmd() *cobra.Command {
	var f resumeFlags
	cmd := &cobra.Command{
		Use:   "resume TARGET",
		Short: "Resume a paused target for the whole fleet",
		Long: `resume ends the pause of TARGET on every instance: the jobs still in the stream
flow at once, each instance's calls to the target ramping up from a sixteenth
of its concurrency (at least one), doubling every second; the jobs parked
while it was paused come back when their copies are due (at most 5 minutes
later). Resuming a target that is not paused changes nothing and says so.
The action is appended to the audit stream.`,
		Example: `  dispatcher resume payments`,
		Args:    cobra.ExactArgs(1),
		RunE:    func(cmd *cobra.Command, args []string) error { return runResume(cmd, &f, args[0]) },
	}
	f.conn.register(cmd)
	completeTargetArg(cmd)
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print the pause that was ended as JSON (null when none)")
	return cmd
}

func runResume(cmd *cobra.Command, f *resumeFlags, target string) error {
	if err := checkTargetArg(target); err != nil {
		return err
	}
	nc, js, conn, err := f.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
	defer cancel()
	was, err := dispatcher.Resume(ctx, js, conn.topology(), target, audit.CLI())
	if err != nil && !errors.Is(err, dispatcher.ErrNotAudited) {
		return pauseErr(err)
	}
	out := cmd.OutOrStdout()
	switch {
	case f.asJSON:
		_ = json.NewEncoder(out).Encode(struct {
			Resumed *dispatcher.TargetPause `json:"resumed"`
		}{was})
	case was == nil:
		fmt.Fprintf(out, "%s was not paused; nothing changed\n", target)
	default:
		fmt.Fprintf(out, "resumed %s (paused %s ago by %s): its jobs flow again, calls ramping up over a few seconds; parked jobs come back when due\n",
			target, age(time.Since(was.At)), escape(was.By))
	}
	if err != nil {
		return runtimeErr(fmt.Errorf("%w (the target is resumed)", err))
	}
	return nil
}

// completeTargetArg completes a command's TARGET argument as --target is
// completed (completion.go).
func completeTargetArg(cmd *cobra.Command) {
	cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return knownTargets(cmd, prefix), cobra.ShellCompDirectiveNoFileComp
	}
}

// checkTargetArg refuses a TARGET argument that is no target's name.
func checkTargetArg(name string) error {
	if !schemas.ValidTarget(name) {
		return usageErr("TARGET %q: want 1 to 64 letters, digits, _ or -", name)
	}
	return nil
}

// pauseErr gives an error of Pause or Resume its exit status.
func pauseErr(err error) error {
	if errors.Is(err, dispatcher.ErrInvalidPause) {
		return usageErr("%v", err)
	}
	return runtimeErr(err)
}

// serving counts the live instances that serve target; known is false when
// the fleet could not be read, or some live instance's targets are not
// known.
func serving(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, target string) (n int, known bool) {
	fl, err := dispatcher.ReadFleet(ctx, js, topo, time.Now())
	if err != nil {
		return 0, false
	}
	ids, unknown := fl.Serving().Servers(target)
	return len(ids), len(unknown) == 0
}

// servedBy is n for --json, or nil when it is not known.
func servedBy(n int, known bool) *int {
	if !known {
		return nil
	}
	return &n
}
