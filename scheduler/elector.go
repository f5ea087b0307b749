package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// errNotLeader tells gocron to skip a run on this replica.
var errNotLeader = errors.New("another replica holds the scheduler lease")

// elector is a gocron.Elector built on a lease in the store. Each job run
// asks the store (IsLeader acquires or renews), so a replica that lost the
// lease never runs a job on a stale belief; between runs, campaign renews
// the lease every third of its TTL so leadership stays put instead of
// passing to whichever replica ticks first after it expired.
type elector struct {
	leases Leases
	name   string
	owner  string
	ttl    time.Duration
	log    *slog.Logger
	leader atomic.Bool
}

var _ gocron.Elector = (*elector)(nil)

func newElector(l Leases, name, owner string, ttl time.Duration, log *slog.Logger) *elector {
	if name == "" {
		name = DefaultLeaseName
	}
	if owner == "" {
		owner = newID()
	}
	if ttl == 0 {
		ttl = DefaultLeaseTTL
	}
	return &elector{leases: l, name: name, owner: owner, ttl: ttl, log: log}
}

// IsLeader implements gocron.Elector.
func (e *elector) IsLeader(ctx context.Context) error {
	ok, err := e.acquire(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errNotLeader
	}
	return nil
}

func (e *elector) acquire(ctx context.Context) (bool, error) {
	ok, err := e.leases.AcquireLease(ctx, e.name, e.owner, e.ttl)
	if err != nil && ctx.Err() != nil {
		return false, err // shutting down, or a run cut short: no news
	}
	if err != nil {
		// Unreachable store: nobody can be sure who leads, so do not
		// act; the jobs run again once the store answers.
		e.set(false, err)
		return false, fmt.Errorf("scheduler lease %q: %w", e.name, err)
	}
	e.set(ok, nil)
	return ok, nil
}

func (e *elector) set(leading bool, err error) {
	if e.leader.Swap(leading) == leading {
		return
	}
	switch {
	case leading:
		e.log.Info("this replica now runs the scheduler", "lease", e.name, "owner", e.owner)
	case err != nil:
		e.log.Warn("scheduler leadership lost: store unreachable", "lease", e.name, "owner", e.owner, "err", err)
	default:
		e.log.Info("another replica runs the scheduler", "lease", e.name, "owner", e.owner)
	}
}

func (e *elector) leading() bool { return e.leader.Load() }

// campaign keeps acquiring or renewing the lease until ctx is done.
func (e *elector) campaign(ctx context.Context) {
	every := max(e.ttl/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, every)
		_, _ = e.acquire(actx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resign releases the lease if this replica holds it.
func (e *elector) resign(ctx context.Context) error {
	e.leader.Store(false)
	return e.leases.ReleaseLease(ctx, e.name, e.owner)
}
