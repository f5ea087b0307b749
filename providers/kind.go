package providers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/waitingroom/waitingroom/controller"
)

// Kind is one kind of provider (docker, gce, exec): the settings it takes
// under providers.NAME, the settings it takes on each of its hosts, and how
// to build one. Each provider package exports its Kind; providers/kinds
// lists them, and that list is the only place a kind is named.
//
// config decodes a kind's settings with its strict decoder (unknown keys,
// wrong types and bad durations are reported at FILE:LINE), then calls
// Check, then Default. Settings structs hold only string, bool, int,
// time.Duration and []string fields, each with a yaml tag.
type Kind struct {
	// Name is the provider's type in the configuration (type: docker).
	Name string
	// Sleep lists the ways its backends can sleep; the first is the
	// default. config refuses any other on the provider or a host.
	Sleep []string
	// Settings returns a pointer to a new, zero value of the kind's
	// provider settings: the keys under providers.NAME besides type, sleep
	// and adopt.
	Settings func() ProviderSettings
	// Target returns a pointer to a new, zero value of the settings a host
	// of this kind takes to locate its backend (container; instance, zone;
	// start, stop). config hands the decoded value, dereferenced, to the
	// provider as controller.Target.Backend.
	Target func() TargetSettings
	// New builds a provider from its decoded, checked and defaulted
	// settings.
	New func(ctx context.Context, c Config) (controller.Provider, error)
}

// DefaultSleep is how the kind's backends sleep when neither the provider
// nor a host says: the first of Sleep ("" when it lists none).
func (k Kind) DefaultSleep() string {
	if len(k.Sleep) == 0 {
		return ""
	}
	return k.Sleep[0]
}

// Config is what Kind.New receives.
type Config struct {
	// Name is the provider's name in the configuration (providers.NAME);
	// hosts it discovers carry it as their provider.
	Name string
	// Sleep is how its backends sleep unless a host says otherwise; one of
	// Kind.Sleep.
	Sleep string
	// Settings is what Kind.Settings returned, decoded and defaulted.
	Settings ProviderSettings
	// Logger carries the provider's name as an attribute.
	Logger *slog.Logger
}

// Report is how a kind's Check tells config what is wrong: each problem
// is reported at the line of the key it names, FILE:LINE, after the
// subject (`provider "main": `, `host "app.example.com": `).
type Report interface {
	// Set tells whether the file writes key: an explicit zero may mean
	// something other than leaving the key out.
	Set(key string) bool
	// Problem records a problem with key ("" for the provider or host as
	// a whole). The message reads after the subject and a colon.
	Problem(key, format string, args ...any)
	// Missing records a key the host must set: `KIND hosts need KEY:
	// (what)`.
	Missing(key, what string)
	// Provider is the name of the provider being checked, or of the
	// host's provider.
	Provider() string
}

// ProviderSettings are a kind's provider settings (implemented on the
// pointer Kind.Settings returns).
type ProviderSettings interface {
	// Check reports problems in the settings as written (before Default).
	Check(r Report)
	// Default fills what the file left out; set tells whether the file
	// writes a key.
	Default(set func(key string) bool)
}

// TargetSettings are a kind's per-host settings (implemented on the
// pointer Kind.Target returns). The value type must implement
// controller.Backend (String on the value receiver).
type TargetSettings interface {
	controller.Backend
	// Check reports problems in the host's settings as written;
	// provider is its provider's settings, as written too.
	Check(r Report, provider ProviderSettings)
	// Default fills what the host left out, from its provider's
	// (defaulted) settings.
	Default(provider ProviderSettings)
}

// Discovering is implemented by the settings of a kind whose providers can
// register hosts themselves (Docker labels): it tells whether this one
// does. Its provider then implements Discoverer.
type Discovering interface {
	DiscoversHosts() bool
}

// ConnectionCounting is implemented by the settings of a kind whose
// backends run on this machine (docker, exec): count_connections asks that
// open TCP connections to a backend keep its host awake.
type ConnectionCounting interface {
	CountsConnections() bool
}

// TargetOf returns a target's backend as the kind's own type T. The error
// names the host: a target of another kind reached this provider.
func TargetOf[T controller.Backend](t controller.Target) (T, error) {
	switch b := any(t.Backend).(type) {
	case T:
		return b, nil
	case *T:
		if b != nil {
			return *b, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("host %q: provider %q got a target of type %T, not %T", t.Host, t.Provider, t.Backend, zero)
}

// Kinds is the table of the kinds this build knows.
type Kinds []Kind

// Lookup returns the kind named name.
func (ks Kinds) Lookup(name string) (Kind, bool) {
	for _, k := range ks {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Names lists the kinds' names, sorted.
func (ks Kinds) Names() []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	slices.Sort(out)
	return out
}

// Build makes the provider named name from its spec (a Set's Build).
func (ks Kinds) Build(ctx context.Context, name string, spec Spec, log *slog.Logger) (controller.Provider, error) {
	k, ok := ks.Lookup(spec.Type)
	if !ok {
		return nil, fmt.Errorf("unknown provider type %q", spec.Type)
	}
	s, ok := spec.Settings.(ProviderSettings)
	if !ok {
		return nil, fmt.Errorf("provider type %q: settings of type %T", spec.Type, spec.Settings)
	}
	if log == nil {
		log = slog.Default()
	}
	return k.New(ctx, Config{Name: name, Sleep: spec.Sleep, Settings: s, Logger: log.With("provider", name)})
}

// SpecOf is the Spec of a configured provider of type typ.
func SpecOf(typ, sleep string, s ProviderSettings) Spec {
	d, ok := s.(Discovering)
	return Spec{Type: typ, Sleep: sleep, Settings: s, Labels: ok && d.DiscoversHosts()}
}
