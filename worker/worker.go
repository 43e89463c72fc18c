package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Worker runs one target: its lane (lane.go), fed by the partitions'
// intakes (intake.go), runs the pipeline of handle.go on each delivery in
// at most Concurrency slots.
type Worker struct {
	t      Target
	sec    Security
	js     jetstream.JetStream
	nc     *nats.Conn
	rec    Recorder
	o      options
	client *http.Client
	// releaseClient gives back the shared transport (transports.go).
	releaseClient func()
	breakers      []*endpointBreaker
	secret        map[string]bool
	dueSubj       string // where the target's scheduled copies fire
	// markTTL is the Nats-TTL of the worker's settle markers (markerTTL).
	markTTL string
	// hostBlocked holds the SSRF refusal of each endpoint whose host the
	// guard refuses before DNS.
	hostBlocked map[string]error
	rawRedact   *rawRedactor
	replyTo     *ReplyPolicy
	signer      *Signer       // nil: calls are not signed
	budget      *retryBudget  // nil: no retry budget
	limiter     *rate.Limiter // nil: no rate limit

	// lane holds the deliveries and runs the pipeline in at most
	// Concurrency slots (or this instance's fleet quota of it).
	lane *lane

	// wake is closed and replaced at every breaker transition (wait.go).
	wake atomic.Pointer[chan struct{}]

	// lastEndpoint is the index of the endpoint the last call went to.
	lastEndpoint atomic.Int32
	// heldUntil is when the hold ends (Unix ns; when_open hold).
	heldUntil atomic.Int64
	// counts are what Stats reports (stats.go).
	counts counters
	// sched is a handle on the scheduling stream (settle markers).
	streamsMu sync.Mutex
	sched     jetstream.Stream

	// lifecycle (pool.go)
	stopping chan struct{}
	hardCtx  context.Context
	hardStop context.CancelFunc
	stopOnce sync.Once
	closed   chan struct{}
}

// New builds the worker of target t. It does not start consuming.
func New(t Target, sec Security, js jetstream.JetStream, rec Recorder, opts ...Option) (*Worker, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if t.Name == "" {
		return nil, fmt.Errorf("%w: target without a name", ErrInvalidOption)
	}
	if len(t.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: target %s has no endpoints", ErrInvalidOption, t.Name)
	}
	if js == nil || rec == nil {
		return nil, fmt.Errorf("%w: JetStream and Recorder are required", ErrInvalidOption)
	}
	t = t.withDefaults()
	sec = sec.withDefaults()
	sec.MaxJobBytes = clampJobBytes(sec.MaxJobBytes, js.Conn(), o.log)
	w := &Worker{
		t: t, sec: sec, js: js, nc: js.Conn(), rec: rec, o: o,
		secret:   secretSet(t, sec),
		dueSubj:  o.topo.DueSubject(t.Name),
		closed:   make(chan struct{}),
		stopping: make(chan struct{}),
	}
	w.o.obs = countingObserver{Observer: o.obs, c: &w.counts}
	if t.Signing != nil {
		s, err := NewSigner(t.Signing.Secrets...)
		if err != nil {
			return nil, fmt.Errorf("%w: target %s: signing: %w", ErrInvalidOption, t.Name, err)
		}
		w.signer = s
	}
	// A delivery from a target's legacy consumer may be redelivered as late
	// as its AckWait: its marker must outlive that.
	w.markTTL = markerTTL(max(AckWait, LegacyAckWait(t))).String()
	w.budget = newRetryBudget(t.Retry, t.Timeouts.Total)
	if rl := t.RateLimit; rl != nil && rl.PerSecond > 0 {
		w.limiter = rate.NewLimiter(rateLimit(rl.PerSecond), burstOf(rl))
	}
	w.lane = newLane(t.Concurrency, t.Timeouts.Total, o.now, w.handle)
	w.lane.onResume = w.resumed
	w.hardCtx, w.hardStop = context.WithCancel(context.Background())
	w.o.log = o.log.With(zap.String("target", t.Name), zap.String("service_name", o.serviceName))
	wake := make(chan struct{})
	w.wake.Store(&wake)
	w.breakers = newBreakers(t, w.o.log, w.o.obs, w.o.share, w.o.now, w.breakersChanged)
	w.rawRedact = newRawRedactor(w.secret, w.secretValues())
	w.replyTo = NewReplyPolicy(o.topo.Prefix, sec.ReplyToAllow)
	policy := NetPolicyOf(t, sec)
	w.hostBlocked = map[string]error{}
	for _, ep := range t.Endpoints {
		if u, err := url.Parse(ep); err == nil {
			if err := policy.CheckHost(u.Hostname()); err != nil {
				w.hostBlocked[ep] = err
			}
		}
	}
	// Last: nothing after it fails, and Stop releases it.
	w.client, w.releaseClient = acquireClient(t, policy)
	return w, nil
}

// clampsLogged holds the clamps of security.max_job_bytes already logged:
// each is logged once per process, not once per worker.
var clampsLogged sync.Map

// clampJobBytes is security.max_job_bytes as the connection allows it
// (schemas.MaxJobBytes): a job bigger than the max payload less room for
// headers could be neither copied for a retry nor recorded whole.
func clampJobBytes(configured int, nc *nats.Conn, log *zap.Logger) int {
	if nc == nil {
		return configured
	}
	maxPayload := nc.MaxPayload()
	n := schemas.MaxJobBytes(configured, maxPayload)
	if _, seen := clampsLogged.LoadOrStore([2]int{configured, n}, true); n < configured && !seen {
		log.Info("security.max_job_bytes clamped to the NATS max payload less room for headers",
			zap.Int("max_job_bytes", configured), zap.Int("clamped_to", n), zap.Int64("max_payload", maxPayload))
	}
	return n
}

// Target returns the resolved settings the worker runs with.
func (w *Worker) Target() Target { return w.t }

// secretValues are the values of the target's configured headers: masked
// wherever they appear in bytes kept raw.
func (w *Worker) secretValues() []string {
	out := make([]string, 0, len(w.t.Headers))
	for _, v := range w.t.Headers {
		out = append(out, v)
		if _, after, ok := strings.Cut(v, " "); ok { // "Bearer <token>": the token alone too
			out = append(out, after)
		}
	}
	return out
}
