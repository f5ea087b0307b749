package main

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"

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
	goredis.SetLogger(redisLog{log: log})
	st, err := redisstore.New(ctx, cfg.File.Store.RedisURL, redisstore.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("store.redis_url: %w", err)
	}
	return st, nil
}

// redisLog routes go-redis's own log lines (reconnect noise while Redis
// is down) into slog at debug level: /readyz and the store's errors
// already say Redis is unreachable.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
