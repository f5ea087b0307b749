package activity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// Reasons the controller records when it finds a backend it did not wake
// (controller.Observe).
const (
	reasonFoundRunning  = "found running"
	reasonFoundStarting = "found starting"
	sourceAdopted       = "adopted"
)

// StatusReader reads a host's record without counting as activity;
// *controller.Controller implements it.
type StatusReader interface {
	Status(ctx context.Context, host string) (controller.Host, controller.Record, error)
}

var _ StatusReader = (*controller.Controller)(nil)

// AdoptFilterOptions configure an AdoptFilter.
type AdoptFilterOptions struct {
	// Status reads records. Required.
	Status StatusReader
	// Adopt reports a provider's adopt setting (true: backends found
	// running are stopped when idle). Required; read the current
	// configuration on each call so reloads apply.
	Adopt func(provider string) bool
}

// AdoptFilter is a controller.BusyChecker that leaves alone backends found
// running without a wake when their provider says adopt: false: it holds
// them "busy" until they stop (by hand, or through waitingroom's API) or
// waitingroom wakes them itself after they stopped.
//
// It recognises them by the controller's record ("found running", or the
// "adopted" activity it records) and, for backends found still booting, by
// the "found starting" event passed to Observe. With the memory store a
// restart of waitingroom forgets which backends it woke, so every backend
// running at that moment counts as found running; the Redis store keeps it.
type AdoptFilter struct {
	status StatusReader
	adopt  func(string) bool

	mu       sync.Mutex
	external map[string]bool // found starting, not yet stopped
}

var _ controller.BusyChecker = (*AdoptFilter)(nil)

// NewAdoptFilter builds an AdoptFilter.
func NewAdoptFilter(o AdoptFilterOptions) (*AdoptFilter, error) {
	if o.Status == nil || o.Adopt == nil {
		return nil, errors.New("adopt filter: Status and Adopt are required")
	}
	return &AdoptFilter{status: o.Status, adopt: o.Adopt, external: map[string]bool{}}, nil
}

// Observe follows state changes (controller.Options.OnEvent, or a
// subscription) to remember backends found booting outside waitingroom.
func (a *AdoptFilter) Observe(e controller.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch e.To {
	case controller.StateStarting:
		if e.Reason == reasonFoundStarting {
			a.external[e.Host] = true
		} else {
			delete(a.external, e.Host)
		}
	case controller.StateStopped, controller.StateStopping, controller.StateFailed:
		delete(a.external, e.Host)
	}
}

// Busy holds a backend started outside waitingroom awake when its provider
// has adopt: false.
func (a *AdoptFilter) Busy(ctx context.Context, h controller.Host, _ time.Time) (bool, string) {
	if a.adopt(h.Provider) {
		return false, ""
	}
	_, rec, err := a.status.Status(ctx, h.Name)
	if err != nil || rec.State != controller.StateRunning {
		return false, ""
	}
	a.mu.Lock()
	ext := a.external[h.Name]
	a.mu.Unlock()
	if ext || rec.Reason == reasonFoundRunning || rec.ActivitySource == sourceAdopted {
		return true, fmt.Sprintf("started outside waitingroom; provider %q has adopt: false", h.Provider)
	}
	return false, ""
}

// Follow calls Observe for every event until the channel closes: pass it
// controller.Subscribe(ctx, "") so backends found booting by another
// replica's reconcile are remembered too.
func (a *AdoptFilter) Follow(events <-chan controller.Event) {
	for e := range events {
		a.Observe(e)
	}
}
