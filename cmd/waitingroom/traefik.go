package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/waitingroom/waitingroom/activity"
	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/guard"
	"github.com/waitingroom/waitingroom/traefik"
)

// traefikOptions maps the traefik: section to the generator's options.
func traefikOptions(cfg *config.Config) (traefik.Options, error) {
	t := cfg.File.Traefik
	url := t.WaitingroomURL
	if url == "" {
		var err error
		if url, err = traefik.DefaultWaitingroomURL(cfg.File.Listen); err != nil {
			return traefik.Options{}, fmt.Errorf("traefik.waitingroom_url: %w", err)
		}
	}
	return traefik.Options{
		WaitingroomURL:      url,
		EntryPoints:         t.EntryPoints,
		Fallback:            t.Fallback,
		HealthCheckInterval: t.HealthCheckInterval.D(),
		HealthCheckTimeout:  t.HealthCheckTimeout.D(),
		UnhealthyInterval:   t.UnhealthyInterval.D(),
		MaxRequestBodyBytes: int64(t.MaxRequestBodyBytes),
		DialTimeout:         t.DialTimeout.D(),
		CertResolver:        t.CertResolver,
		Middlewares:         t.Middlewares,
		ForwardAuth:         t.ForwardAuth,
	}, nil
}

// traefikRoutes builds a route per host. A host Traefik cannot route (no
// url and no ready_url) is reported, and the others are still generated.
func traefikRoutes(hosts []controller.Host) ([]traefik.Route, error) {
	var (
		routes []traefik.Route
		errs   []error
	)
	for _, h := range hosts {
		o := config.TraefikOf(h)
		r, err := traefik.NewRoute(h, o.URL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.EntryPoints, r.CertResolver, r.Middlewares = o.EntryPoints, o.CertResolver, o.Middlewares
		routes = append(routes, r)
	}
	return routes, errors.Join(errs...)
}

// generateTraefik is the dynamic configuration of a registry; live fills
// addresses known only at run time (a VM's current IP).
func generateTraefik(cfg *config.Config, hosts []controller.Host, live func(string) (string, bool)) (traefik.Config, error) {
	opts, err := traefikOptions(cfg)
	if err != nil {
		return traefik.Config{}, err
	}
	routes, rerr := traefikRoutes(hosts)
	out, err := traefik.Generate(opts, routes, live)
	if err != nil {
		return traefik.Config{}, err
	}
	return out, rerr
}

// traefikCmd prints the file provider's YAML for the registry.
func traefikCmd(args []string, stdout, stderr io.Writer) int {
	cfg, _, code := loadConfig("traefik", args, stderr)
	if cfg == nil {
		return code
	}
	out, err := generateTraefik(cfg, cfg.Hosts(), nil)
	code = 0
	if err != nil {
		// Hosts that cannot be routed are left out, and said so.
		fmt.Fprintln(stderr, "waitingroom traefik:", strings.ReplaceAll(err.Error(), "\n", "\nwaitingroom traefik: "))
		code = 1
	}
	b, yerr := traefik.YAML(out)
	if yerr != nil {
		fmt.Fprintln(stderr, "waitingroom traefik:", yerr)
		return 1
	}
	_, _ = stdout.Write(b)
	return code
}

// liveTraefik serves GET /api/traefik from the current registry, with the
// backends' live addresses as the providers last reported them.
func (a *app) liveTraefik() http.Handler {
	return traefik.Handler(func() traefik.Config {
		a.cfgMu.Lock()
		cfg := a.cfg
		a.cfgMu.Unlock()
		hosts := a.ctrl.Registry().Hosts()
		routes, _ := traefikRoutes(hosts)
		byHost := make(map[string]traefik.Route, len(routes))
		for _, r := range routes {
			byHost[r.Host] = r
		}
		live := func(host string) (string, bool) {
			st, ok := a.ctrl.LastStatus(host)
			if !ok {
				return "", false
			}
			return byHost[host].LiveURL(st)
		}
		out, err := generateTraefik(cfg, hosts, live)
		if err != nil {
			a.log.Debug("traefik configuration: some hosts left out", "err", err)
		}
		return out
	})
}

// trustedOnly lets a handler answer only peers in trusted_proxies: the
// ForwardAuth touch would otherwise let anyone keep a host awake.
func trustedOnly(ip *guard.ClientIP, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ip.Trusted(ap.Addr()) {
			next.ServeHTTP(w, r)
			return
		}
		// ForwardAuth passes any non-2xx to the client: answer 200 so a
		// misconfiguration never blocks traffic, but record nothing.
		log.Debug("touch from an untrusted peer ignored", "peer", r.RemoteAddr)
		w.WriteHeader(http.StatusOK)
	})
}

// backendHosts maps Traefik service names back to hosts, rebuilt only when
// the registry changes: the metrics source asks once per series per scrape.
type backendHosts struct {
	reg *controller.Registry

	mu  sync.Mutex
	gen uint64
	of  func(string) (string, bool)
}

func (b *backendHosts) hostOf(service string) (string, bool) {
	b.mu.Lock()
	if gen := b.reg.Generation(); b.of == nil || gen != b.gen {
		hosts := b.reg.Hosts()
		names := make([]string, len(hosts))
		for i, h := range hosts {
			names[i] = h.Name
		}
		b.of, b.gen = traefik.BackendHostOf(names), gen
	}
	of := b.of
	b.mu.Unlock()
	return of(service)
}

// wireTraefik adds the Traefik endpoints to the listeners: /api/traefik on
// the admin listener, the ForwardAuth touch on the public one (for any
// Host, from trusted proxies only), and the metrics activity source.
func (a *app) wireTraefik(cfg *config.Config, public, admin *http.Server, goRun func(string, func(context.Context) error)) error {
	adminMux := http.NewServeMux()
	// Backends keep themselves awake with a per-host token.
	adminMux.Handle(activity.HeartbeatPattern, a.act.heartbeat)
	adminMux.Handle("/", admin.Handler)
	admin.Handler = adminMux

	t := cfg.File.Traefik
	if t.ForwardAuth {
		trusted, err := guard.ParseTrustedProxies(cfg.File.TrustedProxies)
		if err != nil {
			return err
		}
		ip := guard.NewClientIP(trusted)
		fa := traefik.NewForwardAuth(a.ctrl, traefik.ForwardAuthOptions{
			Known:  func(h string) bool { _, ok := a.ctrl.Registry().Lookup(h); return ok },
			Logger: a.log,
		})
		goRun("forwardauth writer", fa.Run)
		publicMux := http.NewServeMux()
		publicMux.Handle(traefik.TouchPath, trustedOnly(ip, a.log, fa))
		publicMux.Handle("/", public.Handler)
		public.Handler = publicMux
	}
	if t.MetricsURL != "" {
		ms, err := traefik.NewMetricsSource(traefik.MetricsOptions{
			URL:      t.MetricsURL,
			Interval: t.MetricsInterval.D(),
			HostOf:   (&backendHosts{reg: a.ctrl.Registry()}).hostOf,
			Toucher:  a.ctrl,
			Logger:   a.log,
		})
		if err != nil {
			return fmt.Errorf("traefik.metrics_url: %w", err)
		}
		goRun("traefik metrics source", ms.Run)
	}
	return nil
}
