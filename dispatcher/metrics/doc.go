// Package metrics owns the service's Prometheus series: a Metrics type that
// implements worker.Observer on its own registry, and a Poller that copies
// the JetStream consumer backlog of every target into gauges.
package metrics
