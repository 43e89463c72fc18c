// Package tests holds the black-box integration tests of the dispatcher:
// each file tests one behaviour of the contract against a real nats-server
// and real HTTP targets (see package testenv).
package tests

import (
	"os"
	"testing"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}
