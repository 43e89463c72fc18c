package tests

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// reloadCounter counts the service's reloads by result.
type reloadCounter struct{ ok, refused atomic.Int32 }

func (c *reloadCounter) option() dispatcher.Option {
	return dispatcher.OnReload(func(ok bool) {
		if ok {
			c.ok.Add(1)
		} else {
			c.refused.Add(1)
		}
	})
}

// postReload calls POST /-/reload and returns the status and body.
func postReload(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/-/reload", "text/plain", nil)
	if err != nil {
		t.Fatalf("POST /-/reload: %v", err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// writeAtomically replaces the file at path the way editors do: a new file
// renamed over the old one.
func writeAtomically(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReloadUnderLoad reloads a new timeout through POST /-/reload while
// jobs flow: every job is delivered exactly once and the new timeout applies
// to the calls after the reload.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.ByPath(map[string]testenv.Behaviour{
		"/load": testenv.Sleep(40*time.Millisecond, testenv.OK()),
		"/slow": testenv.Sleep(4*time.Second, testenv.OK()),
	}))
	results := testenv.Results(t, b.NC, "app.results")
	conf := func(total string) string {
		return b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
			"concurrency": 4,
			"timeouts":    testenv.M{"connect": "200ms", "tls": "200ms", "response_header": total, "total": total},
			"retry":       testenv.M{"max_attempts": 3},
		})}))
	}
	path := testenv.WriteConfig(t, conf("6s"))
	var rc reloadCounter
	svc := testenv.RunService(t, conf("6s"), dispatcher.WithConfigFile(path), rc.option())

	const n = 300
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("load-%03d", i), Path: "/load", ReplyTo: "app.results"})
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return sink.Count() >= 30, fmt.Sprintf("%d calls", sink.Count())
	})
	// Rename-over write: the watcher may reload it too; the POST must
	// succeed whichever comes first.
	writeAtomically(t, path, conf("2s"))
	if code, body := postReload(t, svc.HTTPAddr()); code != http.StatusOK {
		t.Fatalf("POST /-/reload: %d %s", code, body)
	}
	if d := results.Distinct(); d >= n {
		t.Logf("all %d jobs were done before the reload applied; the test proves less", d)
	}
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "slow-1", Path: "/slow", MaxAttempts: 1, ReplyTo: "app.results"}))
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		return results.Distinct() >= n+1, fmt.Sprintf("%d of %d results", results.Distinct(), n+1)
	})
	for i := range n {
		id := fmt.Sprintf("load-%03d", i)
		rs := results.ByID(id)
		if len(rs) != 1 || rs[0].Outcome != schemas.OutcomeDelivered {
			t.Errorf("job %s: results %+v, want one delivered", id, rs)
		}
	}
	if rs := results.ByID("slow-1"); len(rs) != 1 || rs[0].ErrorClass != "timeout_total" && rs[0].ErrorClass != "timeout_response_header" {
		t.Errorf("slow job after the reload: %+v, want a timeout under the new 2s total (6s before the reload)", rs)
	}
	if rc.ok.Load() < 1 || rc.refused.Load() != 0 {
		t.Errorf("reloads ok %d refused %d, want at least 1 ok, none refused", rc.ok.Load(), rc.refused.Load())
	}
}

// TestReloadBadConfigRefused writes an invalid config: the file watch and
// POST /-/reload refuse it with the config error and the old config keeps
// working.
func TestReloadBadConfigRefused(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results")
	good := b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)}))
	path := testenv.WriteConfig(t, good)
	var rc reloadCounter
	svc := testenv.RunService(t, good, dispatcher.WithConfigFile(path), rc.option())

	bad := b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{"concurrency": 0})}))
	writeAtomically(t, path, bad)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return rc.refused.Load() >= 1, "the file change was not refused"
	})
	code, body := postReload(t, svc.HTTPAddr())
	if code != http.StatusBadRequest || !strings.Contains(body, "targets.a.concurrency: must be at least 1") {
		t.Errorf("POST /-/reload with a bad config: %d %q, want 400 naming targets.a.concurrency", code, body)
	}
	if !strings.Contains(svc.Logs.String(), "config reload refused") {
		t.Error("no \"config reload refused\" in the logs")
	}
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "after-bad", ReplyTo: "app.results"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(results.ByID("after-bad")) == 1, "job after a refused reload not delivered"
	})
	if r := results.ByID("after-bad")[0]; r.Outcome != schemas.OutcomeDelivered {
		t.Errorf("job after a refused reload: %+v", r)
	}
	if rc.ok.Load() != 0 {
		t.Errorf("%d reloads applied, want none", rc.ok.Load())
	}
}

// TestReloadTargetsAddedRemoved adds a target through the file watch and
// removes one through POST /-/reload.
func TestReloadTargetsAddedRemoved(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sinkA, sinkB := testenv.NewSink(t), testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results")
	onlyA := b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sinkA.URL)}))
	path := testenv.WriteConfig(t, onlyA)
	var rc reloadCounter
	svc := testenv.RunService(t, onlyA, dispatcher.WithConfigFile(path), rc.option())

	both := b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sinkA.URL), "b": testenv.Target(sinkB.URL)}))
	writeAtomically(t, path, both)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return rc.ok.Load() >= 1, "file change not applied"
	})
	b.Publish(t, testenv.JobMsg("b", schemas.Job{ID: "to-b", ReplyTo: "app.results"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(results.ByID("to-b")) == 1, "job of the added target not delivered"
	})

	onlyB := b.Config(testenv.Targets(testenv.M{"b": testenv.Target(sinkB.URL)}))
	if err := os.WriteFile(path, []byte(onlyB), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := postReload(t, svc.HTTPAddr()); code != http.StatusOK {
		t.Fatalf("POST /-/reload: %d %s", code, body)
	}
	callsA := sinkA.Count()
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "to-a", ReplyTo: "app.results"}))
	// A removed target's jobs are orphans: dead-lettered unknown_target
	// after orphan_grace, never called.
	dls := testenv.WaitDeadLetters(t, b.JS, "a", 1, 15*time.Second)
	if dls[0].Rec.Reason != schemas.ReasonUnknownTarget {
		t.Errorf("job of the removed target: reason %q, want unknown_target", dls[0].Rec.Reason)
	}
	if c := sinkA.Count(); c != callsA {
		t.Errorf("the removed target got %d calls after the reload", c-callsA)
	}
}
