package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

func TestClassifyStatus(t *testing.T) {
	cases := []struct {
		status int
		want   string
	}{
		{500, schemas.ClassHTTP5xx}, {503, schemas.ClassHTTP5xx}, {599, schemas.ClassHTTP5xx},
		{429, schemas.ClassHTTP429}, {400, schemas.ClassHTTP4xx}, {404, schemas.ClassHTTP4xx}, {422, schemas.ClassHTTP4xx},
		{302, schemas.ClassHTTP4xx}, {101, schemas.ClassHTTP4xx},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			if got := classifyStatus(c.status); got != c.want {
				t.Fatalf("classifyStatus(%d) = %s, want %s", c.status, got, c.want)
			}
		})
	}
}

// TestClassifyError classifies errors produced by real calls on loopback
// where that can be done, and by constructed errors otherwise (DNS).
func TestClassifyError(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST instead of FIN
			}
			conn.Close()
		}
	}))
	defer reset.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tlsSrv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	call := func(url string, tr *http.Transport, total time.Duration) (context.Context, error) {
		ctx, cancel := context.WithTimeout(context.Background(), total)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s succeeded, want an error", url)
		}
		return ctx, err
	}
	cases := []struct {
		name string
		run  func() (context.Context, error)
		want string
	}{
		{"connection refused", func() (context.Context, error) {
			return call(closed, &http.Transport{}, 5*time.Second)
		}, schemas.ClassConnectionRefused},
		{"response header timeout", func() (context.Context, error) {
			return call(slow.URL, &http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}, 5*time.Second)
		}, schemas.ClassTimeoutResponseHeader},
		{"total timeout", func() (context.Context, error) {
			return call(slow.URL, &http.Transport{}, 50*time.Millisecond)
		}, schemas.ClassTimeoutTotal},
		{"connection reset", func() (context.Context, error) {
			return call(reset.URL, &http.Transport{}, 5*time.Second)
		}, schemas.ClassConnectionReset},
		{"untrusted certificate", func() (context.Context, error) {
			return call(tlsSrv.URL, &http.Transport{}, 5*time.Second)
		}, schemas.ClassTLS},
		{"ssrf block", func() (context.Context, error) {
			d := &net.Dialer{Control: ssrfControl}
			return call(slow.URL, &http.Transport{DialContext: d.DialContext}, 5*time.Second)
		}, schemas.ClassSSRFBlocked},
		{"dns failure", func() (context.Context, error) {
			return context.Background(), &url.Error{Op: "Get", URL: "http://x.invalid", Err: &net.OpError{Op: "dial", Net: "tcp",
				Err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}}
		}, schemas.ClassDNS},
		{"dial timeout", func() (context.Context, error) {
			return context.Background(), &url.Error{Op: "Get", URL: "http://h", Err: &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}}
		}, schemas.ClassTimeoutConnect},
		{"tls handshake timeout", func() (context.Context, error) {
			return context.Background(), &url.Error{Op: "Get", URL: "https://h", Err: errors.New("net/http: TLS handshake timeout")}
		}, schemas.ClassTimeoutTLS},
		{"refused by syscall", func() (context.Context, error) {
			return context.Background(), &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}, schemas.ClassConnectionRefused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, err := c.run()
			if got := classifyError(ctx, err); got != c.want {
				t.Fatalf("classifyError(%v) = %s, want %s", err, got, c.want)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRetryableClass(t *testing.T) {
	for _, c := range []string{schemas.ClassTimeoutConnect, schemas.ClassTimeoutTLS, schemas.ClassTimeoutResponseHeader, schemas.ClassTimeoutTotal, schemas.ClassDNS, schemas.ClassConnectionRefused, schemas.ClassConnectionReset} {
		if !retryableClass(c) {
			t.Errorf("%s should be retryable", c)
		}
	}
	for _, c := range []string{schemas.ClassTLS, schemas.ClassSSRFBlocked, schemas.ClassHTTP4xx, schemas.ClassInvalidJob, schemas.ClassResponseTooLarge} {
		if retryableClass(c) {
			t.Errorf("%s should not be retryable", c)
		}
	}
}

// TestClassifyRealDialTimeout classifies the error a real dial cut by the
// dialer's timeout returns (it also matches context.DeadlineExceeded):
// timeout_connect, while the call's own deadline has not passed. The
// address is a 127.0.0.1 listener whose accept queue is full.
func TestClassifyRealDialTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Fill the backlog: connections nobody accepts.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	d := net.Dialer{Timeout: 200 * time.Millisecond}
	var dialErr error
	for range 4096 {
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			dialErr = err
			break
		}
		held = append(held, c)
	}
	if dialErr == nil {
		t.Skip("the listen backlog never filled: no dial timed out")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got := classifyError(ctx, dialErr); got != schemas.ClassTimeoutConnect {
		t.Errorf("classifyError(%v) = %s, want timeout_connect", dialErr, got)
	}
}

// TestClassifyRefusedHeader: a request net/http will not send for a header
// value (a control byte) is the job's fault: invalid_job, excluded from the
// breaker, never retried.
func TestClassifyRefusedHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\x01")
	_, err = srv.Client().Do(req)
	if err == nil {
		t.Fatal("net/http sent a header value with a control byte")
	}
	res := &callResult{err: err, class: classifyError(context.Background(), err)}
	if res.class != schemas.ClassInvalidJob {
		t.Errorf("class %s for %v, want invalid_job", res.class, err)
	}
	if breakerOutcome(res) != errBreakerExcluded {
		t.Error("a refused header counts against the breaker")
	}
	if retryableClass(res.class) {
		t.Error("a refused header is retried")
	}
}
