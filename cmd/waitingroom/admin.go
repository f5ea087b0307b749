package main

import (
	"context"
	"fmt"
	"os"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/guard"
	"github.com/waitingroom/waitingroom/metrics"
	"github.com/waitingroom/waitingroom/web"
)

// adminCredentials reads the dashboard users and the API tokens (from
// their files or environment variables; never from the config itself).
func adminCredentials(cfg *config.Config) ([]web.User, []web.Token, error) {
	users := make([]web.User, 0, len(cfg.File.Admin.Users))
	for _, u := range cfg.File.Admin.Users {
		users = append(users, web.User{Name: u.Name, PasswordHash: u.PasswordHash})
	}
	sources := make([]web.TokenSource, 0, len(cfg.File.Admin.Tokens))
	for _, t := range cfg.File.Admin.Tokens {
		sources = append(sources, web.TokenSource{Name: t.Name, File: t.File, Env: t.Env})
	}
	tokens, err := web.ReadTokens(sources, os.Getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("admin.tokens: %w", err)
	}
	return users, tokens, nil
}

// newAdmin builds the admin listener: dashboard, API, metrics, health,
// the Traefik HTTP provider endpoint, behind the configured credentials.
func (a *app) newAdmin(cfg *config.Config, pol *policy, budgets *guard.Budgets) (*web.Admin, error) {
	users, tokens, err := adminCredentials(cfg)
	if err != nil {
		return nil, err
	}
	if err := web.CheckAdminExposure(cfg.File.Admin.Listen, len(users), len(tokens)); err != nil {
		return nil, err
	}
	var sessionKey []byte
	if cfg.File.Admin.SessionKeyFile != "" {
		if sessionKey, err = web.ReadSessionKey(cfg.File.Admin.SessionKeyFile); err != nil {
			return nil, fmt.Errorf("admin.session_key_file: %w", err)
		}
	}
	mp := cfg.File.Admin.MetricsPublic
	return web.NewAdmin(web.AdminOptions{
		Controller:    a.ctrl,
		Sessions:      a.ctrl.Store(),
		Logger:        a.log,
		Hosts:         cfg.File.Admin.Hosts,
		Users:         users,
		Tokens:        tokens,
		SessionKey:    sessionKey,
		ClientIP:      pol.ip.IP,
		TrustedProxy:  pol.ip.Trusted,
		Metrics:       metrics.Handler(a.promReg),
		MetricsPublic: mp != nil && *mp,
		Traefik:       a.liveTraefik(),
		BaseContext:   a.baseCtx,
		Reload:        func() error { return a.watcher.Reload() },
		Config:        a.configInfo,
		Busy:          a.busy.Reasons,
		WakeBudget: func(ctx context.Context, h controller.Host) (int, int, error) {
			u, err := budgets.HostUsage(ctx, h)
			return int(u.Day), u.PerDay, err
		},
	})
}

// configInfo is the dashboard's view of the loaded configuration.
func (a *app) configInfo() web.ConfigInfo {
	cfg, lastErr := a.watcher.Last()
	if cfg == nil {
		a.cfgMu.Lock()
		cfg = a.cfg
		a.cfgMu.Unlock()
	}
	y, err := cfg.RedactedYAML()
	if err != nil {
		y = []byte("# " + err.Error())
	}
	return web.ConfigInfo{Path: cfg.Path, LoadedAt: cfg.LoadedAt, YAML: y, LastError: lastErr, RestartNeeded: a.watcher.RestartNeeded()}
}

// instrument counts each provider's errors in the metrics.
func (a *app) instrument(ps map[string]controller.Provider) map[string]controller.Provider {
	out := make(map[string]controller.Provider, len(ps))
	for n, p := range ps {
		out[n] = metrics.WrapProvider(n, p, a.metrics)
	}
	return out
}
