package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestRetrySurvivesNATSRestart checks that a job waiting for its retry
// survives a restart of the NATS server, and that the service reconnects by
// itself and makes the next attempt.
func TestRetrySurvivesNATSRestart(t *testing.T) {
	t.Parallel()
	port, dir := testenv.FreePort(t), t.TempDir()
	srv := testenv.NATSAt(t, port, dir)
	_, js := testenv.Connect(t, srv.ClientURL())
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Status(503))
	svc := testenv.RunService(t, testenv.Config(srv.ClientURL(), testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"retry": testenv.M{"max_attempts": 2, "initial_interval": "2s"},
	})})))

	testenv.Publish(t, js, testenv.JobMsg("a", schemas.Job{ID: "dur-nats"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return sink.Count() == 1, "waiting for attempt 1" })
	testenv.WaitSettled(t, js, "a", 1, 10*time.Second) // the retry is stored

	srv.Shutdown()
	srv.WaitForShutdown()
	testenv.NATSAt(t, port, dir)

	d := testenv.WaitDeadLetters(t, js, "a", 1, 30*time.Second)[0].Rec
	if n := sink.Count(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	assertTwoAttempts(t, d)
	testenv.Eventually(t, 10*time.Second, testenv.ReadyCond(svc.HTTPAddr()))

	// The fleet's buckets survived too (file storage): the instance is
	// heard from again, with the target it serves.
	srv2URL := srv.ClientURL()
	_, js2 := testenv.Connect(t, srv2URL)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		fl, err := dispatcher.ReadFleet(ctx, js2, schemas.Topology{Prefix: testenv.Prefix}, time.Now())
		if err != nil {
			return false, fmt.Sprintf("ReadFleet: %v", err)
		}
		servers, _ := fl.Serving().Servers("a")
		return len(fl.Instances) == 1 && fl.Instances[0].TargetCount == 1 && len(servers) == 1,
			fmt.Sprintf("fleet view after the restart: %+v; a served by %v", fl.Instances, servers)
	})
	svc.Stop(t) // while the new server still runs (cleanups run in reverse)
}
