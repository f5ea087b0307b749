package hold

import (
	"context"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// watch follows one host's state on behalf of every request held for it:
// one subscription and one periodic read per host, however many requests
// wait. It ends when the state settles (running, failed or stopped), and
// done is closed with the record that settled it; or when its last waiter
// leaves, and then done stays open.
type watch struct {
	done    chan struct{}
	rec     controller.Record // set before done is closed
	cancel  context.CancelFunc
	waiters int // guarded by hostState.mu
}

// settles reports whether a state ends a watch: waiters then forward
// (running), answer (failed) or wake again (stopped).
func settles(s controller.State) bool {
	return s == controller.StateRunning || s == controller.StateFailed || s == controller.StateStopped
}

// join adds the caller to the host's current watch, starting one when none
// runs. After Close it returns a watch that never ends; the caller sees
// the Holder's life end instead.
func (hd *Holder) join(hs *hostState) *watch {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.cur == nil {
		ctx, cancel := context.WithCancel(hd.life)
		wt := &watch{done: make(chan struct{}), cancel: cancel}
		hd.mu.Lock()
		closed := hd.closed
		if !closed {
			hd.wg.Add(1)
		}
		hd.mu.Unlock()
		if closed {
			cancel()
			wt.waiters = 1
			return wt
		}
		hs.cur = wt
		go hd.runWatch(ctx, hs, wt)
	}
	hs.cur.waiters++
	return hs.cur
}

// leave removes the caller from a watch; the last one to leave stops it.
func (hd *Holder) leave(hs *hostState, wt *watch) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	wt.waiters--
	if wt.waiters == 0 {
		wt.cancel()
		if hs.cur == wt {
			hs.cur = nil
		}
	}
}

// resolve ends a watch with the record that settled it. Requests arriving
// from now on start a new watch.
func (hs *hostState) resolve(wt *watch, rec controller.Record) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.cur == wt {
		hs.cur = nil
	}
	wt.rec = rec
	close(wt.done)
}

// runWatch subscribes to the host's state changes, then reads the state
// once (a change between the waiter's wake and the subscription would
// otherwise be missed), then waits for events, reading the state again
// every Recheck in case an event was dropped or the store's event relay is
// down.
func (hd *Holder) runWatch(ctx context.Context, hs *hostState, wt *watch) {
	defer hd.wg.Done()
	events := hd.ctl.Subscribe(ctx, hs.name)
	// check reads the state and ends the watch when it has settled. hint
	// is the state an event announced, used when the store cannot be read.
	check := func(hint controller.State) bool {
		_, rec, err := hd.ctl.Status(ctx, hs.name)
		if ctx.Err() != nil {
			return true
		}
		if err != nil {
			if settles(hint) {
				hs.resolve(wt, controller.Record{Host: hs.name, State: hint})
				return true
			}
			hd.log.Debug("reading state for held requests failed", "host", hs.name, "err", err)
			return false
		}
		if settles(rec.State) {
			hs.resolve(wt, rec)
			return true
		}
		return false
	}
	if check("") {
		return
	}
	tick := time.NewTicker(hd.recheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			if settles(e.To) && check(e.To) {
				return
			}
		case <-tick.C:
			if check("") {
				return
			}
		}
	}
}
