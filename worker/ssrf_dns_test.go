package worker

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// These tests drive the real dial path — the dialer's resolver, then the
// Control hook on each resolved address — with names answered by dnsStub, a
// DNS responder on 127.0.0.1 that the dialer's resolver is pointed at
// (dialResolver). No packet leaves the loopback interface, even with the
// guard broken: the only address a dial can get is 127.0.0.1 or ::1. A
// public address appears in one answer only, to a lookup the test makes
// itself and never dials. They set a package variable, so none of them is
// parallel.

// dnsStub answers A and AAAA queries over UDP on 127.0.0.1. names maps a
// lower-case fully qualified name to the answers of its successive queries
// (the last one repeats); any other name is NXDOMAIN.
type dnsStub struct {
	pc    net.PacketConn
	mu    sync.Mutex
	names map[string][][]netip.Addr
	asked map[string]int // queries per name and type ("rebind.test. A")
}

func newDNSStub(t *testing.T, names map[string][][]netip.Addr) *dnsStub {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsStub{pc: pc, names: names, asked: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := s.reply(buf[:n]); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return s
}

// useResolver points every dialer built from now on at the stub until the
// test ends. The resolver ignores the name servers of /etc/resolv.conf.
func (s *dnsStub) useResolver(t *testing.T) {
	old := dialResolver
	dialResolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp4", s.pc.LocalAddr().String())
	}}
	t.Cleanup(func() { dialResolver = old })
}

// count returns how many queries of type qtype ("A" or "AAAA") name got.
func (s *dnsStub) count(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[name+" "+qtype]
}

// reply builds the answer to one query, nil when it is not one.
func (s *dnsStub) reply(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := binary.BigEndian.Uint16(q[i+1:])
	name := strings.ToLower(strings.Join(labels, ".")) + "."
	typeName := map[uint16]string{1: "A", 28: "AAAA"}[qtype]

	s.mu.Lock()
	seq, known := s.names[name]
	n := s.asked[name+" "+typeName]
	s.asked[name+" "+typeName]++
	s.mu.Unlock()
	var answer []netip.Addr
	if known && len(seq) > 0 {
		for _, a := range seq[min(n, len(seq)-1)] {
			if (typeName == "A" && a.Is4()) || (typeName == "AAAA" && a.Is6()) {
				answer = append(answer, a)
			}
		}
	}

	flags := uint16(0x8580) // response, authoritative, recursion desired and available
	if !known {
		flags |= 3 // NXDOMAIN
	}
	resp := append([]byte{q[0], q[1]}, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(resp[2:], flags)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(answer)))
	resp = append(resp, question...)
	for _, a := range answer {
		resp = append(resp, 0xc0, 12) // the question's name
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = binary.BigEndian.AppendUint16(resp, 1) // class IN
		resp = binary.BigEndian.AppendUint32(resp, 0) // TTL: never cache
		b := a.AsSlice()
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(b)))
		resp = append(resp, b...)
	}
	return resp
}

// countingServer is a loopback HTTP server that counts its requests.
func countingServer(t *testing.T) (port string, calls *atomic.Int32) {
	t.Helper()
	calls = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL[strings.LastIndex(srv.URL, ":")+1:], calls
}

// noJetStream and noRecorder let New build a worker whose calls are made
// with w.do; nothing here consumes or records.
type noJetStream struct{ jetstream.JetStream }

func (noJetStream) Conn() *nats.Conn { return nil }

type noRecorder struct{}

func (noRecorder) DeadLetter(context.Context, *schemas.DeadLetter, string) error { return nil }
func (noRecorder) Fallback(context.Context, *schemas.Fallback, string) error     { return nil }
func (noRecorder) Schedule(context.Context, *nats.Msg) error                     { return nil }

// callOnce builds the worker of one target at endpoint with the guard on
// service-wide and makes one attempt.
func callOnce(t *testing.T, name, endpoint string, allowPrivate bool) *callResult {
	t.Helper()
	tg := Target{Name: name, Endpoints: []string{endpoint}, AllowPrivate: allowPrivate,
		Timeouts: Timeouts{Connect: 2 * time.Second, TLS: time.Second, ResponseHeader: 2 * time.Second, Total: 5 * time.Second}}
	w, err := New(tg, Security{}, noJetStream{}, noRecorder{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.releaseClient)
	return w.do(context.Background(), endpoint, &schemas.Job{ID: "dns-" + name, Target: name}, 1, "", 5*time.Second)
}

// wantSSRFBlocked fails unless res is an ssrf_blocked refusal of a loopback
// address: not retried, never counted against a breaker.
func wantSSRFBlocked(t *testing.T, res *callResult) {
	t.Helper()
	var se *SSRFError
	if res.class != schemas.ClassSSRFBlocked || !errors.As(res.err, &se) || se.Reason != "loopback" {
		t.Fatalf("class %q err %v status %d, want ssrf_blocked for a loopback address", res.class, res.err, res.status)
	}
	if retryableClass(res.class) {
		t.Fatalf("class %s is retried", res.class)
	}
}

// TestSSRFNameResolvingToLoopback: a name that passes the pre-DNS check
// (CheckHost) but resolves to 127.0.0.1 and ::1 is refused at the dial,
// class ssrf_blocked, and the server there gets nothing; the same name on a
// target with allow_private: true reaches it (so the name really went
// through the stub and the block is the guard's, not a DNS failure).
func TestSSRFNameResolvingToLoopback(t *testing.T) {
	port, calls := countingServer(t)
	stub := newDNSStub(t, map[string][][]netip.Addr{
		"loop.test.": {{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}},
	})
	stub.useResolver(t)
	endpoint := "http://loop.test:" + port
	if err := CheckHost("loop.test"); err != nil {
		t.Fatalf("CheckHost(loop.test) = %v: the pre-DNS check would decide, the dial would not be tested", err)
	}

	wantSSRFBlocked(t, callOnce(t, "guarded", endpoint, false))
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls reached the loopback server through a guarded target", n)
	}
	if stub.count("loop.test.", "A") == 0 {
		t.Fatal("the dialer never asked the stub: the guard was not tested after DNS")
	}

	res := callOnce(t, "open", endpoint, true)
	if !res.ok() || calls.Load() != 1 {
		t.Fatalf("allow_private target: status %d class %q err %v, %d calls; want one 204", res.status, res.class, res.err, calls.Load())
	}
}

// TestSSRFRebinding: DNS rebinding. The name's first answer is a public
// address, the next ones 127.0.0.1. A check on an earlier lookup (made here
// and never dialed) would let the call through; the guard judges the
// address the dial actually uses and refuses it.
func TestSSRFRebinding(t *testing.T) {
	port, calls := countingServer(t)
	public := netip.MustParseAddr("203.0.113.10") // TEST-NET-3: only ever in the lookup below, never dialed
	stub := newDNSStub(t, map[string][][]netip.Addr{
		"rebind.test.": {{public}, {netip.MustParseAddr("127.0.0.1")}},
	})
	stub.useResolver(t)

	// What a guard that resolves first and checks that answer would see.
	first, err := dialResolver.LookupNetIP(context.Background(), "ip4", "rebind.test")
	if err != nil || len(first) != 1 || first[0] != public {
		t.Fatalf("first lookup = %v %v, want [%s]", first, err, public)
	}
	if err := CheckAddr(first[0]); err != nil {
		t.Fatalf("CheckAddr(%s) = %v, want allowed (the rebinding needs a first answer that passes)", first[0], err)
	}

	wantSSRFBlocked(t, callOnce(t, "rebind", "http://rebind.test:"+port, false))
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls reached the loopback server after the name rebound", n)
	}
	if n := stub.count("rebind.test.", "A"); n < 2 {
		t.Fatalf("%d A queries, want the dial's own lookup after the first", n)
	}
}
