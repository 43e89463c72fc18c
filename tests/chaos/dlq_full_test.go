package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestDeadLetterStreamFull makes JetStream refuse dead-letter records
// (DISPATCH_DLQ limited to 5 messages, discard new): the jobs that cannot be
// dead-lettered are not acked, the failure is logged, and once the limit is
// lifted every job ends up dead-lettered.
func TestDeadLetterStreamFull(t *testing.T) {
	t.Parallel()
	const jobs, room = 20, 5
	start := time.Now()
	n := startNATS(t)
	_, js := testenv.Connect(t, n.URL)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Status(http.StatusBadRequest))
	// total 1s: AckWait is 4 x total + 10s = 14s, the redelivery delay.
	cfg, addr := serveConfig(t, n.URL, testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"timeouts": testenv.M{"total": "1s", "response_header": "1s"},
		// Every refused job holds a slot while the writer retries (up to
		// 30s): enough slots that they all do so at once.
		"concurrency": jobs,
	})}))
	svc := startServe(t, cfg, addr)

	setDLQLimit := func(maxMsgs int64, discard jetstream.DiscardPolicy) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, testenv.DLQStream)
		if err != nil {
			t.Fatalf("stream %s: %v", testenv.DLQStream, err)
		}
		sc := st.CachedInfo().Config
		sc.MaxMsgs, sc.Discard = maxMsgs, discard
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			t.Fatalf("update %s: %v", testenv.DLQStream, err)
		}
	}
	setDLQLimit(room, jetstream.DiscardNew)

	ids := make([]string, jobs)
	msgs := make([]testenv.Msg, jobs)
	for i := range msgs {
		ids[i] = fmt.Sprintf("full-%02d", i)
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: ids[i], Path: "/full?job=" + ids[i]})
	}
	testenv.PublishMany(t, js, msgs)

	// The writer retries a refused record for 30s before giving up.
	testenv.Eventually(t, 50*time.Second, func() (bool, string) {
		refused := strings.Count(svc.Stderr(), "dead letter not stored")
		return refused >= jobs-room, fmt.Sprintf("%d refusals logged, want %d", refused, jobs-room)
	})
	if d := testenv.CountMsgs(t, js, testenv.DLQStream, testenv.Prefix+".dlq.>"); d != room {
		t.Errorf("%d dead letters stored while the stream was full, want %d", d, room)
	}
	// Not acked: the refused jobs are still in the work-queue stream, held
	// by the consumer until AckWait sends them again.
	if left := testenv.CountMsgs(t, js, testenv.JobsStream, testenv.JobsSubject("a")); left != jobs-room {
		t.Errorf("%d jobs left in %s while their dead letters were refused, want %d", left, testenv.JobsStream, jobs-room)
	}
	info := testenv.ConsumerInfo(t, js, "a")
	if info.NumAckPending == 0 {
		t.Errorf("consumer: nothing ack pending while %d dead letters were refused", jobs-room)
	}
	t.Logf("while full: %d dead letters, %d refusals logged, %d ack pending, %d redelivered", room, strings.Count(svc.Stderr(), "dead letter not stored"), info.NumAckPending, info.NumRedelivered)

	setDLQLimit(-1, jetstream.DiscardOld)
	testenv.WaitDeadLetters(t, js, "a", jobs, 45*time.Second)
	l := waitAllAccounted(t, js, testenv.LedgerInput{IDs: ids, Sinks: []*testenv.Sink{sink}}, []string{"a"}, 30*time.Second)
	l.Check(t)
	if l.DeadLettered != jobs {
		t.Errorf("%d dead-lettered, want %d", l.DeadLettered, jobs)
	}
	if d := testenv.CountMsgs(t, js, testenv.DLQStream, testenv.Prefix+".dlq.>"); d != jobs {
		t.Errorf("%d dead-letter records, want exactly %d", d, jobs)
	}
	t.Logf("%d calls in all; %s", sink.Count(), time.Since(start).Round(time.Millisecond))
}
