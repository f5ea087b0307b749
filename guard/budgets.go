package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// Names of the budgets, as BudgetError.Budget carries them (and the page
// shows them).
const (
	BudgetHostPerDay       = "host per day"
	BudgetHostPerHour      = "host per hour"
	BudgetClientPerHour    = "client per hour"
	BudgetPrefixPerHour    = "prefix per hour"
	BudgetConcurrentStarts = "concurrent starts"
)

// ErrBlocked refuses a wake from a client that followed the honeypot link
// of that host. It wraps controller.ErrClientBlocked (and so
// ErrWakeRefused): the client still gets the page, which says why.
var ErrBlocked = fmt.Errorf("client followed the honeypot link: %w", controller.ErrClientBlocked)

// HoneypotPath is where the waiting page's invisible honeypot link points.
// It lies under the path space the public listener keeps for itself, so
// it never reaches a backend.
const HoneypotPath = "/.waitingroom/more"

// DefaultHoneypotBlock is how long a honeypot visitor cannot wake anything.
const DefaultHoneypotBlock = 24 * time.Hour

// ConcurrentRetryAfter is the Retry-After of a wake refused because too
// many backends are starting: starts usually finish within seconds, and
// there is no window to wait for.
const ConcurrentRetryAfter = 15 * time.Second

// DefaultExemptSources are controller.Client.Source values that budgets
// count but never refuse: the operator asked for these wakes (dashboard,
// admin API, warm windows from the configuration).
func DefaultExemptSources() []string { return []string{"dashboard", "admin", "warm"} }

// BudgetOptions sets the limits. Zero means no limit. A host's own
// budgets are the host's (controller.Host.MaxWakesPerDay/PerHour): the
// configuration resolves their defaults, so guard enforces exactly what
// the host says and a reload that changes them applies at once.
type BudgetOptions struct {
	// ClientPerHour caps wakes per client address across all hosts;
	// PrefixPerHour per /24 or /64.
	ClientPerHour, PrefixPerHour int
	// MaxConcurrentStarts caps hosts in state starting, cluster-wide.
	MaxConcurrentStarts int
	// HoneypotBlock is how long a honeypot visitor cannot wake anything
	// (default DefaultHoneypotBlock).
	HoneypotBlock time.Duration
	// Hasher keys honeypot marks; required for Honeypot.
	Hasher *Hasher
	// ExemptSources are never refused (still counted). nil:
	// DefaultExemptSources; empty non-nil: nobody is exempt.
	ExemptSources []string
	Logger        *slog.Logger // default slog.Default()
}

// BudgetStore is what Budgets needs of the store: its counters, leases
// (the honeypot's blocks) and the records' list (concurrent starts).
type BudgetStore interface {
	controller.Counters
	controller.Leases
	List(ctx context.Context) ([]controller.Record, error)
}

// Budgets is the controller.WakeGate that caps wakes: per host per day and
// per hour, per client and per client network per hour, concurrent starts
// cluster-wide, and honeypot visitors. Every counter lives in the Store, so
// replicas sharing Redis share the budgets.
//
// A wake is checked in two passes. First everything is read without
// changing anything (honeypot mark, every counter, the number of hosts
// starting), so a wake refused by one budget does not use up another.
// Then the counters are incremented, host per day first; since INCR is
// atomic, a counter that went over its limit in a race between replicas
// refuses the wake after all: a host budget is never exceeded, at the cost
// that a wake refused in such a race has used up one unit of the budgets
// incremented before it.
//
// The store being unreachable refuses the wake with that error (not a
// BudgetError): a wake costs money, so budgets fail closed.
type Budgets struct {
	store  BudgetStore
	opts   BudgetOptions
	clock  controller.Clock
	log    *slog.Logger
	exempt []string
}

var _ controller.WakeGate = (*Budgets)(nil)

// NewBudgets returns Budgets counting in store. A nil clock is the system
// clock; it must be the store's clock (the store cuts the windows).
func NewBudgets(store BudgetStore, opts BudgetOptions, clock controller.Clock) *Budgets {
	if clock == nil {
		clock = controller.SystemClock{}
	}
	if opts.HoneypotBlock <= 0 {
		opts.HoneypotBlock = DefaultHoneypotBlock
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	exempt := opts.ExemptSources
	if exempt == nil {
		exempt = DefaultExemptSources()
	}
	return &Budgets{store: store, opts: opts, clock: clock, log: log, exempt: slices.Clone(exempt)}
}

// Store keys. Host names are not personal data; client keys are hashes
// that rotate daily (see KeyRotation).
func hostCounter(host string) string                     { return "wake:host:" + host }
func clientCounter(k string) string                      { return "wake:client:" + k }
func prefixCounter(k string) string                      { return "wake:prefix:" + k }
func windowEnd(now time.Time, w time.Duration) time.Time { return now.Truncate(w).Add(w) }

// honeypotLease names the honeypot mark of an address key on one host
// ("" for no key).
func honeypotLease(host, k string) string {
	if k == "" {
		return ""
	}
	return "honeypot:" + host + ":" + k
}

// honeypotOwner holds honeypot leases; probeOwner only ever holds one for
// the instant of a check.
const (
	honeypotOwner = "honeypot"
	probeOwner    = "honeypot-probe"
)

// limit is one counter a wake must stay within.
type limit struct {
	budget string
	key    string
	window time.Duration
	max    int // 0: counted, not limited
}

// limits lists the counters that apply to a wake of h by c, host per day
// first: it is the budget that must hold above all.
func (b *Budgets) limits(h controller.Host, c controller.Client) []limit {
	// Host counters are kept even without a limit, so HostUsage can
	// show how often a host woke.
	ls := make([]limit, 0, 4)
	ls = append(ls,
		limit{BudgetHostPerDay, hostCounter(h.Name), 24 * time.Hour, max(h.MaxWakesPerDay, 0)},
		limit{BudgetHostPerHour, hostCounter(h.Name), time.Hour, max(h.MaxWakesPerHour, 0)})
	addrKey, prefixKey := SplitClientKey(c.Key)
	if addrKey != "" && b.opts.ClientPerHour > 0 {
		ls = append(ls, limit{BudgetClientPerHour, clientCounter(addrKey), time.Hour, b.opts.ClientPerHour})
	}
	if prefixKey != "" && b.opts.PrefixPerHour > 0 {
		ls = append(ls, limit{BudgetPrefixPerHour, prefixCounter(prefixKey), time.Hour, b.opts.PrefixPerHour})
	}
	return ls
}

// AllowWake implements controller.WakeGate. The controller calls it only
// when the wake would start the backend, so waking a starting or running
// host costs nothing.
func (b *Budgets) AllowWake(ctx context.Context, h controller.Host, c controller.Client) error {
	ls := b.limits(h, c)
	if slices.Contains(b.exempt, c.Source) && c.Source != "" {
		for _, l := range ls[:2] { // the host counters
			if _, _, err := b.store.Incr(ctx, l.key, l.window); err != nil {
				return fmt.Errorf("wake budget %s of %s: %w", l.budget, h.Name, err)
			}
		}
		return nil
	}

	// Pass 1: read only.
	addrKey, _ := SplitClientKey(c.Key)
	if lease := honeypotLease(h.Name, addrKey); lease != "" {
		blocked, err := b.blocked(ctx, lease)
		if err != nil {
			return err
		}
		if blocked {
			return ErrBlocked
		}
	}
	now := b.clock.Now()
	var refused *controller.BudgetError
	for _, l := range ls {
		if l.max <= 0 {
			continue
		}
		n, err := b.store.Count(ctx, l.key, l.window)
		if err != nil {
			return fmt.Errorf("wake budget %s of %s: %w", l.budget, h.Name, err)
		}
		if n >= int64(l.max) {
			refused = later(refused, &controller.BudgetError{Budget: l.budget, RetryAfter: windowEnd(now, l.window).Sub(now)})
		}
	}
	if refused != nil {
		return refused
	}
	if err := b.concurrent(ctx, h); err != nil {
		return err
	}

	// Pass 2: count the wake.
	for _, l := range ls {
		n, resets, err := b.store.Incr(ctx, l.key, l.window)
		if err != nil {
			return fmt.Errorf("wake budget %s of %s: %w", l.budget, h.Name, err)
		}
		if l.max > 0 && n > int64(l.max) {
			b.log.Info("wake refused: budget used up by a concurrent wake", "host", h.Name, "budget", l.budget)
			return &controller.BudgetError{Budget: l.budget, RetryAfter: max(resets.Sub(b.clock.Now()), 0)}
		}
	}
	return nil
}

// later keeps the refusal that lasts longer: a wake is possible again only
// when every exceeded budget has reset.
func later(a, b *controller.BudgetError) *controller.BudgetError {
	if a == nil || b.RetryAfter > a.RetryAfter {
		return b
	}
	return a
}

// concurrent refuses the wake when MaxConcurrentStarts hosts are starting.
//
// It counts records in state starting with Store.List rather than keeping
// a counter of its own: the records are the truth, shared by every replica,
// and a replica that dies mid-start cannot leak a slot (its host is
// reconciled out of starting). The price is a soft cap: List and the
// controller's compare-and-set are not one atomic step, so wakes of
// different hosts racing in the same instant can exceed the cap by the
// number of racers (wakes of one host collapse into one start anyway).
// Reading every record costs one round trip per host, paid only when a
// wake would really start something.
func (b *Budgets) concurrent(ctx context.Context, h controller.Host) error {
	if b.opts.MaxConcurrentStarts <= 0 {
		return nil
	}
	recs, err := b.store.List(ctx)
	if err != nil {
		return fmt.Errorf("wake budget %s: %w", BudgetConcurrentStarts, err)
	}
	starting := 0
	for _, r := range recs {
		if r.State == controller.StateStarting && r.Host != h.Name {
			starting++
		}
	}
	if starting >= b.opts.MaxConcurrentStarts {
		return &controller.BudgetError{Budget: BudgetConcurrentStarts, RetryAfter: ConcurrentRetryAfter}
	}
	return nil
}

// blocked reports whether the honeypot mark named lease is set.
//
// A mark is a lease (it expires exactly HoneypotBlock after the visit,
// where a fixed-window counter would end at a window boundary). The Store
// has no way to read a lease, so the check takes the lease under a probe
// owner: a mark makes that fail; otherwise the probe lease is given back
// at once (and would expire within a millisecond anyway).
func (b *Budgets) blocked(ctx context.Context, name string) (bool, error) {
	free, err := b.store.AcquireLease(ctx, name, probeOwner, time.Millisecond)
	if err != nil {
		return false, fmt.Errorf("honeypot check: %w", err)
	}
	if !free {
		return true, nil
	}
	if err := b.store.ReleaseLease(ctx, name, probeOwner); err != nil {
		b.log.Debug("honeypot probe not released; it expires by itself", "err", err)
	}
	return false, nil
}

// Honeypot marks the client at addr on host: it cannot wake host for
// HoneypotBlock. The web layer calls it when a visitor's own navigation
// follows the invisible honeypot link of host's page (IsOwnNavigation):
// never for an <img> or a link on another site, nor a prefetch.
//
// The mark is as narrow as it can be, because whoever can make a browser
// request the link can lock that browser out: one address (not its /24,
// which may be an office or a carrier's NAT, nor its IPv6 /64, which may be
// a whole network), one host (not every host behind waitingroom). A
// crawler that rotates addresses inside its network is still held by the
// per-prefix budget (prefix_wakes_per_hour).
//
// Client keys change every KeyRotation, so the mark is written under the
// key of every period the block reaches into (today's and tomorrow's for a
// 24h block): the block lasts its full length across midnight. The
// address itself is never stored.
func (b *Budgets) Honeypot(ctx context.Context, host string, addr netip.Addr) error {
	if b.opts.Hasher == nil {
		return errors.New("honeypot: BudgetOptions.Hasher is not set")
	}
	if !addr.IsValid() {
		return nil
	}
	now := b.clock.Now()
	block := b.opts.HoneypotBlock
	for t := now; !t.After(now.Add(block)); t = t.Truncate(KeyRotation).Add(KeyRotation) {
		if err := b.mark(ctx, honeypotLease(host, b.opts.Hasher.keyAt(addr, 0, t)), block); err != nil {
			return err
		}
	}
	return nil
}

// IsOwnNavigation reports whether r is the visitor's own top-level
// navigation within the site, by the Fetch Metadata headers every current
// browser sends: Sec-Fetch-Site same-origin (a link on the site's own page),
// Sec-Fetch-Mode navigate, Sec-Fetch-Dest document. An <img src>, <script>
// or fetch from another site says cross-site and no-cors/image; a request
// without the headers (an older browser, a script) proves nothing, so it is
// not treated as one either. Nor is Sec-Fetch-Site none: besides a typed
// URL or a bookmark (which nobody uses for a link no person sees), browsers
// send it for a link opened from outside the browser, so anyone could mail
// or message the link and lock its reader out.
func IsOwnNavigation(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Site") == "same-origin" &&
		r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document"
}

// mark takes the honeypot lease, retrying briefly while a concurrent
// check holds its probe lease.
func (b *Budgets) mark(ctx context.Context, name string, block time.Duration) error {
	for attempt := 0; ; attempt++ {
		ok, err := b.store.AcquireLease(ctx, name, honeypotOwner, block)
		if err != nil {
			return fmt.Errorf("honeypot mark: %w", err)
		}
		if ok {
			return nil
		}
		if attempt == 20 {
			return errors.New("honeypot mark: the lease stayed busy")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("honeypot mark: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// Usage is how much of a host's budgets is used in the current windows.
type Usage struct {
	Day, Hour int64
	// PerDay and PerHour are the limits that apply (0: none).
	PerDay, PerHour int
}

// HostUsage reads a host's wake counters for the dashboard.
func (b *Budgets) HostUsage(ctx context.Context, h controller.Host) (Usage, error) {
	u := Usage{PerDay: max(h.MaxWakesPerDay, 0), PerHour: max(h.MaxWakesPerHour, 0)}
	var err error
	if u.Day, err = b.store.Count(ctx, hostCounter(h.Name), 24*time.Hour); err != nil {
		return u, fmt.Errorf("wake usage of %s: %w", h.Name, err)
	}
	if u.Hour, err = b.store.Count(ctx, hostCounter(h.Name), time.Hour); err != nil {
		return u, fmt.Errorf("wake usage of %s: %w", h.Name, err)
	}
	return u, nil
}
