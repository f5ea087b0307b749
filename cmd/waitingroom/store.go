package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

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
	sc := cfg.File.Store
	if sc.RedisURL == "" && sc.Sentinel.Master == "" {
		return memory.New(nil), nil
	}
	goredis.SetLogger(redisLog{log: log})
	opts := []redisstore.Option{redisstore.WithLogger(log)}
	url := sc.RedisURL
	if s := sc.Sentinel; s.Master != "" {
		password, err := readSecret(s.PasswordFile, s.PasswordEnv, os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("store.sentinel: %w", err)
		}
		opts = append(opts, redisstore.WithSentinel(redisstore.Sentinel{
			Master: s.Master, Addrs: s.Addrs, Username: s.Username, Password: password,
		}))
		if url == "" {
			url = "redis://" + s.Master + "/0"
		}
	}
	st, err := redisstore.New(ctx, url, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return st, nil
}

// readSecret reads a password from a file (surrounding whitespace
// trimmed) or an environment variable; both empty: no password. Errors
// say where it was looked for, never what was found.
func readSecret(file, env string, getenv func(string) string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("password_file: %w", err)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("password_file %s is empty", file)
	case env != "":
		if s := strings.TrimSpace(getenv(env)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("password_env %s is not set", env)
	}
	return "", nil
}

// redisLog routes go-redis's own log lines (reconnect noise while Redis
// is down) into slog at debug level: /readyz and the store's errors
// already say Redis is unreachable.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
