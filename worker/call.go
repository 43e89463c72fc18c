package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// dialResolver resolves the endpoints' names for every target's dialer; nil
// means net.DefaultResolver. Only tests set it (ssrf_dns_test.go points it at
// a DNS responder on 127.0.0.1), so that the real dial path (this resolver,
// then the Control hook on each resolved address) runs on names they control.
var dialResolver *net.Resolver

// callResult is what one attempt produced.
type callResult struct {
	status     int
	body       []byte
	err        error  // transport error; nil when a response came
	class      string // "" on 2xx
	errText    string
	retryAfter time.Duration // from a Retry-After header, 0 when absent
	duration   time.Duration
	canceled   bool // cut by shutdown: not an attempt
	// sent reports that the request may have reached the target: its
	// headers were written (a response, a reset or a timeout after that),
	// as opposed to a failure to resolve, connect or handshake.
	sent bool
	// bodyCut reports a response body longer than max_response_bytes or
	// not readable to its end: body holds what was read.
	bodyCut bool
}

// ok reports a 2xx answer.
func (r *callResult) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// buildRequest turns a job into the HTTP request for endpoint. A non-nil
// signer signs the exact body bytes sent, with timestamp now. userAgent is
// sent unless the job sets its own.
func buildRequest(ctx context.Context, t *Target, endpoint string, job *schemas.Job, traceparent, userAgent string, signer *Signer, now time.Time) (*http.Request, error) {
	body, err := job.BodyBytes()
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	target := strings.TrimSuffix(endpoint, "/") + job.EffectivePath()
	req, err := http.NewRequestWithContext(ctx, job.EffectiveMethod(), target, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	h := req.Header
	for k, v := range job.Headers {
		h.Set(k, v)
	}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	if body != nil && h.Get("Content-Type") == "" {
		if job.HasJSONBody() {
			h.Set("Content-Type", "application/json")
		} else {
			h.Set("Content-Type", "application/octet-stream")
		}
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", userAgent)
	}
	h.Set("Idempotency-Key", job.ID)
	if traceparent != "" {
		h.Set("Traceparent", traceparent)
	}
	if signer != nil {
		signer.Apply(h, job.ID, now, body)
	}
	return req, nil
}

// do makes one attempt. hardCtx is canceled only when shutdown gives up on
// in-flight calls; total bounds the whole call, headers and body included.
// The attempt's span (tracing.go) is the parent sent to the target.
func (w *Worker) do(hardCtx context.Context, endpoint string, job *schemas.Job, attempt int, traceparent string, total time.Duration) *callResult {
	start := w.o.now()
	ctx, cancel := context.WithTimeout(hardCtx, total)
	defer cancel()
	ctx, span, traceparent := startAttemptSpan(ctx, &w.t, job, attempt, traceparent)
	res := &callResult{}
	defer endAttemptSpan(span, res)
	if err := w.hostBlocked[endpoint]; err != nil {
		// The endpoint's host is a forbidden address in some spelling, or a
		// localhost name: refused before any DNS lookup or dial.
		res.err, res.class, res.errText = err, schemas.ClassSSRFBlocked, err.Error()
		return res
	}
	req, err := buildRequest(ctx, &w.t, endpoint, job, traceparent, w.o.userAgent, w.signer, w.o.now())
	if err != nil {
		res.err, res.class, res.errText = err, schemas.ClassInvalidJob, errorText(err)
		return res
	}
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	}))
	resp, err := w.client.Do(req)
	res.sent = wrote.Load() || err == nil
	if err == nil {
		res.status = resp.StatusCode
		res.body, res.bodyCut = readBody(resp.Body, w.sec.MaxResponseBytes)
		resp.Body.Close()
	}
	res.duration = w.o.now().Sub(start)
	if err != nil {
		// No response.
		res.canceled = hardCtx.Err() != nil
		res.err = err
		res.class = classifyError(ctx, err)
		res.errText = errorText(err)
		return res
	}
	if !res.ok() {
		res.class = classifyStatus(res.status)
		res.errText = strconv.Itoa(res.status) + " " + http.StatusText(res.status)
		if res.status >= 300 && res.status < 400 {
			res.errText += " (redirects are not followed)"
		}
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), w.o.now())
	}
	return res
}

// readBody reads at most max bytes of a response body. cut reports that the
// body was longer, or could not be read to its end (the status is what
// counts: a 2xx with an unreadable body is still a success, its body cut).
func readBody(body io.Reader, max int) (b []byte, cut bool) {
	b, err := io.ReadAll(io.LimitReader(body, int64(max)+1))
	if len(b) > max {
		return b[:max], true
	}
	return b, err != nil
}

// errorText is a short, secret-free description of a failed call: the
// url.Error in it (which repeats the URL, its query and user name included)
// is replaced by the error it wraps; the wrappers around it are kept.
func errorText(err error) string {
	msg := err.Error()
	var uerr *url.Error
	if errors.As(err, &uerr) {
		msg = strings.Replace(msg, uerr.Error(), uerr.Err.Error(), 1)
	}
	if len(msg) > 512 {
		msg = msg[:512]
	}
	return msg
}

// maxRetryAfterHeader bounds what a Retry-After header can ask for before
// max_retry_after caps it further (found by FuzzParseRetryAfter: a date in
// 2100 asked for 74 years).
const maxRetryAfterHeader = 365 * 24 * time.Hour

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(maxRetryAfterHeader/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return min(d, maxRetryAfterHeader)
		}
	}
	return 0
}
