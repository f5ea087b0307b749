package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
	"github.com/waitingroom/waitingroom/providers/docker"
	"github.com/waitingroom/waitingroom/providers/exec"
	"github.com/waitingroom/waitingroom/providers/gce"
	"github.com/waitingroom/waitingroom/providers/swarm"
)

// providerSpecs are the configured providers, for providers.Set.Apply.
func providerSpecs(cfg *config.Config) map[string]providers.Spec {
	out := make(map[string]providers.Spec, len(cfg.File.Providers))
	for name, pc := range cfg.File.Providers {
		out[name] = providers.Spec{Settings: pc, Labels: pc.Labels}
	}
	return out
}

// newProviderSet is the set of the configured providers; Docker's label
// discovery joins the file's hosts, the file winning conflicts.
func newProviderSet(log *slog.Logger) *providers.Set {
	return providers.NewSet(providers.SetOptions{
		Build: func(ctx context.Context, name string, spec providers.Spec) (controller.Provider, error) {
			return newProvider(ctx, name, spec.Settings.(config.Provider), log)
		},
		Logger: log,
		Merge:  docker.MergeHosts,
	})
}

// kinds is the one table of provider kinds: config's type name and how to
// build one from its settings. config.ProviderTypes must name exactly these
// (TestEveryProviderTypeHasAKind).
var kinds = map[string]func(ctx context.Context, name string, pc config.Provider, log *slog.Logger) (controller.Provider, error){
	config.TypeExec: func(_ context.Context, _ string, pc config.Provider, log *slog.Logger) (controller.Provider, error) {
		return exec.New(exec.Options{Timeout: pc.Timeout.D(), Logger: log}), nil
	},
	config.TypeDocker: func(_ context.Context, name string, pc config.Provider, log *slog.Logger) (controller.Provider, error) {
		return docker.New(docker.Options{
			Name:        name,
			Host:        pc.Host,
			StopTimeout: pc.StopTimeout.D(),
			Sleep:       pc.Sleep,
			Labels:      pc.Labels,
			Network:     pc.Network,
			Logger:      log,
		})
	},
	config.TypeSwarm: func(_ context.Context, name string, pc config.Provider, log *slog.Logger) (controller.Provider, error) {
		return swarm.New(swarm.Options{Name: name, Host: pc.Host, Labels: pc.Labels, Logger: log})
	},
	config.TypeGCE: func(ctx context.Context, _ string, pc config.Provider, log *slog.Logger) (controller.Provider, error) {
		return gce.New(ctx, gce.Options{
			Project:         pc.Project,
			CredentialsFile: pc.CredentialsFile,
			Endpoint:        pc.Endpoint,
			Sleep:           pc.Sleep,
			Logger:          log,
		})
	},
}

func newProvider(ctx context.Context, name string, pc config.Provider, log *slog.Logger) (controller.Provider, error) {
	typ := pc.Type
	if typ == "" {
		typ = name
	}
	build, ok := kinds[typ]
	if !ok {
		return nil, fmt.Errorf("unknown provider type %q", typ)
	}
	return build(ctx, name, pc, log.With("provider", name))
}
