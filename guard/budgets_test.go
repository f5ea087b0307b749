package guard

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/store/memory"
)

type budgetEnv struct {
	clock   *fake.Clock
	store   controller.Store
	hasher  *Hasher
	budgets *Budgets
}

func newBudgetEnv(t *testing.T, opts BudgetOptions) *budgetEnv {
	t.Helper()
	clock := fake.NewClock(start)
	st := memory.New(clock)
	t.Cleanup(func() { _ = st.Close() })
	h := NewHasher(testKey, clock)
	opts.Hasher, opts.Logger = h, quiet
	return &budgetEnv{clock: clock, store: st, hasher: h, budgets: NewBudgets(st, opts, clock)}
}

func budgetErr(t *testing.T, err error) *controller.BudgetError {
	t.Helper()
	var be *controller.BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *controller.BudgetError", err)
	}
	if !errors.Is(err, controller.ErrBudgetExceeded) {
		t.Errorf("%v does not match controller.ErrBudgetExceeded", err)
	}
	return be
}

// TestHostBudgetPerDay: the N+1st wake of a host in a day is refused
// until midnight UTC, then allowed again.
func TestHostBudgetPerDay(t *testing.T) {
	tests := []struct {
		name   string
		host   controller.Host
		perDay int
	}{
		{"three a day", host("app.example.com", 3, 0), 3},
		{"one a day, with an hourly budget too", host("app.example.com", 1, 6), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newBudgetEnv(t, BudgetOptions{})
			ctx := t.Context()
			for i := range tt.perDay {
				// A new client each time: only the host budget can bind.
				c := clientFor(env.hasher, mustAddr(t, fmt.Sprintf("198.51.%d.1", i)))
				if err := env.budgets.AllowWake(ctx, tt.host, c); err != nil {
					t.Fatalf("wake %d of %d refused: %v", i+1, tt.perDay, err)
				}
				env.clock.Advance(time.Minute)
			}
			c := clientFor(env.hasher, mustAddr(t, "192.0.2.1"))
			be := budgetErr(t, env.budgets.AllowWake(ctx, tt.host, c))
			midnight := time.Date(2030, 6, 16, 0, 0, 0, 0, time.UTC)
			if be.Budget != BudgetHostPerDay || be.RetryAfter != midnight.Sub(env.clock.Now()) {
				t.Errorf("refusal = %+v, want %q until midnight (%s)", be, BudgetHostPerDay, midnight.Sub(env.clock.Now()))
			}
			u, err := env.budgets.HostUsage(ctx, tt.host)
			if err != nil || u.Day != int64(tt.perDay) || u.PerDay != tt.perDay {
				t.Errorf("HostUsage = %+v, %v; want %d of %d used", u, err, tt.perDay, tt.perDay)
			}
			env.clock.Set(midnight)
			if err := env.budgets.AllowWake(ctx, tt.host, c); err != nil {
				t.Errorf("the next day's first wake refused: %v", err)
			}
		})
	}
}

// TestHostWithoutBudgetIsCountedNotLimited: a host's 0 is no limit (the
// configuration has resolved any default already); its wakes still count.
func TestHostWithoutBudgetIsCountedNotLimited(t *testing.T) {
	env := newBudgetEnv(t, BudgetOptions{})
	h := host("app.example.com", 0, 0)
	for i := range 60 {
		if err := env.budgets.AllowWake(t.Context(), h, clientFor(env.hasher, mustAddr(t, fmt.Sprintf("198.51.%d.1", i)))); err != nil {
			t.Fatalf("wake %d refused: %v", i+1, err)
		}
	}
	if u, err := env.budgets.HostUsage(t.Context(), h); err != nil || u != (Usage{Day: 60, Hour: 60}) {
		t.Errorf("HostUsage = %+v, %v; want 60 wakes, no limits", u, err)
	}
}

func TestHostBudgetPerHour(t *testing.T) {
	env := newBudgetEnv(t, BudgetOptions{})
	h := host("app.example.com", 100, 2)
	for i := range 2 {
		if err := env.budgets.AllowWake(t.Context(), h, clientFor(env.hasher, mustAddr(t, fmt.Sprintf("198.51.%d.1", i)))); err != nil {
			t.Fatal(err)
		}
	}
	be := budgetErr(t, env.budgets.AllowWake(t.Context(), h, clientFor(env.hasher, mustAddr(t, "192.0.2.1"))))
	if be.Budget != BudgetHostPerHour || be.RetryAfter != 40*time.Minute {
		t.Errorf("refusal = %+v, want host per hour, retry in 40m", be)
	}
}

// TestClientCyclingThroughHostsIsStopped: one address waking 50 different
// hosts is stopped at its hourly rate, and the refused wakes use up none
// of those hosts' budgets.
func TestClientCyclingThroughHostsIsStopped(t *testing.T) {
	const rate = 5
	env := newBudgetEnv(t, BudgetOptions{ClientPerHour: rate})
	c := clientFor(env.hasher, mustAddr(t, "203.0.113.50"))
	allowed := 0
	for i := range 50 {
		h := host(fmt.Sprintf("h%02d.example.com", i), 10, 0)
		err := env.budgets.AllowWake(t.Context(), h, c)
		if err == nil {
			allowed++
			continue
		}
		if be := budgetErr(t, err); be.Budget != BudgetClientPerHour {
			t.Fatalf("host %s: refused by %q, want %q", h.Name, be.Budget, BudgetClientPerHour)
		}
		if u, _ := env.budgets.HostUsage(t.Context(), h); u.Day != 0 {
			t.Errorf("refused wake of %s used its host budget (%d)", h.Name, u.Day)
		}
	}
	if allowed != rate {
		t.Errorf("%d of 50 wakes allowed, want %d", allowed, rate)
	}
	// Another address elsewhere is not affected.
	if err := env.budgets.AllowWake(t.Context(), host("h49.example.com", 10, 0), clientFor(env.hasher, mustAddr(t, "198.51.100.9"))); err != nil {
		t.Errorf("an unrelated client refused: %v", err)
	}
	env.clock.Advance(time.Hour)
	if err := env.budgets.AllowWake(t.Context(), host("h00.example.com", 10, 0), c); err != nil {
		t.Errorf("next hour: refused: %v", err)
	}
}

// TestPrefixBudget: neighbours in one /24 (or /64) share a budget.
func TestPrefixBudget(t *testing.T) {
	for _, net := range []string{"203.0.113.%d", "2001:db8:7:7::%d"} {
		t.Run(net, func(t *testing.T) {
			env := newBudgetEnv(t, BudgetOptions{ClientPerHour: 5, PrefixPerHour: 3})
			for i := range 3 {
				c := clientFor(env.hasher, mustAddr(t, fmt.Sprintf(net, i+1)))
				if err := env.budgets.AllowWake(t.Context(), host(fmt.Sprintf("h%d.example.com", i), 0, 0), c); err != nil {
					t.Fatal(err)
				}
			}
			c := clientFor(env.hasher, mustAddr(t, fmt.Sprintf(net, 99)))
			if be := budgetErr(t, env.budgets.AllowWake(t.Context(), host("x.example.com", 0, 0), c)); be.Budget != BudgetPrefixPerHour {
				t.Errorf("refused by %q, want %q", be.Budget, BudgetPrefixPerHour)
			}
		})
	}
}

// TestRefusalReportsTheLongestWait: when several budgets are exceeded,
// Retry-After is when all of them allow a wake again.
func TestRefusalReportsTheLongestWait(t *testing.T) {
	env := newBudgetEnv(t, BudgetOptions{ClientPerHour: 1})
	h := host("app.example.com", 1, 0)
	c := clientFor(env.hasher, mustAddr(t, "203.0.113.50"))
	if err := env.budgets.AllowWake(t.Context(), h, c); err != nil {
		t.Fatal(err)
	}
	if be := budgetErr(t, env.budgets.AllowWake(t.Context(), h, c)); be.Budget != BudgetHostPerDay {
		t.Errorf("refused by %q, want the day budget (longest wait)", be.Budget)
	}
}

func TestConcurrentStarts(t *testing.T) {
	env := newBudgetEnv(t, BudgetOptions{MaxConcurrentStarts: 2})
	ctx := t.Context()
	setState := func(name string, s controller.State) {
		t.Helper()
		cur, err := env.store.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		next := cur
		next.Host, next.State = name, s
		if _, ok, err := env.store.CompareAndSwap(ctx, cur.Version, next); err != nil || !ok {
			t.Fatalf("set %s %s: ok=%v err=%v", name, s, ok, err)
		}
	}
	setState("a.example.com", controller.StateStarting)
	setState("b.example.com", controller.StateStarting)
	setState("c.example.com", controller.StateRunning)
	c := clientFor(env.hasher, mustAddr(t, "203.0.113.50"))
	be := budgetErr(t, env.budgets.AllowWake(ctx, host("d.example.com", 0, 0), c))
	if be.Budget != BudgetConcurrentStarts || be.RetryAfter != ConcurrentRetryAfter {
		t.Errorf("refusal = %+v", be)
	}
	if u, _ := env.budgets.HostUsage(ctx, host("d.example.com", 0, 0)); u.Day != 0 {
		t.Error("a wake refused for concurrency was counted")
	}
	setState("a.example.com", controller.StateRunning)
	if err := env.budgets.AllowWake(ctx, host("d.example.com", 0, 0), c); err != nil {
		t.Errorf("a slot is free, yet: %v", err)
	}
}

// TestHoneypotBlocksNextWake: a client that followed the honeypot link
// cannot wake anything for 24h, across midnight (when its key rotates);
// its neighbours can.
func TestHoneypotBlocksNextWake(t *testing.T) {
	env := newBudgetEnv(t, BudgetOptions{})
	ctx := t.Context()
	env.clock.Set(time.Date(2030, 6, 15, 22, 0, 0, 0, time.UTC)) // two hours before the key rotates
	bad := mustAddr(t, "203.0.113.66")
	if err := env.budgets.Honeypot(ctx, "app.example.com", bad); err != nil {
		t.Fatal(err)
	}
	h := host("app.example.com", 0, 0)
	for _, at := range []time.Duration{0, time.Hour, 3 * time.Hour, 23*time.Hour + 59*time.Minute} {
		env.clock.Set(time.Date(2030, 6, 15, 22, 0, 0, 0, time.UTC).Add(at))
		err := env.budgets.AllowWake(ctx, h, clientFor(env.hasher, bad))
		if !errors.Is(err, ErrBlocked) || !errors.Is(err, controller.ErrWakeRefused) {
			t.Fatalf("%s after the honeypot: err = %v, want ErrBlocked", at, err)
		}
		if err := env.budgets.AllowWake(ctx, h, clientFor(env.hasher, mustAddr(t, "203.0.113.67"))); err != nil {
			t.Fatalf("a neighbour was blocked too: %v", err)
		}
	}
	if u, _ := env.budgets.HostUsage(ctx, h); u.Day+u.Hour == 0 {
		t.Error("the neighbours' wakes were not counted")
	}
	env.clock.Set(time.Date(2030, 6, 16, 22, 0, 1, 0, time.UTC))
	if err := env.budgets.AllowWake(ctx, h, clientFor(env.hasher, bad)); err != nil {
		t.Errorf("24h later still refused: %v", err)
	}
}

// TestHoneypotMarksOneAddressOnOneHost: the mark is as narrow as it can
// be, since anyone who can make a browser request the link can lock that
// browser out: the same host from the same address is refused; another
// address in the visitor's /64 (a whole network, often) and another host
// from the same address are not.
func TestHoneypotMarksOneAddressOnOneHost(t *testing.T) {
	env := newBudgetEnv(t, BudgetOptions{})
	h := host("app.example.com", 0, 0)
	bad := mustAddr(t, "2001:db8:5:6::1")
	if err := env.budgets.Honeypot(t.Context(), h.Name, bad); err != nil {
		t.Fatal(err)
	}
	if err := env.budgets.AllowWake(t.Context(), h, clientFor(env.hasher, bad)); !errors.Is(err, ErrBlocked) || !errors.Is(err, controller.ErrClientBlocked) {
		t.Errorf("same address, same host: err = %v, want ErrBlocked", err)
	}
	if err := env.budgets.AllowWake(t.Context(), h, clientFor(env.hasher, mustAddr(t, "2001:db8:5:6:abcd::99"))); err != nil {
		t.Errorf("another address of the same /64 blocked: %v", err)
	}
	if err := env.budgets.AllowWake(t.Context(), host("other.example.com", 0, 0), clientFor(env.hasher, bad)); err != nil {
		t.Errorf("another host blocked for the same address: %v", err)
	}
}

// TestIsOwnNavigation: only the visitor's own top-level navigation on the
// site counts; what another site makes the browser fetch does not.
func TestIsOwnNavigation(t *testing.T) {
	tests := []struct {
		name             string
		site, mode, dest string
		want             bool
	}{
		{"a link on the site's own page", "same-origin", "navigate", "document", true},
		{"opened from outside the browser (a mailed or messaged link), typed or bookmarked", "none", "navigate", "document", false},
		{"<img src> on another site", "cross-site", "no-cors", "image", false},
		{"a link on another site", "cross-site", "navigate", "document", false},
		{"<img src> on the same site", "same-origin", "no-cors", "image", false},
		{"an iframe", "same-origin", "navigate", "iframe", false},
		{"a sibling subdomain's link", "same-site", "navigate", "document", false},
		{"fetch()", "same-origin", "cors", "empty", false},
		{"no Fetch Metadata (old browser, script)", "", "", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/.waitingroom/more", nil)
		for k, v := range map[string]string{"Sec-Fetch-Site": tt.site, "Sec-Fetch-Mode": tt.mode, "Sec-Fetch-Dest": tt.dest} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		if got := IsOwnNavigation(r); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHoneypotNeedsHasher(t *testing.T) {
	b := NewBudgets(memory.New(nil), BudgetOptions{}, nil)
	if err := b.Honeypot(context.Background(), "app.example.com", mustAddr(t, "203.0.113.1")); err == nil {
		t.Error("Honeypot without a Hasher did not fail")
	}
}

// TestExemptSourcesAreCountedNotRefused: the operator's own wakes
// (dashboard, admin API, warm windows) go through whatever the budgets say,
// and count towards them.
func TestExemptSourcesAreCountedNotRefused(t *testing.T) {
	env := newBudgetEnv(t, BudgetOptions{})
	h := host("app.example.com", 1, 0)
	for range 3 {
		if err := env.budgets.AllowWake(t.Context(), h, controller.Client{Source: "dashboard"}); err != nil {
			t.Fatalf("dashboard wake refused: %v", err)
		}
	}
	if u, _ := env.budgets.HostUsage(t.Context(), h); u.Day != 3 {
		t.Errorf("dashboard wakes counted %d, want 3", u.Day)
	}
	if err := env.budgets.AllowWake(t.Context(), h, clientFor(env.hasher, mustAddr(t, "203.0.113.1"))); err == nil {
		t.Error("a public wake passed a used-up budget")
	}
}

// TestUnknownClientStillHostLimited: a request whose address is unknown
// (no key) skips client limits but not the host budget.
func TestUnknownClientStillHostLimited(t *testing.T) {
	env := newBudgetEnv(t, BudgetOptions{ClientPerHour: 1})
	h := host("app.example.com", 1, 0)
	anon := controller.Client{Source: "page", Class: "browser"}
	if err := env.budgets.AllowWake(t.Context(), h, anon); err != nil {
		t.Fatal(err)
	}
	if be := budgetErr(t, env.budgets.AllowWake(t.Context(), h, anon)); be.Budget != BudgetHostPerDay {
		t.Errorf("refused by %q", be.Budget)
	}
}

// failingStore is unreachable for every counter operation.
type failingStore struct{ controller.Store }

func (failingStore) Count(context.Context, string, time.Duration) (int64, error) {
	return 0, controller.ErrStoreUnavailable
}

func (failingStore) Incr(context.Context, string, time.Duration) (int64, time.Time, error) {
	return 0, time.Time{}, controller.ErrStoreUnavailable
}

func (failingStore) AcquireLease(context.Context, string, string, time.Duration) (bool, error) {
	return false, controller.ErrStoreUnavailable
}

// TestStoreDownFailsClosed: without its counters, Budgets refuses the wake
// with the store's error (the page says "temporary problem"), not a 429.
func TestStoreDownFailsClosed(t *testing.T) {
	h := NewHasher(testKey, nil)
	b := NewBudgets(failingStore{}, BudgetOptions{Hasher: h, Logger: quiet}, nil)
	for _, c := range []controller.Client{clientFor(h, mustAddr(t, "203.0.113.1")), {Source: "page"}, {Source: "dashboard"}} {
		err := b.AllowWake(t.Context(), host("app.example.com", 5, 0), c)
		if !errors.Is(err, controller.ErrStoreUnavailable) || errors.Is(err, controller.ErrBudgetExceeded) {
			t.Errorf("client %+v: err = %v, want the store's error", c, err)
		}
	}
	if err := b.Honeypot(t.Context(), "app.example.com", mustAddr(t, "203.0.113.1")); !errors.Is(err, controller.ErrStoreUnavailable) {
		t.Errorf("Honeypot err = %v", err)
	}
}

// TestHoneypotMarkDuringChecks: marking while other requests of the same
// client are being checked (each check briefly holds a probe lease) still
// succeeds, and the next wake is blocked.
func TestHoneypotMarkDuringChecks(t *testing.T) {
	env := newBudgetEnv(t, BudgetOptions{})
	bad := mustAddr(t, "203.0.113.66")
	h := host("app.example.com", 0, 0)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 10000 && ctx.Err() == nil; i++ {
			_ = env.budgets.AllowWake(ctx, h, clientFor(env.hasher, bad))
		}
	}()
	err := env.budgets.Honeypot(t.Context(), "app.example.com", bad)
	cancel()
	<-done
	if err != nil {
		t.Fatalf("Honeypot during checks: %v", err)
	}
	if err := env.budgets.AllowWake(t.Context(), h, clientFor(env.hasher, bad)); !errors.Is(err, ErrBlocked) {
		t.Errorf("after the mark: err = %v, want ErrBlocked", err)
	}
}
