package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/waitingroom/waitingroom/activity"
	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
	"github.com/waitingroom/waitingroom/webhook"
)

// busySet is the controller's BusyChecker. The checkers need the
// controller (warm windows wake through it, adoption reads its state), so
// they are set once it exists, before anything runs.
type busySet struct {
	list atomic.Pointer[activity.Checkers]
}

func (b *busySet) Busy(ctx context.Context, h controller.Host, now time.Time) (bool, string) {
	if l := b.list.Load(); l != nil {
		return l.Busy(ctx, h, now)
	}
	return false, ""
}

// Reasons says why each checker holds a host awake (the dashboard).
func (b *busySet) Reasons(ctx context.Context, h controller.Host, now time.Time) []string {
	if l := b.list.Load(); l != nil {
		return l.Reasons(ctx, h, now)
	}
	return nil
}

// activitySources are the activity that is not a request: warm windows,
// keep_awake_while probes, open connections, adoption, heartbeats.
type activitySources struct {
	warm      *activity.Warm
	heartbeat *activity.Heartbeat
	adopt     *activity.AdoptFilter
}

func (a *app) buildActivity(cfg *config.Config, busy *busySet) error {
	ctrl := a.ctrl
	warm, err := activity.NewWarm(activity.WarmOptions{
		Waker:  ctrl,
		Hosts:  func() []controller.Host { return ctrl.Registry().Hosts() },
		Logger: a.log,
	})
	if err != nil {
		return fmt.Errorf("warm windows: %w", err)
	}
	hb, err := activity.NewHeartbeat(activity.HeartbeatOptions{Toucher: ctrl, Logger: a.log}, ctrl.Registry().Hosts())
	if err != nil {
		return fmt.Errorf("heartbeat tokens: %w", err)
	}
	adopt, err := activity.NewAdoptFilter(activity.AdoptFilterOptions{
		Status: ctrl,
		Adopt:  a.providerSetting(func(p config.Provider) bool { return p.Adopt == nil || *p.Adopt }),
	})
	if err != nil {
		return err
	}
	keep := activity.NewKeepAwake(activity.KeepAwakeOptions{Status: ctrl.LastStatus, Logger: a.log})
	conns := activity.NewConnections(activity.ConnectionsOptions{
		Provider: ctrl.Registry().Provider, // decorated; PIDer is found through Unwrap
		Status:   ctrl.LastStatus,
		Logger:   a.log,
	})
	list := activity.Checkers{warm, keep, connectionsWhere(conns, a.providerSetting(func(p config.Provider) bool {
		c, ok := p.Settings.(providers.ConnectionCounting)
		return ok && c.CountsConnections()
	})), adopt}
	busy.list.Store(&list)
	a.act = &activitySources{warm: warm, heartbeat: hb, adopt: adopt}
	return nil
}

// reloadActivity follows a new registry: warm windows and heartbeat tokens.
func (a *app) reloadActivity() {
	if err := a.act.warm.Sync(); err != nil {
		a.log.Warn("reload: warm windows", "err", err)
	}
	if err := a.act.heartbeat.Reload(a.ctrl.Registry().Hosts()); err != nil {
		a.log.Warn("reload: heartbeat tokens", "err", err)
	}
}

// newWebhooks builds the notifier of the webhooks: section (nil without
// any). Secrets come from files or the environment.
func newWebhooks(cfg *config.Config, log *slog.Logger) (*webhook.Notifier, error) {
	if len(cfg.File.Webhooks) == 0 {
		return nil, nil
	}
	var targets []webhook.Target
	for i, w := range cfg.File.Webhooks {
		secret, err := webhook.ReadSecret(w.SecretFile, w.SecretEnv)
		if err != nil {
			return nil, fmt.Errorf("webhooks[%d]: %w", i, err)
		}
		targets = append(targets, webhook.Target{URL: w.URL, Secret: secret, Events: w.Events, Timeout: w.Timeout.D(), Retries: w.Retries})
	}
	return webhook.New(webhook.Options{Targets: targets, Logger: log})
}

// providerSetting reads a boolean provider setting from the current
// configuration; an unknown provider reads false.
func (a *app) providerSetting(get func(config.Provider) bool) func(provider string) bool {
	return func(provider string) bool {
		a.cfgMu.Lock()
		defer a.cfgMu.Unlock()
		p, ok := a.cfg.File.Providers[provider]
		return ok && get(p)
	}
}

// connectionsWhere counts open connections only for hosts whose provider
// asks for it (count_connections).
func connectionsWhere(c *activity.Connections, enabled func(provider string) bool) controller.BusyChecker {
	return connectionsFilter{c: c, enabled: enabled}
}

type connectionsFilter struct {
	c       *activity.Connections
	enabled func(string) bool
}

func (f connectionsFilter) Busy(ctx context.Context, h controller.Host, now time.Time) (bool, string) {
	if !f.enabled(h.Provider) {
		return false, ""
	}
	return f.c.Busy(ctx, h, now)
}
