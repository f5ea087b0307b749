package main

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/guard"
	"github.com/waitingroom/waitingroom/internal/clientclass"
	"github.com/waitingroom/waitingroom/web"
)

// policy adapts the guard package to web.Policy: who a request comes from
// (behind trusted proxies, anonymised), whether it may wake, monitors, the
// honeypot and click-to-wake tokens.
type policy struct {
	trusted  []netip.Prefix
	ip       *guard.ClientIP
	hasher   *guard.Hasher
	classes  *clientclass.Classifier
	budgets  *guard.Budgets
	tokens   *guard.Tokens
	fullAddr bool
}

var _ web.Policy = (*policy)(nil)

func newPolicy(cfg *config.Config, clock controller.Clock, key []byte, budgets *guard.Budgets) (*policy, error) {
	trusted, err := guard.ParseTrustedProxies(cfg.File.TrustedProxies)
	if err != nil {
		return nil, err
	}
	return &policy{
		trusted: trusted,
		ip:      guard.NewClientIP(trusted),
		hasher:  guard.NewHasher(key, clock),
		classes: clientclass.New(clientclass.Options{
			BotUserAgents:     cfg.File.Bots.UserAgents,
			MonitorUserAgents: cfg.File.Monitors.UserAgents,
			MonitorPaths:      cfg.File.Monitors.Paths,
			Wake:              clientclass.WakeRules{OnHead: cfg.File.Bots.WakeOnHead, OnPrefetch: cfg.File.Bots.WakeOnPrefetch},
		}),
		budgets:  budgets,
		tokens:   guard.NewTokens(guard.DeriveKey(key, "click-token"), 0, clock),
		fullAddr: cfg.File.Privacy.FullAddresses,
	}, nil
}

func (p *policy) Client(r *http.Request) controller.Client {
	ip := p.ip.IP(r)
	c := controller.Client{
		Display: guard.Display(ip, p.fullAddr),
		Class:   string(p.classes.Classify(r)),
		Source:  "page",
	}
	if ip.IsValid() {
		c.Key = p.hasher.ClientKey(ip)
	}
	return c
}

func (p *policy) MayWake(r *http.Request, c controller.Client) (bool, string) {
	return p.classes.WakeDecision(guard.Class(c.Class), r.Method)
}

func (p *policy) Monitor(_ *http.Request, c controller.Client) bool {
	return guard.Class(c.Class) == guard.ClassMonitor
}

func (p *policy) Honeypot(ctx context.Context, r *http.Request, host string) (bool, error) {
	ip := p.ip.IP(r)
	if !ip.IsValid() || !guard.IsOwnNavigation(r) || guard.Class(p.classes.Classify(r)) == guard.ClassPrefetch {
		return false, nil // another site's request, or a prefetch: the browser, not the person
	}
	return true, p.budgets.Honeypot(ctx, host, ip)
}

func (p *policy) WakeToken(host string) string { return p.tokens.Issue(host) }

func (p *policy) VerifyWakeToken(host, token string) error { return p.tokens.Verify(host, token) }

// loadHashKey reads privacy.hash_key_file; without one, a random key per
// process (budgets keyed on client addresses then reset on restart, and
// replicas must share a file).
func loadHashKey(cfg *config.Config) ([]byte, error) {
	return guard.LoadKey(cfg.File.Privacy.HashKeyFile)
}
