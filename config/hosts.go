package config

import (
	"slices"
	"time"

	"github.com/waitingroom/waitingroom/activity"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/hold"
	"github.com/waitingroom/waitingroom/providers"
	"github.com/waitingroom/waitingroom/traefik"
	"github.com/waitingroom/waitingroom/web"
)

// Keys of controller.Host.Extra that Config.Hosts sets, with the value
// types of the packages that read them (traefik, activity, hold: each owns
// its per-host settings and their accessor). The names here are aliases,
// kept for the wiring and the tests.
const (
	// ExtraTraefik holds a traefik.HostOptions value.
	ExtraTraefik = traefik.ExtraHostOptions
	// ExtraActivity holds an activity.HostSettings value.
	ExtraActivity = activity.ExtraSettings
	// ExtraHoldTimeout holds a time.Duration: how long a held request waits.
	ExtraHoldTimeout = hold.ExtraTimeout
)

// TraefikOptions are a host's settings for the generated Traefik
// configuration (traefik.HostOptions).
type TraefikOptions = traefik.HostOptions

// ActivityOptions are a host's settings for activity and planning
// (activity.HostSettings).
type ActivityOptions = activity.HostSettings

// TraefikOf returns a host's Traefik options (zero when it has none).
func TraefikOf(h controller.Host) TraefikOptions { return traefik.HostOptionsOf(h) }

// ActivityOf returns a host's activity options (zero when it has none).
func ActivityOf(h controller.Host) ActivityOptions { return activity.SettingsOf(h) }

// HoldTimeoutOf returns how long a held request for the host waits for the
// backend, DefaultHoldTimeout when the host does not say.
func HoldTimeoutOf(h controller.Host) time.Duration { return hold.TimeoutOf(h) }

// HostDefaults gives a host registered elsewhere (Docker labels) what the
// file's hosts get from defaults: an idle timeout of zero would never be
// swept. It is the one place a non-file host's defaults come from.
func (c *Config) HostDefaults(h controller.Host) controller.Host {
	d := c.File.Defaults
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
		h.WakeMode = DefaultWake
	}
	if h.MaxWakesPerDay == 0 {
		h.MaxWakesPerDay = c.File.Budgets.MaxWakesPerDay
	}
	if h.MaxWakesPerHour == 0 {
		h.MaxWakesPerHour = c.File.Budgets.MaxWakesPerHour
	}
	if _, ok := h.Extra[ExtraHoldTimeout]; !ok {
		// Without it a held request would wait DefaultHoldTimeout,
		// not defaults.hold_timeout.
		extra := make(map[string]any, len(h.Extra)+1)
		for k, v := range h.Extra {
			extra[k] = v
		}
		extra[ExtraHoldTimeout] = d.HoldTimeout.D()
		h.Extra = extra
	}
	return h
}

// Hosts builds the registry's hosts, in file order. Every call returns
// fresh values: callers may keep or change them without affecting c.
func (c *Config) Hosts() []controller.Host {
	out := make([]controller.Host, 0, len(c.File.Hosts))
	for _, h := range c.File.Hosts {
		t := controller.Target{
			Host:     h.Host,
			Provider: h.Provider,
			Sleep:    h.Sleep,
			Backend:  backend(h.Target),
		}
		out = append(out, controller.Host{
			Name:            h.Host,
			Provider:        h.Provider,
			Target:          t,
			ReadyURL:        h.ReadyURL,
			IdleTimeout:     h.IdleTimeout.D(),
			StartTimeout:    h.StartTimeout.D(),
			Wait:            h.Wait,
			WakeMode:        h.Wake,
			MaxWakesPerDay:  h.MaxWakesPerDay,
			MaxWakesPerHour: h.MaxWakesPerHour,
			Price:           controller.Price{Running: h.Price.Running, Suspended: h.Price.Suspended, Currency: h.Price.Currency},
			Origin:          "file",
			Extra: map[string]any{
				ExtraTraefik: TraefikOptions{
					URL:          h.URL,
					EntryPoints:  slices.Clone(h.EntryPoints),
					CertResolver: h.CertResolver,
					Middlewares:  slices.Clone(h.Middlewares),
				},
				ExtraActivity: ActivityOptions{
					Warm:           slices.Clone(h.Warm),
					TimeZone:       h.TimeZone,
					KeepAwakeWhile: h.KeepAwakeWhile,
					TouchTokenFile: h.TouchTokenFile,
					TouchTokenEnv:  h.TouchTokenEnv,
				},
				ExtraHoldTimeout: h.HoldTimeout.D(),
			},
		})
	}
	return out
}

// Brands are the looks of the file's hosts that have a page: section,
// by host name, for web.LoadBrand (which reads their files).
func (c *Config) Brands() map[string]web.BrandOptions {
	out := map[string]web.BrandOptions{}
	for _, h := range c.File.Hosts {
		p := h.Page
		if p == (HostPage{}) {
			continue
		}
		out[h.Host] = web.BrandOptions{
			Name: p.Name, LogoURL: p.LogoURL, LogoFile: p.LogoFile,
			Accent: p.Accent, Background: p.Background, Template: p.Template, Status: p.Status,
		}
	}
	return out
}

// ProviderSpecs are the configured providers, for providers.Set.Apply.
// Each spec holds its own copy of the kind's settings.
func (c *Config) ProviderSpecs() map[string]providers.Spec {
	out := make(map[string]providers.Spec, len(c.File.Providers))
	for name, p := range c.File.Providers {
		out[name] = providers.SpecOf(p.Type, p.Sleep, cloneSettings(p.Settings))
	}
	return out
}
