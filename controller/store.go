package controller

import (
	"context"
	"errors"
	"time"
)

// The store's roles. A consumer takes the roles it uses (guard's budgets:
// Counters, Leases and Records' List; the scheduler: Leases), so a fake
// implements only those; Store is all of them, what an implementation
// provides and the controller uses.

// Records hold each host's state record, changed by compare-and-set.
type Records interface {
	// Get returns the host's record; a host never stored has State
	// StateUnknown and Version 0, and no error.
	Get(ctx context.Context, host string) (Record, error)
	// List returns every stored record.
	List(ctx context.Context) ([]Record, error)
	// CompareAndSwap stores next if the stored version equals
	// expectedVersion (0: never stored). On success the stored record,
	// with its new version, is returned and ok is true. Activity fields of
	// next are ignored: only Touch writes them.
	CompareAndSwap(ctx context.Context, expectedVersion uint64, next Record) (stored Record, ok bool, err error)
	// Delete forgets a host (it was removed from the registry).
	Delete(ctx context.Context, host string) error
}

// ActivityLog records when a host was last used.
type ActivityLog interface {
	// Touch records activity, keeping the newest of what is stored and a.
	Touch(ctx context.Context, host string, a Activity) error
}

// WakeHistory keeps each host's recent wakes.
type WakeHistory interface {
	// AddWake appends to the host's wake history, keeping the newest
	// entries (at least 100).
	AddWake(ctx context.Context, w WakeRecord) error
	// Wakes returns up to limit entries of the host's history, newest first.
	Wakes(ctx context.Context, host string, limit int) ([]WakeRecord, error)
}

// StateHistory keeps each host's state changes: the stops and wakes the
// dashboard's timeline and savings are computed from.
type StateHistory interface {
	// AddTransition records a state change. Records older than
	// TransitionRetention before the newest one are dropped, except the
	// newest of them (it says which state the retained period began in),
	// and at most TransitionCap are kept per host (the oldest go first).
	AddTransition(ctx context.Context, t Transition) error
	// Transitions returns the host's records at or after since, oldest
	// first.
	Transitions(ctx context.Context, host string, since time.Time) ([]Transition, error)
}

// Counters count in fixed windows: budgets and rate limits.
type Counters interface {
	// Incr adds one to the counter key in the fixed window of the given
	// length that contains now, returning the new count and when the
	// window ends. Budgets and rate limits are built on it.
	Incr(ctx context.Context, key string, window time.Duration) (count int64, resets time.Time, err error)
	// Count reads a counter without changing it.
	Count(ctx context.Context, key string, window time.Duration) (int64, error)
}

// Leases are named, expiring locks shared by replicas.
type Leases interface {
	// AcquireLease takes the named lease for owner, or renews it when owner
	// already holds it. It fails (false, nil) while another owner holds it.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
}

// EventBus carries state changes to every replica.
type EventBus interface {
	// Publish sends an event to every subscriber, on every replica.
	Publish(ctx context.Context, e Event) error
	// Subscribe delivers published events until ctx is done; the channel
	// is closed then. A slow subscriber may miss events, never blocks
	// publishers.
	Subscribe(ctx context.Context) (<-chan Event, error)
}

// Store is every role, as one implementation (memory, Redis) provides
// them; store/storetest is the contract of each.
type Store interface {
	Records
	ActivityLog
	WakeHistory
	StateHistory
	Counters
	Leases
	EventBus
	// Ping reports whether the store is reachable (/readyz).
	Ping(ctx context.Context) error
	Close() error
}

// ErrStoreUnavailable marks a store that cannot be reached right now.
// Implementations wrap their transport errors with it.
var ErrStoreUnavailable = errors.New("store unavailable")

// Clock is the controller's source of time, injectable so tests control it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
