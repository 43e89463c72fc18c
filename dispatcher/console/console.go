package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

// Prefix is the path the console is served under.
const Prefix = "/ui/"

// ErrInvalidOption is wrapped by New for an option it refuses.
var ErrInvalidOption = errors.New("console: invalid option")

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Settings tune the console; the zero value means the documented defaults.
type Settings struct {
	// PollEvery is how often an open overview refreshes itself: 3s when 0.
	PollEvery time.Duration
	// PageSize is how many records a page of dead letters or fallbacks
	// shows: 50 when 0.
	PageSize int
	// ReplayRate is the pace a replay form proposes, jobs per second: 50
	// when 0.
	ReplayRate float64
	// SessionTTL is how long a login lasts: 12h when 0.
	SessionTTL time.Duration
	// OverviewRows bounds the targets the overview lists (the worst
	// first): 500 when 0.
	OverviewRows int
}

func (s Settings) withDefaults() Settings {
	if s.PollEvery <= 0 {
		s.PollEvery = 3 * time.Second
	}
	if s.PageSize <= 0 {
		s.PageSize = deadletter.DefaultPageSize
	}
	if s.ReplayRate <= 0 {
		s.ReplayRate = 50
	}
	if s.SessionTTL <= 0 {
		s.SessionTTL = 12 * time.Hour
	}
	if s.OverviewRows <= 0 {
		s.OverviewRows = 500
	}
	return s
}

// Auth tells the console the token of the listener: its SHA-256 digest,
// nil while none is set (a reload may change it).
type Auth interface {
	TokenDigest() *[sha256.Size]byte
}

// Option sets runtime wiring of New.
type Option func(*Console) error

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option {
	return func(c *Console) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.log = l
		return nil
	}
}

// WithLoopback says the listener is bound to a loopback address: the pages
// may then be read without the token (actions still need it).
func WithLoopback(loopback bool) Option {
	return func(c *Console) error { c.loopback = loopback; return nil }
}

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option {
	return func(c *Console) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		c.now = now
		return nil
	}
}

// Console serves the pages. Stop ends what it runs (replays).
type Console struct {
	set      Settings
	js       jetstream.JetStream
	topo     schemas.Topology
	dlq, fb  *deadletter.Store
	backend  Backend
	figures  *Figures
	auth     Auth
	loopback bool
	log      *zap.Logger
	now      func() time.Time
	pages    map[string]*page
	sessions *sessions
	jobs     *jobs
	mux      *http.ServeMux

	ctx    context.Context // ends at Stop: replays run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns the console of the service whose JetStream is js, subjects
// topo, live state backend, figures figures and token auth.
func New(js jetstream.JetStream, topo schemas.Topology, backend Backend, figures *Figures, auth Auth, set Settings, opts ...Option) (*Console, error) {
	c := &Console{
		set: set.withDefaults(), js: js, topo: topo, backend: backend, figures: figures, auth: auth,
		dlq: deadletter.NewStore(js, topo.Prefix, topo.DLQStream()), fb: deadletter.NewFallbackStore(js, topo.Prefix, topo.FallbackStream()),
		log: zap.NewNop(), now: time.Now,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	c.sessions = newSessions(c.set.SessionTTL, c.now)
	c.jobs = newJobs(c.now)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.routes()
	return c, nil
}

// Handler is the console's handler, for the paths under Prefix.
func (c *Console) Handler() http.Handler { return c }

// ServeHTTP serves a console path with the console's headers: a content
// security policy that runs only the console's own script and style, no
// framing, no sniffing, no referrer to other sites.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // not no-referrer: browsers then send Origin: null with a form
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

// Stop cancels the replays running and waits for them (bounded by ctx);
// their audit records are written before they end.
func (c *Console) Stop(ctx context.Context) {
	c.cancel()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /ui/login", c.serveLogin)
	m.HandleFunc("POST /ui/login", c.serveLoginPost)
	m.HandleFunc("POST /ui/logout", c.serveLogout)

	m.Handle("GET /ui/{$}", c.read(c.serveOverview))
	m.Handle("GET /ui/overview.part", c.read(c.serveOverviewPart))
	m.Handle("GET /ui/api/overview", c.read(c.serveOverviewJSON))
	m.Handle("GET /ui/targets/{name}", c.read(c.serveTarget))
	m.Handle("POST /ui/targets/{name}/pause", c.act(c.servePause))
	m.Handle("POST /ui/targets/{name}/resume", c.act(c.serveResume))
	m.Handle("GET /ui/dlq", c.read(c.serveDeadLetters))
	m.Handle("GET /ui/dlq/{seq}", c.read(c.serveDeadLetter))
	m.Handle("POST /ui/dlq/replay", c.act(c.serveReplay))
	m.Handle("POST /ui/dlq/purge", c.act(c.servePurge))
	m.Handle("GET /ui/jobs/{id}", c.read(c.serveJob))
	m.Handle("GET /ui/api/jobs/{id}", c.read(c.serveJobJSON))
	m.Handle("POST /ui/jobs/{id}/cancel", c.act(c.serveJobCancel))
	m.Handle("GET /ui/fallbacks", c.read(c.serveFallbacks))
	m.Handle("GET /ui/fallbacks/{seq}", c.read(c.serveFallback))
	m.Handle("GET /ui/fleet", c.read(c.serveFleet))
	m.Handle("GET /ui/audit", c.read(c.serveAudit))
	c.mux = m
}
