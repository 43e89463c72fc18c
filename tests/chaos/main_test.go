// Package chaos breaks things on purpose around separate processes — a
// nats-server built from its module, `dispatcher serve` instances and HTTP
// targets on 127.0.0.1 — and ends every test with a conservation ledger:
// no job may go missing.
//
// Set DISPATCH_CHAOS_SOAK=1 for the full-size runs of the issue (20,000
// jobs); the default sizes keep the package well under its CI budget.
package chaos

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
