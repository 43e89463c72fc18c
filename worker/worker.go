package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/jetdispatch/dispatcher/schemas"
)

// ErrInvalidOption is wrapped by every error of New about its input.
var ErrInvalidOption = errors.New("worker: invalid option")

// maxDeliveries bounds how often one copy of a job may be delivered without
// reaching an outcome (e.g. a worker that dies on it every time) before it is
// dead-lettered as exhausted.
const maxDeliveries = 20

// Option sets runtime wiring of a Worker.
type Option func(*options) error

type options struct {
	log         *zap.Logger
	obs         Observer
	prefix      string
	serviceName string
	instance    string
	now         func() time.Time
	share       BreakerShare // nil: transitions stay here
}

// WithLogger sets the logger (default: no logs).
func WithLogger(l *zap.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		o.log = l
		return nil
	}
}

// WithObserver sets the Observer of the worker's events (default: none).
func WithObserver(obs Observer) Option {
	return func(o *options) error {
		if obs == nil {
			return fmt.Errorf("%w: nil observer", ErrInvalidOption)
		}
		o.obs = obs
		return nil
	}
}

// WithSubjectPrefix sets the subject prefix (default "dispatch").
func WithSubjectPrefix(p string) Option {
	return func(o *options) error {
		if p == "" {
			return fmt.Errorf("%w: empty subject prefix", ErrInvalidOption)
		}
		o.prefix = p
		return nil
	}
}

// WithIdentity sets the service name and instance written into records.
func WithIdentity(serviceName, instance string) Option {
	return func(o *options) error {
		o.serviceName, o.instance = serviceName, instance
		return nil
	}
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}

// Worker runs one target: a pool of Concurrency goroutines fed by the
// target's durable pull consumer.
type Worker struct {
	t        Target
	sec      Security
	js       jetstream.JetStream
	nc       *nats.Conn
	rec      Recorder
	o        options
	client   *http.Client
	breakers []*endpointBreaker
	secret   map[string]bool
	jobsSubj string
	ackWait  time.Duration
	// hostBlocked holds the SSRF refusal of each endpoint whose host the
	// guard refuses before DNS (nil map: guard off).
	hostBlocked map[string]error
	rawRedact   *rawRedactor
	signer      *Signer       // nil: calls are not signed
	budget      *retryBudget  // nil: no retry budget
	limiter     *rate.Limiter // nil: no rate limit

	// active is how many goroutines of the pool take jobs: Concurrency, or
	// this instance's fleet share of it (SetFleetSize); limitChanged is
	// closed and replaced when it changes, waking the parked goroutines.
	active       atomic.Int32
	limitChanged atomic.Pointer[chan struct{}]

	// lastEndpoint is the index of the endpoint the last call went to.
	lastEndpoint atomic.Int32
	// heldUntil is when the consumer's pause ends (Unix ns; when_open hold).
	heldUntil atomic.Int64
	// stream and consumer name the consumer Start was given (for a pause).
	stream, consumer string

	// lifecycle
	mu       sync.Mutex
	started  bool
	cons     jetstream.Consumer
	cc       jetstream.ConsumeContext
	batch    int           // PullMaxMessages of cc
	msgs     chan delivery // never closed: dispatch may still run after Stop gave up waiting for it
	stopping chan struct{}
	drained  chan struct{} // closed once no more messages will come: pool goroutines end
	hardCtx  context.Context
	hardStop context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	closed   chan struct{}
}

// New builds the worker of target t. It does not start consuming.
func New(t Target, sec Security, js jetstream.JetStream, rec Recorder, opts ...Option) (*Worker, error) {
	o := options{log: zap.NewNop(), obs: nopObserver{}, prefix: "dispatch", serviceName: "dispatcher", now: time.Now}
	if h, err := os.Hostname(); err == nil {
		o.instance = h + "/" + strconv.Itoa(os.Getpid())
	}
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
	w := &Worker{
		t: t, sec: sec, js: js, nc: js.Conn(), rec: rec, o: o,
		client:   newClient(t, sec),
		secret:   secretSet(t, sec),
		jobsSubj: o.prefix + ".jobs." + t.Name,
		closed:   make(chan struct{}),
	}
	if t.Signing != nil {
		s, err := NewSigner(t.Signing.Secrets...)
		if err != nil {
			return nil, fmt.Errorf("%w: target %s: signing: %w", ErrInvalidOption, t.Name, err)
		}
		w.signer = s
	}
	w.ackWait = AckWait(t)
	w.budget = newRetryBudget(t.Retry.BudgetRatio)
	if rl := t.RateLimit; rl != nil && rl.PerSecond > 0 {
		w.limiter = rate.NewLimiter(rateLimit(rl.PerSecond), burstOf(rl))
	}
	w.active.Store(int32(t.Concurrency))
	ch := make(chan struct{})
	w.limitChanged.Store(&ch)
	w.o.log = o.log.With(zap.String("target", t.Name), zap.String("service_name", o.serviceName))
	w.breakers = newBreakers(t, w.o.log, w.o.obs, w.o.share, w.o.now)
	w.rawRedact = newRawRedactor(w.secret, w.secretValues())
	if guarded(t, sec) {
		w.hostBlocked = map[string]error{}
		for _, ep := range t.Endpoints {
			if u, err := url.Parse(ep); err == nil {
				if err := CheckHost(u.Hostname()); err != nil {
					w.hostBlocked[ep] = err
				}
			}
		}
	}
	return w, nil
}

// Target returns the resolved settings the worker runs with.
func (w *Worker) Target() Target { return w.t }

// Start begins consuming from cons (the target's durable consumer) with
// Concurrency goroutines. It returns at once.
func (w *Worker) Start(cons jetstream.Consumer) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return fmt.Errorf("worker %s: already started", w.t.Name)
	}
	w.started = true
	if ci := cons.CachedInfo(); ci != nil {
		w.stream, w.consumer = ci.Stream, ci.Name
	}
	w.msgs = make(chan delivery)
	w.stopping = make(chan struct{})
	w.drained = make(chan struct{})
	w.hardCtx, w.hardStop = context.WithCancel(context.Background())
	for i := range w.t.Concurrency {
		w.wg.Add(1)
		go w.loop(int32(i))
	}
	w.cons, w.batch = cons, pullBatch(int(w.active.Load()))
	cc, err := w.consume(w.batch)
	if err != nil {
		close(w.drained)
		w.hardStop()
		w.wg.Wait()
		return fmt.Errorf("worker %s: consume: %w", w.t.Name, err)
	}
	w.cc = cc
	return nil
}

// consume starts consuming with batch messages pulled ahead.
func (w *Worker) consume(batch int) (jetstream.ConsumeContext, error) {
	return w.cons.Consume(w.dispatch,
		jetstream.PullMaxMessages(batch),
		// A short expiry keeps heartbeats at 2.5s: a pull request the client
		// lost track of is noticed and renewed within 5s (the 30s default
		// was seen to stall a target for 30s under load).
		jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			w.o.log.Warn("consume", zap.Error(err))
		}))
}

// repull resizes the pull-ahead buffer to batch when the active pool size
// changed (a fleet share): a buffer sized for the whole pool would hold jobs
// longer than AckWait allows behind a smaller one. A new Consume starts, then
// the old one drains: its buffered jobs still reach dispatch. On failure the
// old one keeps going.
func (w *Worker) repull(batch int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || w.cc == nil || w.batch == batch {
		return
	}
	select {
	case <-w.stopping:
		return
	default:
	}
	cc, err := w.consume(batch)
	if err != nil {
		w.o.log.Warn("resize pull buffer", zap.Int("batch", batch), zap.Error(err))
		return
	}
	old := w.cc
	w.cc, w.batch = cc, batch
	old.Drain()
}

// dispatch is the Consume callback: it runs serially and hands each message
// to a free goroutine of the pool, blocking while all are busy.
func (w *Worker) dispatch(m jetstream.Msg) {
	select {
	case <-w.stopping:
		w.handBack(m)
		return
	default:
	}
	select {
	case w.msgs <- delivery{m: m, at: time.Now()}:
	case <-w.stopping:
		w.handBack(m)
	}
}

// delivery is a message handed to the pool with the time it reached us.
type delivery struct {
	m  jetstream.Msg
	at time.Time
}

// ack acks m, the delivery of job jobID, once its outcome is settled; a
// failure only logs (JetStream redelivers the job after AckWait).
func (w *Worker) ack(m jetstream.Msg, jobID string) {
	if err := m.Ack(); err != nil {
		w.o.log.Warn("ack", zap.String("job_id", jobID), zap.Error(err))
	}
}

// handBack returns a message that will not be processed here for prompt
// redelivery (shutdown only: retries never use an immediate Nak).
func (w *Worker) handBack(m jetstream.Msg) {
	if err := m.Nak(); err != nil {
		w.o.log.Warn("hand back", zap.Error(err))
	}
}

// loop is goroutine i of the pool. While i is not below the active count
// (a fleet share smaller than Concurrency) it parks until that changes.
func (w *Worker) loop(i int32) {
	defer w.wg.Done()
	for {
		// Load the channel first: a change after it closes this one.
		ch := w.limitChanged.Load()
		if i >= w.active.Load() {
			select {
			case <-*ch:
			case <-w.drained:
				return
			}
			continue
		}
		select {
		case <-*ch:
			continue // the share changed: check it again
		case d := <-w.msgs:
			if time.Since(d.at) > w.ackWait/3 {
				// It waited behind a full pool long enough for its AckWait to
				// matter: restart the clock before the call.
				_ = d.m.InProgress()
			}
			w.handle(d.m)
		case <-w.drained:
			return
		}
	}
}

// Stop stops fetching, lets in-flight calls finish until ctx is done, then
// cancels what is left and hands it back for redelivery. It returns when every
// goroutine of the worker has ended.
func (w *Worker) Stop(ctx context.Context) {
	w.stopOnce.Do(func() {
		defer close(w.closed)
		w.mu.Lock()
		if !w.started {
			w.mu.Unlock()
			return
		}
		close(w.stopping) // under mu: repull starts no Consume after this
		cc := w.cc
		w.mu.Unlock()
		if cc != nil {
			cc.Drain() // buffered messages reach dispatch, which hands them back
			select {
			case <-cc.Closed():
			case <-ctx.Done():
				cc.Stop()
			case <-time.After(5 * time.Second):
				cc.Stop()
			}
		}
		close(w.drained)
		done := make(chan struct{})
		go func() { w.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			w.o.log.Warn("shutdown timeout: cancelling in-flight calls")
			w.hardStop()
			<-done
		}
		w.hardStop()
		w.client.CloseIdleConnections()
	})
}

// Closed is closed once Stop has finished.
func (w *Worker) Closed() <-chan struct{} { return w.closed }

// job is one delivery being handled.
type job struct {
	m     jetstream.Msg
	meta  *jetstream.MsgMetadata
	seq   string
	job   *schemas.Job
	state retryState
	tp    string // traceparent sent with the call; the trace id is state.traceID
	host  string // upstream host of the last attempt
	start time.Time
}

func (w *Worker) handle(m jetstream.Msg) {
	j := &job{m: m, start: w.o.now()}
	meta, err := m.Metadata()
	if err != nil {
		w.o.log.Error("message without JetStream metadata", zap.Error(err))
		_ = m.Term()
		return
	}
	j.meta = meta
	j.seq = strconv.FormatUint(meta.Sequence.Stream, 10)
	j.state = readState(m.Headers())
	data := m.Data()

	if len(data) > w.sec.MaxJobBytes {
		w.invalid(j, data, fmt.Sprintf("job is %d bytes, over security.max_job_bytes %d", len(data), w.sec.MaxJobBytes))
		return
	}
	jb, err := schemas.DecodeJob(data)
	if err != nil {
		w.invalid(j, data, err.Error())
		return
	}
	j.job = jb
	if jb.Target != "" && jb.Target != w.t.Name {
		w.invalid(j, data, fmt.Sprintf("invalid job: field \"target\": %q does not match the subject's target %q", jb.Target, w.t.Name))
		return
	}
	j.state.traceID, j.tp = jobTrace(j.state.traceID, jb.TraceID, m.Headers().Get("Traceparent"))

	now := w.o.now()
	if jb.NotAfter != nil && now.After(*jb.NotAfter) {
		w.deadLetter(j, schemas.ReasonExpired, ClassExpired, "not_after "+jb.NotAfter.UTC().Format(time.RFC3339)+" has passed", lastStatus(j.state))
		return
	}
	if meta.NumDelivered > 1 && w.retryPending(j) {
		// An earlier delivery stored this job's retry and died before its
		// ack: the scheduled copy carries the job on; calling again now
		// would make a duplicate call.
		w.o.log.Info("retry already scheduled; redelivered copy acked", zap.String("job_id", jb.ID), zap.Uint64("stream_seq", meta.Sequence.Stream))
		w.ack(m, jb.ID)
		return
	}
	if meta.NumDelivered > maxDeliveries {
		w.deadLetter(j, schemas.ReasonExhausted, lastClass(j.state), fmt.Sprintf("delivered %d times without an outcome", meta.NumDelivered), lastStatus(j.state))
		return
	}

	if j.state.attempts > 0 {
		if ok, next := w.budget.allowRetry(w.o.now()); !ok {
			// Spread the postponed retries over the next bucket.
			w.postpone(j, next.Add(rand.N(budgetBucket)))
			return
		}
	}
	if !w.waitRate(j) {
		return
	}
	b, idx, done := pickEndpoint(w.breakers)
	if b == nil {
		w.circuitOpen(j)
		return
	}
	w.noteEndpoint(idx)
	w.budget.call(w.o.now())
	total := w.t.Timeouts.Total
	if jb.TimeoutMS > 0 {
		total = min(total, time.Duration(jb.TimeoutMS)*time.Millisecond)
	}
	attempt := j.state.attempts + 1
	at := w.o.now()
	w.o.obs.AttemptStarted(w.t.Name, b.endpoint)
	res := w.do(w.hardCtx, b.endpoint, jb, attempt, j.tp, total)
	w.o.obs.AttemptDone(w.t.Name, b.endpoint, res.status, res.class, res.duration)
	if res.canceled {
		done(errBreakerExcluded)
		w.o.log.Info("call cut by shutdown; handed back", zap.String("job_id", jb.ID), zap.Int("attempt", attempt))
		w.handBack(m)
		return
	}
	switch {
	case res.ok():
		done(nil)
	case res.class == ClassSSRFBlocked || res.class == ClassHTTP4xx || res.class == ClassInvalidJob:
		done(errBreakerExcluded)
	default:
		done(errBreakerFailure)
	}
	j.state.record(schemas.Attempt{
		Attempt: attempt, At: at.UTC(), Endpoint: b.endpoint, Status: res.status,
		ErrorClass: res.class, Error: res.errText, DurationMS: ms(res.duration),
	})
	j.host = b.host
	w.logAttempt(j, attempt, res)

	if res.ok() {
		w.o.obs.JobEnded(w.t.Name, schemas.OutcomeDelivered, "")
		w.publishResult(jb.ReplyTo, &schemas.Result{
			JobID: jb.ID, Target: w.t.Name, Outcome: schemas.OutcomeDelivered, Status: res.status,
			Attempts: attempt, DurationMS: ms(w.o.now().Sub(j.firstOrStart())), Body: string(res.body),
			TraceID: j.state.traceID, Meta: jb.Meta,
		})
		w.ack(m, jb.ID)
		return
	}
	w.afterFailure(j, res, attempt)
}

// afterFailure decides between a retry and a dead letter.
func (w *Worker) afterFailure(j *job, res *callResult, attempt int) {
	jb := j.job
	retryable := retryableClass(res.class)
	if res.err == nil {
		retryable = slices.Contains(w.t.Retry.RetryOnStatus, res.status)
	}
	if !retryable {
		w.deadLetter(j, schemas.ReasonNonRetryable, res.class, res.errText, res.status)
		return
	}
	maxAttempts := w.t.Retry.MaxAttempts
	if jb.MaxAttempts > 0 {
		maxAttempts = min(maxAttempts, jb.MaxAttempts)
	}
	if attempt >= maxAttempts {
		w.deadLetter(j, schemas.ReasonExhausted, res.class, res.errText, res.status)
		return
	}
	delay := retryDelay(w.t.Retry, attempt, res.retryAfter)
	now := w.o.now()
	next := now.Add(delay)
	if next.Sub(j.state.first) > w.t.Retry.MaxElapsed {
		w.deadLetter(j, schemas.ReasonExhausted, res.class, res.errText+" (retry.max_elapsed reached)", res.status)
		return
	}
	if jb.NotAfter != nil && next.After(*jb.NotAfter) {
		w.deadLetter(j, schemas.ReasonExpired, res.class, res.errText+" (next attempt would be after not_after)", res.status)
		return
	}
	if err := w.schedule(j, next); err != nil {
		// Not stored: leave the message un-acked so JetStream redelivers it
		// after AckWait; nothing is lost.
		w.o.log.Error("schedule retry failed; job will be redelivered", zap.String("job_id", jb.ID), zap.Error(err))
		return
	}
	w.o.obs.RetryScheduled(w.t.Name, res.class, delay)
	w.o.log.Info("retry scheduled",
		zap.String("job_id", jb.ID), zap.String("trace_id", j.state.traceID), zap.String("upstream_host", j.host),
		zap.Int("attempt", attempt), zap.String("error_class", res.class), zap.Int("status", res.status),
		zap.Duration("duration", res.duration), zap.Duration("retry_delay", delay), zap.Time("next_attempt_at", next))
	w.ack(j.m, jb.ID)
}

// schedule stores the job's next delivery as a JetStream scheduled message on
// <p>.retry.<target>.<seq> that fires onto <p>.jobs.<target> at next.
func (w *Worker) schedule(j *job, next time.Time) error {
	m := nats.NewMsg(w.retrySubject(j.seq))
	for k, vs := range j.m.Headers() {
		// NATS's own headers stay behind, and so do ours (the retry state,
		// which write sets afresh), except the replay mark.
		if strings.HasPrefix(k, "Nats-") || (strings.HasPrefix(k, "Dispa") && k != HeaderReplayOf) {
			continue
		}
		m.Header[k] = vs
	}
	j.state.write(m.Header)
	m.Header.Set("Nats-Schedule", "@at "+next.UTC().Format(time.RFC3339Nano))
	m.Header.Set("Nats-Schedule-Target", w.jobsSubj)
	m.Header.Set(jetstream.MsgIDHeader, "retry:"+w.t.Name+":"+j.seq)
	m.Data = j.m.Data()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := w.js.PublishMsg(ctx, m)
	return err
}

// retrySubject is where the retry of the delivery with stream sequence seq is
// scheduled.
func (w *Worker) retrySubject(seq string) string {
	return w.o.prefix + ".retry." + w.t.Name + "." + seq
}

// retryPending reports whether a retry of this delivery is already stored.
// Errors count as "no": the worst case is one duplicate call.
func (w *Worker) retryPending(j *job) bool {
	ctx, cancel := context.WithTimeout(w.hardCtx, 5*time.Second)
	defer cancel()
	st, err := w.js.Stream(ctx, j.meta.Stream)
	if err != nil {
		return false
	}
	_, err = st.GetLastMsgForSubject(ctx, w.retrySubject(j.seq))
	return err == nil
}

// recordTimeout bounds how long storing a record may keep trying: half of
// AckWait, so a refused record (a full dead-letter stream, say) leaves the
// job to JetStream's redelivery instead of racing a second copy of it.
func (w *Worker) recordTimeout() time.Duration { return max(w.ackWait/2, 5*time.Second) }

func (w *Worker) storeDeadLetter(rec *schemas.DeadLetter, msgID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.recordTimeout())
	defer cancel()
	return w.rec.DeadLetter(ctx, rec, msgID)
}

func (w *Worker) storeFallback(rec *schemas.Fallback, msgID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.recordTimeout())
	defer cancel()
	return w.rec.Fallback(ctx, rec, msgID)
}

// invalid dead-letters a payload that is not a valid job for this target.
func (w *Worker) invalid(j *job, data []byte, why string) {
	rec := &schemas.DeadLetter{
		Target: w.t.Name, Reason: schemas.ReasonInvalid, ErrorClass: ClassInvalidJob, Error: why,
		Attempts: j.state.attempts, History: j.state.history, DeadAt: w.o.now().UTC(),
		ServiceName: w.o.serviceName, Instance: w.o.instance, TraceID: j.state.traceID,
	}
	var loose struct {
		ID      any             `json:"id"`
		ReplyTo any             `json:"reply_to"`
		Meta    json.RawMessage `json:"meta"`
	}
	jobID, replyTo := "", ""
	if obj := redactObject(data, w.secret); obj != nil {
		rec.Job = obj
		if json.Unmarshal(data, &loose) == nil {
			jobID, _ = loose.ID.(string)
			replyTo, _ = loose.ReplyTo.(string)
			if !validSubject(replyTo) {
				replyTo = ""
			}
		}
	} else {
		rec.Raw = w.rawRedact.redact(data)
	}
	w.o.log.Warn("invalid job dead-lettered", zap.String("job_id", jobID), zap.String("reason", why), zap.Uint64("stream_seq", j.meta.Sequence.Stream))
	if err := w.storeDeadLetter(rec, "dlq:"+w.t.Name+":"+j.seq); err != nil {
		w.o.log.Error("dead letter not stored; job will be redelivered", zap.String("job_id", jobID), zap.Error(err))
		return
	}
	w.o.obs.JobEnded(w.t.Name, schemas.OutcomeDeadLettered, schemas.ReasonInvalid)
	// The publisher learns of its mistake when it left a usable reply_to.
	w.publishResult(replyTo, &schemas.Result{
		JobID: jobID, Target: w.t.Name, Outcome: schemas.OutcomeDeadLettered, Attempts: j.state.attempts,
		ErrorClass: ClassInvalidJob, Error: why, TraceID: rec.TraceID, Meta: validMeta(loose.Meta),
	})
	w.ack(j.m, jobID)
}

// validMeta returns meta when it is JSON (it is copied into a result as is).
func validMeta(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || !json.Valid(m) {
		return nil
	}
	return m
}

// validSubject reports whether s can be published to: non-empty tokens, no
// wildcards, no white space, at most 255 bytes.
func validSubject(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
	}
	return true
}

// deadLetter stores the job's dead letter, tells reply_to, then acks.
func (w *Worker) deadLetter(j *job, reason, class, errText string, status int) {
	jb := j.job
	rec := &schemas.DeadLetter{
		Job: redactJob(jb, w.secret), Target: w.t.Name, Reason: reason, ErrorClass: class, Error: errText,
		LastStatus: status, Attempts: j.state.attempts, History: j.state.history, DeadAt: w.o.now().UTC(),
		TraceID: j.state.traceID, ServiceName: w.o.serviceName, Instance: w.o.instance, Meta: jb.Meta,
	}
	if !j.state.first.IsZero() {
		f := j.state.first.UTC()
		rec.FirstAttemptAt = &f
	}
	if err := w.storeDeadLetter(rec, "dlq:"+w.t.Name+":"+j.seq); err != nil {
		w.o.log.Error("dead letter not stored; job will be redelivered", zap.String("job_id", jb.ID), zap.Error(err))
		return
	}
	w.o.obs.JobEnded(w.t.Name, schemas.OutcomeDeadLettered, reason)
	w.o.log.Warn("job dead-lettered",
		zap.String("job_id", jb.ID), zap.String("trace_id", j.state.traceID), zap.String("reason", reason),
		zap.String("error_class", class), zap.Int("status", status), zap.Int("attempt", j.state.attempts))
	w.publishResult(jb.ReplyTo, &schemas.Result{
		JobID: jb.ID, Target: w.t.Name, Outcome: schemas.OutcomeDeadLettered, Status: status,
		Attempts: j.state.attempts, DurationMS: ms(w.o.now().Sub(j.firstOrStart())),
		ErrorClass: class, Error: errText, TraceID: j.state.traceID, Meta: jb.Meta,
	})
	w.ack(j.m, jb.ID)
}

// circuitOpen handles a job that finds every endpoint's breaker open.
func (w *Worker) circuitOpen(j *job) {
	jb := j.job
	primary := w.breakers[0]
	if w.t.Breaker.WhenOpen == WhenOpenHold {
		// Hold: the consumer pauses until the breaker may probe again, so
		// jobs wait in the stream; this one, already here, is scheduled back
		// for then. Not an attempt.
		var until time.Time
		if anyHalfOpen(w.breakers) {
			// A probe is under way: not open, only busy; try again soon.
			until = w.o.now().Add(250 * time.Millisecond)
		} else {
			until = w.hold(holdFor(w.breakers, w.o.now()))
		}
		if err := w.schedule(j, until); err != nil {
			w.o.log.Error("hold failed; job will be redelivered", zap.String("job_id", jb.ID), zap.Error(err))
			return
		}
		_ = j.m.Ack()
		return
	}
	rec := &schemas.Fallback{
		Job: redactJob(jb, w.secret), Target: w.t.Name, Reason: schemas.ReasonCircuitOpen,
		Endpoint: primary.endpoint, BreakerState: primary.stateName(w.o.now()),
		Attempts: j.state.attempts, At: w.o.now().UTC(), TraceID: j.state.traceID,
		ServiceName: w.o.serviceName, Instance: w.o.instance, Meta: jb.Meta,
	}
	if err := w.storeFallback(rec, "fb:"+w.t.Name+":"+j.seq); err != nil {
		w.o.log.Error("fallback not stored; job will be redelivered", zap.String("job_id", jb.ID), zap.Error(err))
		return
	}
	w.o.obs.JobEnded(w.t.Name, schemas.OutcomeFallback, schemas.ReasonCircuitOpen)
	w.o.log.Info("job to fallback", zap.String("job_id", jb.ID), zap.String("trace_id", j.state.traceID),
		zap.String("error_class", ClassCircuitOpen), zap.String("breaker_state", rec.BreakerState))
	fb := &schemas.FallbackResponse{Status: http.StatusServiceUnavailable}
	if w.t.Fallback != nil {
		fb = &schemas.FallbackResponse{Status: w.t.Fallback.Status, Body: w.t.Fallback.Body}
	}
	w.publishResult(jb.ReplyTo, &schemas.Result{
		JobID: jb.ID, Target: w.t.Name, Outcome: schemas.OutcomeFallback, Status: 0,
		Attempts: j.state.attempts, DurationMS: ms(w.o.now().Sub(j.firstOrStart())),
		ErrorClass: ClassCircuitOpen, Error: "circuit breaker " + rec.BreakerState, Fallback: fb,
		TraceID: j.state.traceID, Meta: jb.Meta,
	})
	w.ack(j.m, jb.ID)
}

// publishResult sends a result to replyTo (core NATS, best effort; nothing
// when replyTo is empty).
func (w *Worker) publishResult(replyTo string, r *schemas.Result) {
	if replyTo == "" {
		return
	}
	b, err := json.Marshal(r)
	if err != nil {
		w.o.log.Error("encode result", zap.String("job_id", r.JobID), zap.Error(err))
		return
	}
	if err := w.nc.Publish(replyTo, b); err != nil {
		w.o.log.Warn("publish result", zap.String("job_id", r.JobID), zap.Error(err))
	}
}

func (w *Worker) logAttempt(j *job, attempt int, res *callResult) {
	lvl := zap.DebugLevel
	if !res.ok() {
		lvl = zap.WarnLevel
	}
	ce := w.o.log.Check(lvl, "attempt")
	if ce == nil {
		return
	}
	ce.Write(
		zap.String("job_id", j.job.ID), zap.String("trace_id", j.state.traceID), zap.String("upstream_host", j.host),
		zap.Int("attempt", attempt), zap.Int("status", res.status), zap.String("error_class", res.class),
		zap.String("error", res.errText), zap.Duration("duration", res.duration),
	)
}

func (j *job) firstOrStart() time.Time {
	if !j.state.first.IsZero() {
		return j.state.first
	}
	return j.start
}

func lastStatus(s retryState) int {
	if n := len(s.history); n > 0 {
		return s.history[n-1].Status
	}
	return 0
}

func lastClass(s retryState) string {
	if n := len(s.history); n > 0 && s.history[n-1].ErrorClass != "" {
		return s.history[n-1].ErrorClass
	}
	return ClassTimeoutTotal
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pullBatch is how many messages the client keeps requested ahead of the
// pool: four per worker. Measured in the drain benchmark (64 workers): one
// per worker stalled the consumer now and then until the missing-heartbeat
// check renewed its pull; two per worker ran at 0.98-1.02x the naive
// consumer's jobs/s, four at 1.07x with 5% less CPU per job. AckWait is sized
// for the wait this buffer can add.
func pullBatch(concurrency int) int { return max(4*concurrency, 16) }

// AckWait is the consumer AckWait for target t. A message may wait in the
// client buffer (pullBatch: four per worker) behind about four rounds of
// calls, each at most one total timeout, before a worker takes it; a worker
// that takes a message which waited over a third of AckWait restarts its
// clock with InProgress, and its own call then fits easily.
func AckWait(t Target) time.Duration {
	return 4*t.withDefaults().Timeouts.Total + 10*time.Second
}

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
