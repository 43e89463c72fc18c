package testenv

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// healthClient is for the service's health endpoints.
var healthClient = &http.Client{Timeout: 2 * time.Second}

// Get returns the status and body of GET http://addr/path.
func Get(addr, path string) (int, string, error) {
	resp, err := healthClient.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// GetOK returns the body of GET http://addr/path, failing the test unless
// it answers 200.
func GetOK(t testing.TB, addr, path string) string {
	t.Helper()
	code, body, err := Get(addr, path)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", path, code, err, body)
	}
	return body
}

// ReadyCond is a condition for Eventually: /readyz of the service at addr
// answers 200.
func ReadyCond(addr string) func() (bool, string) {
	return func() (bool, string) {
		code, body, err := Get(addr, "/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	}
}
