package main

import (
	"context"
	"log/slog"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
	"github.com/waitingroom/waitingroom/providers/kinds"
)

// newProviderSet is the set of the configured providers, built by their
// kinds (providers/kinds: the one table); hosts that providers register
// themselves (Docker labels) join the file's, the file winning conflicts.
func newProviderSet(log *slog.Logger) *providers.Set {
	ks := kinds.All()
	return providers.NewSet(providers.SetOptions{
		Build: func(ctx context.Context, name string, spec providers.Spec) (controller.Provider, error) {
			return ks.Build(ctx, name, spec, log)
		},
		Logger: log,
		Merge:  providers.MergeHosts,
	})
}
