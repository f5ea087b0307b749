package controller

import (
	"context"
	"errors"
	"time"

	"github.com/waitingroom/waitingroom/internal/backoff"
	"github.com/waitingroom/waitingroom/internal/sleep"
)

// storeOutageGrace is how long a wake or stop in progress keeps trying a
// store that is unavailable before it leaves its record to Reconcile. A
// Redis that restarts, or a Sentinel failover to a replica, is back within
// seconds; without waiting, the wake's result would be left unrecorded and
// the host shown starting (or stopping) until the next reconcile.
const storeOutageGrace = time.Minute

// outagePolicy spaces the attempts: soon at first, since a failover often
// ends within a second or two, then every couple of seconds.
var outagePolicy = backoff.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}

// outage follows one job's wait for an unavailable store. Time is real
// time, not the controller's clock: an outage is measured by the wall.
type outage struct {
	since    time.Time
	failures int
}

// retry reports whether to try the store again after err, having waited:
// yes while err is ErrStoreUnavailable, within storeOutageGrace of the
// first such error, and ctx lasts; no for any other error.
func (o *outage) retry(ctx context.Context, err error) bool {
	if !errors.Is(err, ErrStoreUnavailable) {
		return false
	}
	now := time.Now()
	if o.failures == 0 {
		o.since = now
	}
	o.failures++
	if now.Sub(o.since) > storeOutageGrace {
		return false
	}
	return sleep.For(ctx, outagePolicy.Jittered(o.failures)) == nil
}
