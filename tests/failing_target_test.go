package tests

import (
	"testing"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// failingTarget starts a broker, a sink that answers every call with 503
// and a collector of the results on app.results, and returns them with the
// service config of one target "a" on that sink with settings.
func failingTarget(t *testing.T, settings testenv.M) (*testenv.Broker, *testenv.Sink, *testenv.ResultSet, string) {
	t.Helper()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Status(503))
	results := testenv.Results(t, b.NC, "app.results")
	return b, sink, results, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, settings)}))
}
