package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/worker"
)

// ErrReload is wrapped by the error of a refused reload; the config in
// effect stays.
var ErrReload = errors.New("dispatcher: config reload refused")

// reloadDebounce is how long the config file must stay quiet after a change
// before it is reloaded: editors write, rename and chmod in bursts.
const reloadDebounce = 300 * time.Millisecond

// OnReload is called after every reload attempt, with whether the new config
// was applied (metrics count reloads with it).
func OnReload(f func(ok bool)) Option { return func(o *runOptions) { o.onReload = f } }

// WithConfigFile names the config file the service was started from: a
// change of the file, POST /-/reload and a signal on ReloadOn reload it.
func WithConfigFile(path string) Option { return func(o *runOptions) { o.configPath = path } }

// ReloadOn makes every value received on c (e.g. SIGHUP from signal.Notify)
// reload the config file.
func ReloadOn(c <-chan os.Signal) Option { return func(o *runOptions) { o.reloadOn = c } }

// reloadState is the hot-reload side of a Service.
type reloadState struct {
	mu       sync.Mutex // serialises reloads
	closed   bool       // shutting down: no more reloads
	path     string
	cfg      *config.Config // the config in effect
	lastData []byte         // the file content cfg came from
	onReload func(ok bool)
	retiring sync.WaitGroup // workers replaced or removed, stopping
}

// startReload registers POST /-/reload and starts watching the config file
// and the reload channel. The returned function stops all of it and waits
// for a reload in progress; no reload starts after it returned.
func (s *Service) startReload(o *runOptions) (stop func()) {
	s.reload.path, s.reload.cfg, s.reload.onReload = o.configPath, s.cfg, o.onReload
	// Watch before reading the content in effect: a change from then on
	// is seen.
	var fw *fsnotify.Watcher
	if o.configPath != "" {
		fw = s.newConfigWatcher()
		if data, err := os.ReadFile(o.configPath); err == nil {
			s.reload.lastData = data
		}
	}
	s.health.Handle("POST /-/reload", http.HandlerFunc(s.serveReload))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if o.reloadOn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case sig := <-o.reloadOn:
					s.log.Info("reload requested", zap.String("signal", sig.String()))
					_ = s.reloadFile(ctx, false)
				}
			}
		}()
	}
	if fw != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.watchConfig(ctx, fw) }()
	}
	return func() {
		cancel()
		wg.Wait()
		s.reload.mu.Lock()
		s.reload.closed = true
		s.reload.mu.Unlock()
	}
}

// serveReload is POST /-/reload: 200 when the config file was reloaded,
// 400 with the reason when it was refused.
func (s *Service) serveReload(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 60*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.Reload(ctx); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "reloaded")
}

// Reload reads the config file again and applies it. A config that does not
// load or validate is refused with an error wrapping ErrReload (and the
// config error): the config in effect stays.
func (s *Service) Reload(ctx context.Context) error { return s.reloadFile(ctx, false) }

// reloadFile reloads the config file; onlyIfChanged skips a file whose
// content is the one in effect (file events that change nothing).
func (s *Service) reloadFile(ctx context.Context, onlyIfChanged bool) error {
	if s.reload.path == "" {
		return s.refused(fmt.Errorf("%w: no config file (the service was not started from one)", ErrReload))
	}
	data, err := os.ReadFile(s.reload.path)
	if err != nil {
		return s.refused(fmt.Errorf("%w: %w: %w", ErrReload, config.ErrConfigFile, err))
	}
	s.reload.mu.Lock()
	defer s.reload.mu.Unlock()
	if onlyIfChanged && bytes.Equal(data, s.reload.lastData) {
		return nil
	}
	cfg, err := s.parseConfig(data)
	if err != nil {
		return s.refused(fmt.Errorf("%w: %w", ErrReload, err))
	}
	if err := s.applyLocked(ctx, cfg); err != nil {
		return s.refused(err)
	}
	s.reload.lastData = data
	return nil
}

// Apply applies cfg as a reload would (without a config file). It is
// refused with an error wrapping ErrReload when the new targets cannot be
// set up; the config in effect then stays.
func (s *Service) Apply(ctx context.Context, cfg *config.Config) error {
	s.reload.mu.Lock()
	defer s.reload.mu.Unlock()
	if err := s.applyLocked(ctx, cfg); err != nil {
		return s.refused(err)
	}
	return nil
}

func (s *Service) refused(err error) error {
	s.log.Error("config reload refused; the config in effect stays", zap.Error(err))
	s.countReload(false)
	return err
}

// applyLocked applies cfg with reload.mu held. Targets added get a worker;
// targets changed get a new worker, routed to before the old one stops
// gracefully (its in-flight calls finish, what waits in its lane is handed
// back to the new one); targets removed have their worker stopped
// gracefully. Consumers do not change: they are the partitions'. The HTTP
// token is swapped. Other service-level keys are logged as needing a
// restart and otherwise ignored.
func (s *Service) applyLocked(ctx context.Context, cfg *config.Config) error {
	if s.reload.closed {
		return fmt.Errorf("%w: shutting down", ErrReload)
	}
	old := s.reload.cfg
	for _, key := range config.RestartKeys(old, cfg) {
		s.log.Warn("config change needs a restart; ignored until then", zap.String("key", key))
	}
	// The config in effect: the new targets, security and HTTP token, the
	// old rest.
	eff := *old
	eff.Security, eff.Targets, eff.HTTP.Token = cfg.Security, cfg.Targets, cfg.HTTP.Token
	if err := checkHTTPToken(eff.HTTP.Listen, eff.HTTP.Token); err != nil {
		// The new file may move http.listen to loopback and drop the
		// token; the listener stays where it is until a restart.
		return fmt.Errorf("%w: %w", ErrReload, err)
	}
	secChanged := !reflect.DeepEqual(old.Security, cfg.Security)
	if SettleWindow(&eff) > SettleWindow(old) {
		// A target with a longer AckWait needs a longer duplicate window
		// for its redone outcomes (worker/settle.go).
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := EnsureStreams(actx, s.js, s.topo, s.streamSettings(&eff))
		cancel()
		if err != nil {
			return fmt.Errorf("%w: streams: %w", ErrReload, err)
		}
	}

	// Phase 1: workers of what is new or changed, none taking deliveries
	// yet, so a failure leaves everything as it was.
	fresh := map[string]*worker.Worker{}
	var added, changed, removed []string
	for _, name := range cfg.TargetNames() {
		tg := cfg.Targets[name]
		prev, existed := old.Targets[name]
		if existed && !secChanged && reflect.DeepEqual(prev, tg) {
			continue
		}
		w, err := s.newWorker(tg, cfg.Security)
		if err != nil {
			for _, fw := range fresh {
				fw.Stop(ctx)
			}
			return fmt.Errorf("%w: target %s: %w", ErrReload, name, err)
		}
		fresh[name] = w
		if existed {
			changed = append(changed, name)
		} else {
			added = append(added, name)
		}
	}
	for _, name := range old.TargetNames() {
		if _, ok := cfg.Targets[name]; !ok {
			removed = append(removed, name)
		}
	}

	// Phase 2: swap the new workers in. The fleet hears of added targets
	// before their deliveries are routed here, and of removed ones once
	// their worker has stopped (retire): no other instance takes their
	// jobs for orphans meanwhile. A retired worker hands back what waits
	// in its lane; its successor gets it again.
	for _, w := range fresh {
		s.fleet.attach(w)
	}
	if len(added) > 0 {
		s.fleet.publishNow(ctx)
	}
	var retired []*worker.Worker
	s.wmu.Lock()
	for name, w := range fresh {
		if prev := s.workers[name]; prev != nil {
			retired = append(retired, prev)
		}
		s.workers[name] = w
	}
	for _, name := range removed {
		if prev := s.workers[name]; prev != nil {
			retired = append(retired, prev)
		}
		delete(s.workers, name)
	}
	s.cons.setWorkers(s.workers)
	s.wmu.Unlock()
	s.retire(retired)
	if secChanged && s.sweeper != nil {
		s.sweeper.setSecurity(cfg.Security)
	}
	if eff.HTTP.Token != old.HTTP.Token {
		s.health.SetToken(eff.HTTP.Token)
		s.log.Info("http.token replaced")
	}
	s.reload.cfg = &eff

	s.log.Info("config reloaded", zap.Strings("added", added), zap.Strings("changed", changed), zap.Strings("removed", removed))
	s.countReload(true)
	return nil
}

// retire stops workers in the background, each gracefully within the
// shutdown budget; stopWorkers waits for them.
func (s *Service) retire(ws []*worker.Worker) {
	budget := s.stopBudget()
	for _, w := range ws {
		s.reload.retiring.Add(1)
		go func() {
			defer s.reload.retiring.Done()
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			w.Stop(ctx)
			s.fleet.detach(w) // unless a worker replaced it
			s.log.Info("worker stopped after reload", zap.String("target", w.Target().Name))
		}()
	}
}

// newWorker builds (does not start) the worker of one target.
func (s *Service) newWorker(tg worker.Target, sec worker.Security) (*worker.Worker, error) {
	opts := []worker.Option{
		worker.WithLogger(s.baseLog), worker.WithSubjectPrefix(s.cfg.NATS.SubjectPrefix),
		worker.WithIdentity(s.cfg.ServiceName, s.instance), worker.WithUserAgent(s.userAgent), s.observer(),
		worker.WithStateKeys(s.stateKeys),
	}
	if s.fleet != nil {
		opts = append(opts, worker.WithBreakerShare(s.fleet), worker.WithDeliverySpread(s.fleet.spread))
	}
	return worker.New(tg, sec, s.js, deadletter.NewWriter(s.js, s.cfg.NATS.SubjectPrefix), opts...)
}

// newConfigWatcher watches the config file's directory; nil when it cannot.
func (s *Service) newConfigWatcher() *fsnotify.Watcher {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("config file watch unavailable", zap.Error(err))
		return nil
	}
	dir := filepath.Dir(s.reload.path)
	if err := fw.Add(dir); err != nil {
		_ = fw.Close()
		s.log.Warn("config file watch unavailable", zap.String("dir", dir), zap.Error(err))
		return nil
	}
	return fw
}

// watchConfig reloads the config file when it changes, until ctx is done. It
// watches the file's directory, so editors that write a new file and rename
// it over the old one (and Kubernetes' ..data symlink swap) are seen.
func (s *Service) watchConfig(ctx context.Context, fw *fsnotify.Watcher) {
	defer fw.Close()
	base := filepath.Base(s.reload.path)
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			if name := filepath.Base(ev.Name); name == base || name == "..data" {
				fire = time.After(reloadDebounce)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return
			}
			s.log.Warn("config file watch", zap.Error(err))
		case <-fire:
			fire = nil
			s.log.Info("config file changed; reloading", zap.String("config", s.reload.path))
			_ = s.reloadFile(ctx, true)
		}
	}
}

// countReload records a reload's result in the metrics and tells the
// OnReload hook.
func (s *Service) countReload(ok bool) {
	if m := s.Metrics(); m != nil {
		m.Reload(ok)
	}
	if f := s.reload.onReload; f != nil {
		f(ok)
	}
}
