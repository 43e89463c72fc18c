// Package console is the operator web console that dispatcher serve serves
// under /ui/ on http.listen: an overview of every target (health verdict,
// throughput, success rate, latency, retries, dead letters and fallbacks
// per minute, breakers here and across the fleet, limits, a 15-minute
// sparkline of the backlog), a page per target, the dead letters (filter,
// page, show, count, replay with progress and cancel, purge behind a typed
// confirmation), the fallback records, the fleet and the audit trail; and
// pause and resume of a target.
//
// Pages are server-rendered with html/template (everything a record holds
// is escaped) and a small embedded script refreshes the overview; assets
// are embedded, nothing comes from elsewhere. The figures come from the
// service's own memory (Figures, Backend): a page's refresh reads no
// stream. Reading dead letters, fallbacks, the fleet and the audit trail
// reads NATS on demand only.
//
// Access: on a loopback listener the pages may be read without the token;
// beyond loopback nothing is served without it. Actions (replay, purge,
// pause, resume) always need it: a session opened by entering http.token
// in the login form (an HttpOnly, SameSite=Strict cookie), and each action
// a POST carrying the session's CSRF token, from the console's own origin;
// or a request with Authorization: Bearer <http.token>. Every action is
// appended to the audit stream (dispatcher/audit).
package console
