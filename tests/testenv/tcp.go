package testenv

import (
	"net"
	"sync"
	"testing"
)

// TCPServer listens on 127.0.0.1 and runs serve on its own goroutine for
// every connection accepted; the connection is closed when serve returns.
// It returns host:port. At cleanup done is closed, then the listener and
// every connection, and cleanup waits for the serve calls to return.
func TCPServer(t testing.TB, serve func(c net.Conn, done <-chan struct{})) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, done)
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// SilentListener is a TCPServer that never reads or writes on a
// connection (a TLS handshake or an HTTP exchange hangs).
func SilentListener(t testing.TB) string {
	t.Helper()
	return TCPServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
}

// RefusedAddr returns a host:port of 127.0.0.1 where nothing listens, so a
// connection is refused.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
