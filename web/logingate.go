package web

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// loginGate bounds the password checks in progress, for the whole
// listener. A bcrypt comparison at cost 12 is a quarter of a second of one
// core; the per-address rate limit does not bound the total, because an
// attacker with many addresses (any IPv6 /48 holds 65,536 /64s) sends many
// at once. Unbounded, 40 concurrent wrong logins took every core for half
// a minute and slowed the public listener from ~2 ms to ~2 s.
//
// At most slots checks run at once; up to queue more wait, each at most
// wait; anything beyond is refused at once (503 and Retry-After), costing
// nothing. A flood therefore costs at most slots cores, the public listener
// keeps the rest, and every login attempt is answered within wait plus one
// check; an operator whose attempt was refused in a flood retries a second
// later.
type loginGate struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	wait    time.Duration
}

// Defaults of the login gate: half the cores (at least one), four waiting
// per slot, one second of waiting.
func defaultLoginSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

const (
	loginQueuePerSlot = 4
	DefaultLoginWait  = time.Second
)

func newLoginGate(slots, queue int, wait time.Duration) *loginGate {
	return &loginGate{slots: make(chan struct{}, slots), queue: int64(queue), wait: wait}
}

// enter takes a slot, waiting at most g.wait behind at most g.queue
// others; ok is false when none came free (or ctx ended). The caller calls
// release when its check is done.
func (g *loginGate) enter(ctx context.Context) (release func(), ok bool) {
	release = func() { <-g.slots }
	select {
	case g.slots <- struct{}{}:
		return release, true
	default:
	}
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return nil, false
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return release, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}
