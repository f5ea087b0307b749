// Package providers holds what every kind of provider shares with the
// process that runs them: the Set that builds, reuses, closes and watches
// the configured providers across reloads.
package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// Spec is one configured provider: what to build and whether it registers
// hosts itself (Docker labels).
type Spec struct {
	// Type is the provider's kind (Kind.Name).
	Type string
	// Sleep is how its backends sleep unless a host says otherwise.
	Sleep string
	// Settings are the provider's settings as configured (a kind's
	// ProviderSettings); a provider is rebuilt when its spec changes
	// (compared with reflect.DeepEqual).
	Settings any
	// Labels: the provider discovers hosts (Discoverer) and they join the
	// registry.
	Labels bool
}

// Build makes the provider named name from its spec.
type Build func(ctx context.Context, name string, spec Spec) (controller.Provider, error)

// Discoverer is a provider that registers hosts itself (Docker labels).
type Discoverer interface {
	Discover(ctx context.Context) ([]controller.Host, error)
}

// SetOptions configures a Set.
type SetOptions struct {
	Build  Build
	Logger *slog.Logger
	// Merge joins discovered hosts to the file's; the file wins conflicts,
	// which it returns to be logged. Nil: discovered hosts are ignored.
	Merge func(file, found []controller.Host) ([]controller.Host, []string)
	// DiscoverTimeout bounds one provider's discovery (default 10s).
	DiscoverTimeout time.Duration
}

// Set owns the configured providers. Apply builds them, keeping those
// whose settings did not change (a reload keeps engine connections and
// event streams), and closes those replaced or removed once the caller has
// swapped them out; Watch runs the event streams and follows Apply.
type Set struct {
	o SetOptions

	mu      sync.Mutex
	built   map[string]entry
	retired []entry       // replaced or removed by the last Apply; Retire closes them
	changed chan struct{} // Apply happened: Watch looks again
	// found is each provider's last successful discovery, standing in
	// while it cannot list (engine restarting): its hosts stay served.
	found map[string]discovered
}

type discovered struct {
	p     controller.Provider // the provider that listed them
	hosts []controller.Host
}

type entry struct {
	spec Spec
	p    controller.Provider
	stop context.CancelFunc // ends this provider's event stream; nil until watched
	done chan struct{}      // closed when its event stream has returned
}

// NewSet returns an empty Set.
func NewSet(o SetOptions) *Set {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DiscoverTimeout <= 0 {
		o.DiscoverTimeout = 10 * time.Second
	}
	return &Set{o: o, built: map[string]entry{}, changed: make(chan struct{}, 1), found: map[string]discovered{}}
}

// Apply builds the providers of specs, reusing those whose spec is
// unchanged, and returns them all. On error nothing changes (what it built
// is closed). The providers it replaces stay open until Retire: wakes in
// flight may still hold them until the registry is swapped.
func (s *Set) Apply(ctx context.Context, specs map[string]Spec) (map[string]controller.Provider, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]controller.Provider, len(specs))
	next := make(map[string]entry, len(specs))
	var fresh []entry
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		spec := specs[name]
		if old, ok := s.built[name]; ok && reflect.DeepEqual(old.spec, spec) {
			next[name], out[name] = old, old.p
			continue
		}
		p, err := s.o.Build(ctx, name, spec)
		if err != nil {
			for _, e := range fresh {
				s.closeProvider("", e)
			}
			return nil, fmt.Errorf("provider %q: %w", name, err)
		}
		e := entry{spec: spec, p: p}
		fresh = append(fresh, e)
		next[name], out[name] = e, p
	}
	for name, old := range s.built {
		if n, ok := next[name]; !ok || n.p != old.p {
			s.retired = append(s.retired, old)
			delete(s.found, name)
		}
	}
	s.built = next
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return out, nil
}

// Retire stops the event streams of the providers the last Apply replaced
// or removed and closes their clients. Call it once they are out of the
// registry.
func (s *Set) Retire() {
	s.mu.Lock()
	retired := s.retired
	s.retired = nil
	s.mu.Unlock()
	for _, e := range retired {
		s.closeProvider("replaced", e)
	}
}

func (s *Set) closeProvider(why string, e entry) {
	if e.stop != nil {
		e.stop()
		<-e.done // the old stream must not observe targets the new one owns
	}
	if c, ok := e.p.(io.Closer); ok {
		if err := c.Close(); err != nil {
			s.o.Logger.Debug("closing provider", "why", why, "err", err)
		}
	}
}

// Labels reports whether any provider registers hosts from labels.
func (s *Set) Labels() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.built {
		if e.spec.Labels {
			return true
		}
	}
	return false
}

// Discover adds the hosts providers register themselves to the file's
// hosts, each passed through defaults; the file wins conflicts, which are
// logged. A provider that cannot list now (engine down) adds what it
// listed last time, nothing if it never could: a moment's outage must not
// take its hosts out of the registry under waiting visitors.
func (s *Set) Discover(ctx context.Context, hosts []controller.Host, defaults func(controller.Host) controller.Host) []controller.Host {
	if s.o.Merge == nil {
		return hosts
	}
	s.mu.Lock()
	built := maps.Clone(s.built)
	s.mu.Unlock()
	var found []controller.Host
	for _, name := range slices.Sorted(maps.Keys(built)) {
		d, ok := built[name].p.(Discoverer)
		if !ok || !built[name].spec.Labels {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, s.o.DiscoverTimeout)
		hs, err := d.Discover(dctx)
		cancel()
		s.mu.Lock()
		if err != nil {
			last := s.found[name]
			if last.p == built[name].p {
				hs = last.hosts
			}
			s.o.Logger.Warn("label discovery failed; keeping the hosts it listed last", "provider", name, "hosts", len(hs), "err", err)
		} else if cur, ok := s.built[name]; ok && cur.p == built[name].p {
			s.found[name] = discovered{p: cur.p, hosts: hs}
		}
		s.mu.Unlock()
		for _, h := range hs {
			found = append(found, defaults(h))
		}
	}
	if len(found) == 0 {
		return hosts
	}
	merged, conflicts := s.o.Merge(hosts, found)
	for _, c := range conflicts {
		s.o.Logger.Warn("label discovery conflict; the configuration file wins", "conflict", c)
	}
	return merged
}

// Rediscover calls refresh every interval while a provider registers
// hosts from labels, so a container created with labels is served without
// a reload. It returns when ctx is done.
func (s *Set) Rediscover(ctx context.Context, every time.Duration, refresh func(context.Context)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if s.Labels() {
			refresh(ctx)
		}
	}
}

// Observer is what the event streams report to; *controller.Controller
// implements it. ObserveEvent must return at once: one stream carries the
// events of every host of its provider.
type Observer interface {
	ObserveEvent(host string, st controller.Status)
}

// Watch runs the event streams of the providers that have one (Docker),
// each following targets(name), the registry's current targets of that
// provider. It starts the streams of providers an Apply adds and, through
// Retire, ends those of providers it replaces. It returns when ctx is
// done, once every stream has.
func (s *Set) Watch(ctx context.Context, targets func(provider string) []controller.Target, obs Observer) error {
	for {
		s.startWatchers(ctx, targets, obs)
		select {
		case <-ctx.Done():
			s.mu.Lock()
			var running []chan struct{}
			for _, e := range s.built {
				if e.done != nil {
					running = append(running, e.done)
				}
			}
			s.mu.Unlock()
			for _, d := range running {
				<-d
			}
			return nil
		case <-s.changed:
		}
	}
}

func (s *Set) startWatchers(ctx context.Context, targets func(string) []controller.Target, obs Observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, e := range s.built {
		w, ok := e.p.(controller.Watcher)
		if !ok || e.stop != nil {
			continue
		}
		wctx, stop := context.WithCancel(ctx)
		e.stop, e.done = stop, make(chan struct{})
		s.built[name] = e
		go func() {
			defer close(e.done)
			err := w.Watch(wctx, func() []controller.Target { return targets(name) }, func(t controller.Target, st controller.Status) {
				obs.ObserveEvent(t.Host, st)
			})
			if err != nil && wctx.Err() == nil && !errors.Is(err, context.Canceled) {
				s.o.Logger.Error("provider event stream ended", "provider", name, "err", err)
			}
		}()
	}
}

// Close ends every event stream and closes every provider (shutdown).
func (s *Set) Close() {
	s.Retire()
	s.mu.Lock()
	built := s.built
	s.built = map[string]entry{}
	clear(s.found)
	s.mu.Unlock()
	for _, e := range built {
		s.closeProvider("shutdown", e)
	}
}
