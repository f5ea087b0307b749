package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers/docker"
	"github.com/waitingroom/waitingroom/providers/exec"
	"github.com/waitingroom/waitingroom/providers/gce"
)

// providerSet builds providers from the configuration and keeps them
// across reloads while their settings are unchanged, so a reload does not
// drop engine connections or watches.
type providerSet struct {
	log *slog.Logger

	mu       sync.Mutex
	built    map[string]builtProvider
	watching map[string]context.CancelFunc
}

type builtProvider struct {
	settings config.Provider
	p        controller.Provider
}

func newProviderSet(log *slog.Logger) *providerSet {
	return &providerSet{log: log, built: map[string]builtProvider{}, watching: map[string]context.CancelFunc{}}
}

// build returns the providers of cfg, reusing those whose settings did
// not change.
func (s *providerSet) build(ctx context.Context, cfg *config.Config) (map[string]controller.Provider, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]controller.Provider{}
	next := map[string]builtProvider{}
	names := make([]string, 0, len(cfg.File.Providers))
	for name := range cfg.File.Providers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pc := cfg.File.Providers[name]
		if old, ok := s.built[name]; ok && reflect.DeepEqual(old.settings, pc) {
			next[name], out[name] = old, old.p
			continue
		}
		p, err := newProvider(ctx, name, pc, s.log)
		if err != nil {
			return nil, fmt.Errorf("provider %q: %w", name, err)
		}
		next[name], out[name] = builtProvider{settings: pc, p: p}, p
	}
	s.built = next
	return out, nil
}

func newProvider(ctx context.Context, name string, pc config.Provider, log *slog.Logger) (controller.Provider, error) {
	typ := pc.Type
	if typ == "" {
		typ = name
	}
	log = log.With("provider", name)
	switch typ {
	case "exec":
		return exec.New(exec.Options{Timeout: pc.Timeout.D(), Logger: log}), nil
	case "docker":
		return docker.New(docker.Options{
			Name:        name,
			Host:        pc.Host,
			StopTimeout: pc.StopTimeout.D(),
			Sleep:       pc.Sleep,
			Labels:      pc.Labels,
			Network:     pc.Network,
			Logger:      log,
		})
	case "gce":
		return gce.New(ctx, gce.Options{
			Project:         pc.Project,
			CredentialsFile: pc.CredentialsFile,
			Endpoint:        pc.Endpoint,
			Sleep:           pc.Sleep,
			Logger:          log,
		})
	}
	return nil, fmt.Errorf("unknown provider type %q", typ)
}

// raw returns the provider built for name, without the metrics wrapper,
// so optional interfaces (activity.PIDer) stay visible.
func (s *providerSet) raw(name string) (controller.Provider, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.built[name]
	return b.p, ok
}

// discoverer is a provider that registers hosts itself (Docker labels).
type discoverer interface {
	Discover(ctx context.Context) ([]controller.Host, error)
}

// discover adds hosts found by providers (Docker labels) to the file's
// hosts; the file wins conflicts, which are logged. A provider that cannot
// list now (engine down) contributes nothing this time; the next reload or
// discovery tick tries again.
func (s *providerSet) discover(ctx context.Context, cfg *config.Config, hosts []controller.Host) []controller.Host {
	s.mu.Lock()
	built := maps.Clone(s.built)
	s.mu.Unlock()
	var found []controller.Host
	for _, name := range slices.Sorted(maps.Keys(built)) {
		d, ok := built[name].p.(discoverer)
		if !ok || !built[name].settings.Labels {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		hs, err := d.Discover(dctx)
		cancel()
		if err != nil {
			s.log.Warn("label discovery failed", "provider", name, "err", err)
		}
		for _, h := range hs {
			found = append(found, withDefaults(cfg, h))
		}
	}
	if len(found) == 0 {
		return hosts
	}
	merged, conflicts := docker.MergeHosts(hosts, found)
	for _, c := range conflicts {
		s.log.Warn("label discovery conflict; the configuration file wins", "conflict", c)
	}
	return merged
}

// watch runs the event streams of providers that have one (Docker), so
// changes made behind waitingroom's back are seen within a second; it
// returns when ctx is done. Each watcher follows the registry's current
// targets of its provider.
func (s *providerSet) watch(ctx context.Context, ctrl *controller.Controller) error {
	var wg sync.WaitGroup
	started := map[controller.Watcher]bool{}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		s.mu.Lock()
		built := maps.Clone(s.built)
		s.mu.Unlock()
		for name, b := range built {
			w, ok := b.p.(controller.Watcher)
			if !ok || started[w] {
				continue
			}
			started[w] = true
			targets := func() []controller.Target {
				var ts []controller.Target
				for _, h := range ctrl.Registry().Hosts() {
					if h.Provider == name {
						ts = append(ts, h.Target)
					}
				}
				return ts
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := w.Watch(ctx, targets, func(t controller.Target, st controller.Status) {
					ctrl.ObserveEvent(t.Host, st)
				})
				if err != nil && ctx.Err() == nil {
					s.log.Error("provider event stream ended", "provider", name, "err", err)
				}
			}()
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C: // pick up providers added by a reload
		}
	}
}

// close releases the providers' clients (engine connections) at shutdown.
func (s *providerSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, b := range s.built {
		if c, ok := b.p.(io.Closer); ok {
			if err := c.Close(); err != nil {
				s.log.Debug("closing provider", "provider", name, "err", err)
			}
		}
	}
}

// labelDiscovery reports whether any provider registers hosts from labels.
func labelDiscovery(cfg *config.Config) bool {
	for _, p := range cfg.File.Providers {
		if p.Labels {
			return true
		}
	}
	return false
}

// withDefaults gives a host registered by labels what the file's hosts get
// from defaults: an idle timeout of zero would never be swept.
func withDefaults(cfg *config.Config, h controller.Host) controller.Host {
	d := cfg.File.Defaults
	if h.IdleTimeout <= 0 {
		h.IdleTimeout = d.IdleTimeout.D()
	}
	if h.StartTimeout <= 0 {
		h.StartTimeout = d.StartTimeout.D()
	}
	if h.Wait == "" {
		h.Wait = d.Wait
	}
	if h.WakeMode == "" {
		h.WakeMode = config.DefaultWake
	}
	if h.MaxWakesPerDay == 0 {
		h.MaxWakesPerDay = cfg.File.Budgets.MaxWakesPerDay
	}
	if h.MaxWakesPerHour == 0 {
		h.MaxWakesPerHour = cfg.File.Budgets.MaxWakesPerHour
	}
	return h
}
