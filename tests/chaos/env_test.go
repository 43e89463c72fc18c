package chaos

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// natsProc is a nats-server process on a fixed port of 127.0.0.1 with a
// fixed store dir, so it can be stopped and started again.
type natsProc struct {
	Port int
	Dir  string
	URL  string
	proc *testenv.Process
}

// startNATS starts a JetStream nats-server process and waits (bounded)
// until it accepts connections.
func startNATS(t *testing.T) *natsProc {
	t.Helper()
	port := testenv.FreePort(t)
	n := &natsProc{Port: port, Dir: t.TempDir(), URL: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	n.Start(t)
	return n
}

// Start starts the server (again) on the same port and store dir.
func (n *natsProc) Start(t *testing.T) {
	t.Helper()
	n.proc = startNATSProcess(t, "nats-server", n.Port, "-a", "127.0.0.1", "-p", strconv.Itoa(n.Port), "-js", "-sd", n.Dir)
}

// startNATSProcess starts the nats-server binary with args and waits
// (bounded) until it listens on port of 127.0.0.1; name is how failures
// call it.
func startNATSProcess(t *testing.T, name string, port int, args ...string) *testenv.Process {
	t.Helper()
	p := testenv.StartProcess(t, testenv.NATSServerBinary(t), args...)
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		if p.Exited() {
			t.Fatalf("%s exited with %d:\n%s", name, p.ExitCode(), p.Stderr())
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false, name + " not listening: " + err.Error()
		}
		c.Close()
		return true, ""
	})
	return p
}

// Stop stops the server gracefully (SIGTERM: JetStream flushes its store)
// and waits for it to exit.
func (n *natsProc) Stop(t *testing.T) {
	t.Helper()
	n.proc.Terminate(t)
	n.proc.Wait(t, 20*time.Second)
}

// serve is a `dispatcher serve` process with its health address.
type serve struct {
	*testenv.Process
	Addr string
}

// serveConfig writes testenv.Config(natsURL, overrides...) with a fixed
// health address of its own, and returns the file's path and that address.
func serveConfig(t *testing.T, natsURL string, overrides ...testenv.M) (string, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	all := append([]testenv.M{{"http": testenv.M{"listen": addr}}}, overrides...)
	return testenv.WriteConfig(t, testenv.Config(natsURL, all...)), addr
}

// startServe starts `dispatcher serve --config cfg` and waits until it is
// ready.
func startServe(t *testing.T, cfg, addr string) *serve {
	t.Helper()
	p := testenv.StartProcess(t, testenv.Binary(t), "serve", "--config", cfg)
	p.WaitReady(t)
	return &serve{Process: p, Addr: addr}
}

// readyz is the status of GET /readyz (0 when it does not answer).
func readyz(addr string) int {
	code, _, _ := testenv.Get(addr, "/readyz")
	return code
}

// vmHWM is the peak resident set size of process pid in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// soak reports whether the long runs were asked for.
func soak() bool { return os.Getenv("DISPATCH_CHAOS_SOAK") == "1" }

// waitAllAccounted waits (bounded) until the ledger has nothing missing and
// every target's consumer is settled, then returns the final ledger.
func waitAllAccounted(t *testing.T, js jetstream.JetStream, in testenv.LedgerInput, targets []string, timeout time.Duration) testenv.Ledger {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var l testenv.Ledger
	for {
		l = testenv.ReadLedger(t, js, in)
		if l.Missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("gave up waiting after %s", timeout)
			return l
		}
		time.Sleep(500 * time.Millisecond)
	}
	seen := map[int]bool{} // a partition's consumers are every one of its targets'
	for _, tg := range targets {
		if k := schemas.Partition(tg, testenv.Partitions); !seen[k] {
			seen[k] = true
			testenv.WaitSettled(t, js, tg, 1, time.Until(deadline)+5*time.Second)
		}
	}
	return testenv.ReadLedger(t, js, in)
}

// explainMissing logs what the sinks and the service logs know of each
// missing job.
func explainMissing(t *testing.T, ids []string, sinks []*testenv.Sink, procs []*serve) {
	t.Helper()
	for _, id := range ids {
		for _, s := range sinks {
			for _, c := range s.ByKey()[id] {
				t.Logf("%s: call %d status %d gone %v at %s", id, c.N, c.Status, c.ClientGone, c.Arrived.Format(time.RFC3339Nano))
			}
		}
		for i, p := range procs {
			for _, line := range strings.Split(p.Stderr(), "\n") {
				if strings.Contains(line, `"`+id+`"`) {
					t.Logf("%s: serve #%d: %s", id, i, line)
				}
			}
		}
	}
}
