package controller

import (
	"maps"
	"slices"
	"sync/atomic"
	"time"
)

// Host is one registered hostname and how to wake its backend.
type Host struct {
	// Name is the normalised hostname (lower case, no port, no trailing dot).
	Name     string
	Provider string
	Target   Target
	// ReadyURL is probed until it answers 2xx/3xx; it may contain
	// {internal_ip} and {external_ip}, filled from the provider's Status.
	// Empty: the provider's Status deciding StateRunning is readiness.
	ReadyURL     string
	IdleTimeout  time.Duration
	StartTimeout time.Duration
	// Wait is how clients wait: "page", "hold" or "auto".
	Wait string
	// WakeMode is "auto" (any qualifying request wakes) or "click" (only a
	// signed POST from the page's button wakes).
	WakeMode string
	// MaxWakesPerDay and MaxWakesPerHour cap wakes of this host; 0: no cap.
	MaxWakesPerDay  int
	MaxWakesPerHour int
	// Price is what the backend costs per hour (running, suspended): the
	// dashboard's savings. Zero: not priced.
	Price Price
	// Origin says where the registration came from: "file" or "docker-labels".
	Origin string
	// Extra carries settings other packages own (traefik options, warm
	// windows, ...) keyed by name, so this type stays small.
	Extra map[string]any
}

// Registry is the current set of hosts and providers. Reloads swap it as a
// whole, so a lookup never sees half of an edit.
type Registry struct {
	snap atomic.Pointer[registrySnapshot]
	gens atomic.Uint64
}

type registrySnapshot struct {
	hosts     map[string]Host
	providers map[string]Provider
	gen       uint64
}

// NewRegistry returns a registry holding hosts and providers.
func NewRegistry(hosts []Host, providers map[string]Provider) *Registry {
	r := &Registry{}
	r.Replace(hosts, providers)
	return r
}

// Replace swaps in a new set of hosts and providers.
func (r *Registry) Replace(hosts []Host, providers map[string]Provider) {
	s := &registrySnapshot{hosts: make(map[string]Host, len(hosts)), providers: maps.Clone(providers), gen: r.gens.Add(1)}
	for _, h := range hosts {
		s.hosts[h.Name] = h
	}
	r.snap.Store(s)
}

// Generation changes with every Replace, so callers can cache what they
// derive from the hosts (Traefik service names) until the next reload.
func (r *Registry) Generation() uint64 { return r.snap.Load().gen }

// Lookup finds a host by its normalised name.
func (r *Registry) Lookup(name string) (Host, bool) {
	h, ok := r.snap.Load().hosts[name]
	return h, ok
}

// LookupBytes is Lookup for a name held in bytes. It does not allocate,
// so the public listener can normalise a Host header on the stack and take
// the registered host's own Name as its string.
func (r *Registry) LookupBytes(name []byte) (Host, bool) {
	h, ok := r.snap.Load().hosts[string(name)] // no copy: a map index
	return h, ok
}

// Provider returns the provider registered under name.
func (r *Registry) Provider(name string) (Provider, bool) {
	p, ok := r.snap.Load().providers[name]
	return p, ok
}

// Providers returns every provider by name.
func (r *Registry) Providers() map[string]Provider {
	return maps.Clone(r.snap.Load().providers)
}

// Hosts returns every host, sorted by name.
func (r *Registry) Hosts() []Host {
	s := r.snap.Load()
	out := make([]Host, 0, len(s.hosts))
	for _, name := range slices.Sorted(maps.Keys(s.hosts)) {
		out = append(out, s.hosts[name])
	}
	return out
}

// Len is the number of registered hosts.
func (r *Registry) Len() int { return len(r.snap.Load().hosts) }

// Client describes who asked for a wake. It carries an anonymised
// identity only; the raw request never reaches a provider.
type Client struct {
	// Key identifies the client for budgets (a keyed hash of its address);
	// empty when unknown.
	Key string
	// Display is what logs and the dashboard show (a truncated address).
	Display string
	// Class is the user-agent class: "browser", "bot", "monitor", "api".
	Class string
	// Source is how the wake arrived: "page", "hold", "api", "dashboard",
	// "warm", "reconcile".
	Source string
}

func (c Client) String() string {
	switch {
	case c.Display != "" && c.Class != "":
		return c.Display + " (" + c.Class + ")"
	case c.Display != "":
		return c.Display
	default:
		return c.Source
	}
}
