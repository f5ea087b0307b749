package controller

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// estimateTTL bounds how long a cached estimate lives without an event: a
// safety net for events lost on the way (a full subscription buffer).
const estimateTTL = 5 * time.Second

// estimates caches Estimate per host. A host's wake history only changes
// when a wake finishes, and every finished wake is followed by an event
// (finishWake: AddWake, then publish), so an event for the host is what
// invalidates its entry.
//
// Only hosts that are "armed" are cached: an event for the host has passed
// through the relay since the current subscription began. Before that,
// nothing proves the subscription would have told us about a change (it
// may have been down, or history may have been written before it began),
// so those reads go to the store every time. A resubscription disarms
// every host.
type estimates struct {
	mu      sync.Mutex
	hosts   map[string]*estimateEntry
	gen     uint64
	pruned  time.Time
	loading singleflight.Group
}

// estimateEntry is one armed host. Invalidation replaces the entry, so a
// load that began before an event cannot store its older answer: it
// stores into an entry that is no longer in the map.
type estimateEntry struct {
	key    string // names its load among concurrent ones
	cached bool
	at     time.Time
	d      time.Duration
	ok     bool
}

func newEstimates() *estimates { return &estimates{hosts: map[string]*estimateEntry{}} }

// arm drops what is cached for host and lets the next Estimate cache again.
// registered bounds the map to the registry's hosts: now and then, hosts
// removed by a reload are dropped.
func (e *estimates) arm(host string, now time.Time, registered func(string) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hosts[host] = e.newEntry()
	if now.Sub(e.pruned) < time.Minute {
		return
	}
	e.pruned = now
	for h := range e.hosts {
		if !registered(h) {
			delete(e.hosts, h)
		}
	}
}

func (e *estimates) newEntry() *estimateEntry {
	e.gen++
	return &estimateEntry{key: strconv.FormatUint(e.gen, 10)}
}

// disarm drops host's entry; it is cached again after its next event.
func (e *estimates) disarm(host string) {
	e.mu.Lock()
	delete(e.hosts, host)
	e.mu.Unlock()
}

// reset disarms every host (the subscription broke: events were missed).
func (e *estimates) reset() {
	e.mu.Lock()
	clear(e.hosts)
	e.mu.Unlock()
}

// get returns the cached estimate, or the entry a load should fill (nil:
// not armed, do not cache).
func (e *estimates) get(host string, now time.Time) (d time.Duration, ok, hit bool, en *estimateEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en = e.hosts[host]
	if en == nil {
		return 0, false, false, nil
	}
	if en.cached && now.Sub(en.at) < estimateTTL && !now.Before(en.at) {
		return en.d, en.ok, true, en
	}
	if en.cached {
		// Expired: a fresh entry, so a load still in flight for the
		// old one cannot overwrite the new answer.
		en = e.newEntry()
		e.hosts[host] = en
	}
	return 0, false, false, en
}

// put stores a loaded estimate if en is still host's entry.
func (e *estimates) put(host string, en *estimateEntry, now time.Time, d time.Duration, ok bool) {
	e.mu.Lock()
	if e.hosts[host] == en {
		en.cached, en.at, en.d, en.ok = true, now, d, ok
	}
	e.mu.Unlock()
}

// Estimate returns the median of the host's last ten successful wake
// durations, or false when it has none. While the event relay runs, the
// answer is cached per host until the next event for it (at most
// estimateTTL): the waiting page asks on every request.
func (c *Controller) Estimate(ctx context.Context, host string) (time.Duration, bool) {
	now := c.clock.Now()
	d, ok, hit, en := c.estimates.get(host, now)
	if hit {
		return d, ok
	}
	if en == nil {
		d, ok, _ := c.loadEstimate(ctx, host)
		return d, ok
	}
	type result struct {
		d  time.Duration
		ok bool
	}
	// Concurrent misses of one entry share one store read; a miss after
	// an event has a new entry, so it never joins a read from before it.
	// The read is detached from a single caller's cancellation: the
	// others wait on it.
	v, _, _ := c.estimates.loading.Do(en.key, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		d, ok, err := c.loadEstimate(lctx, host)
		if err == nil {
			c.estimates.put(host, en, now, d, ok)
		}
		return result{d, ok}, nil
	})
	r, _ := v.(result)
	return r.d, r.ok
}

func (c *Controller) loadEstimate(ctx context.Context, host string) (time.Duration, bool, error) {
	ws, err := c.store.Wakes(ctx, host, 20)
	if err != nil {
		return 0, false, err
	}
	var ds []time.Duration
	for _, w := range ws {
		if w.Result == WakeRunning {
			ds = append(ds, w.Duration)
			if len(ds) == 10 {
				break
			}
		}
	}
	if len(ds) == 0 {
		return 0, false, nil
	}
	slices.Sort(ds)
	return ds[len(ds)/2], true, nil
}
