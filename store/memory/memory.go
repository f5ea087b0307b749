// Package memory is the embedded controller.Store: everything in this
// process's memory, lost on restart. It is the default when no Redis is
// configured and suits a single replica.
package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// wakeHistory is how many wake records are kept per host.
const wakeHistory = 100

// subscriberBuffer is how many events a subscriber may fall behind before
// it starts missing them.
const subscriberBuffer = 64

// sweepEvery is how many Incr calls pass between removals of expired
// counters, so counters keyed on client addresses do not pile up.
const sweepEvery = 256

var _ controller.Store = (*Store)(nil)

// errClosed is returned by Subscribe after Close.
var errClosed = fmt.Errorf("memory store closed: %w", controller.ErrStoreUnavailable)

// Store is an in-memory controller.Store, safe for concurrent use.
type Store struct {
	clock controller.Clock

	mu       sync.Mutex
	records  map[string]controller.Record
	wakes    map[string][]controller.WakeRecord // oldest first
	changes  map[string][]controller.Transition // oldest first
	counters map[counterID]counter
	incrs    int
	leases   map[string]lease
	subs     map[*subscriber]struct{}
	closed   bool
}

type counter struct {
	start time.Time // the window this count belongs to
	ends  time.Time
	count int64
}

// counterID names a key's counter in windows of one length: an hourly and
// a daily budget may share a key.
type counterID struct {
	key    string
	window time.Duration
}

type lease struct {
	owner   string
	expires time.Time
}

type subscriber struct {
	ch chan controller.Event
}

// New returns an empty store. The clock decides counter windows and lease
// expiry, so tests can move time; nil means the system clock.
func New(clock controller.Clock) *Store {
	if clock == nil {
		clock = controller.SystemClock{}
	}
	return &Store{
		clock:    clock,
		records:  map[string]controller.Record{},
		wakes:    map[string][]controller.WakeRecord{},
		changes:  map[string][]controller.Transition{},
		counters: map[counterID]counter{},
		leases:   map[string]lease{},
		subs:     map[*subscriber]struct{}{},
	}
}

// Get returns the host's record, or an unknown record at version 0.
func (s *Store) Get(_ context.Context, host string) (controller.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(host), nil
}

func (s *Store) getLocked(host string) controller.Record {
	rec, ok := s.records[host]
	if !ok {
		return controller.Record{Host: host, State: controller.StateUnknown}
	}
	return rec
}

// List returns every stored record, sorted by host.
func (s *Store) List(_ context.Context) ([]controller.Record, error) {
	s.mu.Lock()
	out := make([]controller.Record, 0, len(s.records))
	for _, rec := range s.records {
		out = append(out, rec)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b controller.Record) int { return cmp.Compare(a.Host, b.Host) })
	return out, nil
}

// CompareAndSwap stores next's state fields if the stored version equals
// expectedVersion. Activity stays as stored. On failure the current record
// is returned with ok false.
func (s *Store) CompareAndSwap(_ context.Context, expectedVersion uint64, next controller.Record) (controller.Record, bool, error) {
	if next.Host == "" {
		return controller.Record{}, false, errors.New("memory store: compare-and-swap: record has no host")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.getLocked(next.Host)
	if cur.Version != expectedVersion {
		return cur, false, nil
	}
	if next.State == "" {
		next.State = controller.StateUnknown
	}
	next.Version = cur.Version + 1
	next.LastActivity = cur.LastActivity
	next.ActivitySource = cur.ActivitySource
	s.records[next.Host] = next
	return next, true, nil
}

// Touch records activity if it is newer than what is stored. A host never
// stored gets a record holding only its activity (state unknown, version 0).
func (s *Store) Touch(_ context.Context, host string, a controller.Activity) error {
	if host == "" {
		return errors.New("memory store: touch: no host")
	}
	if a.At.IsZero() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.getLocked(host)
	if !rec.LastActivity.IsZero() && !a.At.After(rec.LastActivity) {
		return nil
	}
	rec.LastActivity = a.At
	rec.ActivitySource = a.Source
	s.records[host] = rec
	return nil
}

// Delete forgets the host's record and wake history.
func (s *Store) Delete(_ context.Context, host string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, host)
	delete(s.wakes, host)
	delete(s.changes, host)
	return nil
}

// AddWake appends to the host's history, keeping the newest 100.
func (s *Store) AddWake(_ context.Context, w controller.WakeRecord) error {
	if w.Host == "" {
		return errors.New("memory store: add wake: record has no host")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := append(s.wakes[w.Host], w)
	if len(h) > wakeHistory {
		// Copy rather than reslice so the dropped entries can be freed.
		h = slices.Clone(h[len(h)-wakeHistory:])
	}
	s.wakes[w.Host] = h
	return nil
}

// Wakes returns up to limit entries, newest first; limit <= 0 means all
// that are kept.
func (s *Store) Wakes(_ context.Context, host string, limit int) ([]controller.WakeRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.wakes[host]
	if limit <= 0 || limit > len(h) {
		limit = len(h)
	}
	out := make([]controller.WakeRecord, 0, limit)
	for i := len(h) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, h[i])
	}
	return out, nil
}

// AddTransition records t in time order, keeping TransitionRetention
// before the newest record (and the newest record older than that) and at
// most TransitionCap records.
func (s *Store) AddTransition(_ context.Context, t controller.Transition) error {
	if t.Host == "" {
		return errors.New("memory store: add transition: record has no host")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.changes[t.Host]
	// After every record at the same time or earlier: usually the end.
	i, _ := slices.BinarySearchFunc(h, t.At, func(e controller.Transition, at time.Time) int {
		if e.At.After(at) {
			return 1
		}
		return -1
	})
	h = slices.Insert(h, i, t)
	cutoff := h[len(h)-1].At.Add(-controller.TransitionRetention)
	old := 0
	for old < len(h) && h[old].At.Before(cutoff) {
		old++
	}
	drop := max(len(h)-controller.TransitionCap, old-1, 0)
	if drop > 0 {
		// Copy rather than reslice so the dropped entries can be freed.
		h = slices.Clone(h[drop:])
	}
	s.changes[t.Host] = h
	return nil
}

// Transitions returns the host's records at or after since, oldest first.
func (s *Store) Transitions(_ context.Context, host string, since time.Time) ([]controller.Transition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.changes[host]
	i, _ := slices.BinarySearchFunc(h, since, func(e controller.Transition, at time.Time) int {
		if e.At.Before(at) {
			return -1
		}
		return 1
	})
	return slices.Clone(h[i:]), nil
}

// window returns the fixed window of length d that contains now.
func window(now time.Time, d time.Duration) (start, ends time.Time) {
	start = now.Truncate(d)
	return start, start.Add(d)
}

// Incr counts one more in the key's current window.
func (s *Store) Incr(_ context.Context, key string, win time.Duration) (int64, time.Time, error) {
	if win <= 0 {
		return 0, time.Time{}, fmt.Errorf("memory store: incr %s: window %s is not positive", key, win)
	}
	now := s.clock.Now()
	start, ends := window(now, win)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.incrs++
	if s.incrs%sweepEvery == 0 {
		for k, c := range s.counters {
			if !now.Before(c.ends) {
				delete(s.counters, k)
			}
		}
	}
	id := counterID{key, win}
	c := s.counters[id]
	if !c.start.Equal(start) {
		c = counter{start: start, ends: ends}
	}
	c.count++
	s.counters[id] = c
	return c.count, ends, nil
}

// Count reads the key's count in its current window.
func (s *Store) Count(_ context.Context, key string, win time.Duration) (int64, error) {
	if win <= 0 {
		return 0, fmt.Errorf("memory store: count %s: window %s is not positive", key, win)
	}
	start, _ := window(s.clock.Now(), win)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[counterID{key, win}]
	if !ok || !c.start.Equal(start) {
		return 0, nil
	}
	return c.count, nil
}

// AcquireLease takes or renews the named lease for owner.
func (s *Store) AcquireLease(_ context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("memory store: lease %s: ttl %s is not positive", name, ttl)
	}
	if owner == "" {
		return false, fmt.Errorf("memory store: lease %s: no owner", name)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l, held := s.leases[name]
	if held && now.Before(l.expires) && l.owner != owner {
		return false, nil
	}
	s.leases[name] = lease{owner: owner, expires: now.Add(ttl)}
	return true, nil
}

// ReleaseLease drops the lease if owner holds it.
func (s *Store) ReleaseLease(_ context.Context, name, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok && l.owner == owner {
		delete(s.leases, name)
	}
	return nil
}

// Publish hands e to every subscriber that has room for it.
func (s *Store) Publish(_ context.Context, e controller.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		select {
		case sub.ch <- e:
		default: // a slow subscriber misses the event; publishers never wait
		}
	}
	return nil
}

// Subscribe delivers events published from now on until ctx is done or
// the store is closed; the channel is closed then.
func (s *Store) Subscribe(ctx context.Context) (<-chan controller.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	sub := &subscriber{ch: make(chan controller.Event, subscriberBuffer)}
	s.subs[sub] = struct{}{}
	context.AfterFunc(ctx, func() { s.unsubscribe(sub) })
	return sub.ch, nil
}

func (s *Store) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.ch)
	}
}

// Ping always succeeds: memory is always there.
func (s *Store) Ping(context.Context) error { return nil }

// Close ends every subscription. The data stays readable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for sub := range s.subs {
		delete(s.subs, sub)
		close(sub.ch)
	}
	return nil
}
