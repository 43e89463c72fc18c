// Package testenv holds the real parts the black-box integration tests of
// the dispatcher run against: an embedded JetStream server per test, HTTP
// targets that record every call, the service run in-process or as a built
// binary, and readers of the dead-letter, fallback and result outputs.
//
// Nothing here mocks JetStream or HTTP. Every wait is a bounded poll of a
// condition (Eventually); only 127.0.0.1 receives traffic.
package testenv
