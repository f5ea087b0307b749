package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/store/memory"
	redisstore "github.com/waitingroom/waitingroom/store/redis"
)

// openStore returns the embedded memory store, or Redis when configured.
// An unreachable Redis is not an error here: the process starts, /readyz
// reports it, and the store reconnects when Redis comes back.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (controller.Store, error) {
	if cfg.File.Store.RedisURL == "" {
		return memory.New(nil), nil
	}
	st, err := redisstore.New(ctx, cfg.File.Store.RedisURL, redisstore.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("store.redis_url: %w", err)
	}
	return st, nil
}
