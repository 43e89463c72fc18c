// Package metrics owns the service's Prometheus series: a Metrics type that
// implements worker.Observer on its own registry, and a Poller that copies
// the backlog read from JetStream (per target and per partition consumer)
// into gauges. A target's series are created on its first event, and its
// backlog gauges exist while it has a backlog: an idle target costs none.
package metrics
