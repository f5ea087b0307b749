package controller

import (
	"context"
	"time"
)

// Health is whether this process can do its work: its store answers and
// every provider that can check its engine (Checker) passes. On failure
// Store and Providers say what is wrong, in the dependency's own words.
type Health struct {
	Ready     bool
	Store     string            // why the store is not ready; "" when it is
	Providers map[string]string // provider name → why it is not ready
}

// Health checks the store and the registry's providers concurrently,
// each within timeout; a check that ignores its context is reported as not
// answering rather than holding the caller up (/readyz).
func (c *Controller) Health(ctx context.Context, timeout time.Duration) Health {
	checks := map[string]func(context.Context) error{} // "" is the store
	res := Health{Ready: true}
	fail := func(name, msg string) {
		res.Ready = false
		if name == "" {
			res.Store = msg
			return
		}
		if res.Providers == nil {
			res.Providers = map[string]string{}
		}
		res.Providers[name] = msg
	}
	if c.store != nil {
		checks[""] = c.store.Ping
	} else {
		fail("", "no store configured")
	}
	for name, p := range c.Registry().Providers() {
		if ch, ok := p.(Checker); ok {
			checks[name] = ch.Check
		}
	}

	type result struct {
		name string
		err  error
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	results := make(chan result, len(checks)) // buffered: a late check never blocks
	for name, check := range checks {
		go func() { results <- result{name, check(cctx)} }()
	}
	late := time.NewTimer(timeout + 100*time.Millisecond)
	defer late.Stop()
	for len(checks) > 0 {
		select {
		case r := <-results:
			delete(checks, r.name)
			if r.err != nil {
				fail(r.name, r.err.Error())
			}
		case <-late.C:
			for name := range checks {
				fail(name, "no answer within "+timeout.String())
			}
			clear(checks)
		}
	}
	return res
}
