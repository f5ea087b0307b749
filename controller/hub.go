package controller

import (
	"context"
	"sync"
)

// hub fans events out to this process's subscribers (SSE streams).
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	host string
	ch   chan Event
}

// subscriberBuffer is each subscription's channel capacity.
const subscriberBuffer = 4

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

func (h *hub) subscribe(ctx context.Context, host string) <-chan Event {
	// A small buffer: one per open event stream, so it is paid thousands
	// of times; a page needs only the newest state, and a subscriber that
	// falls behind misses events by design (publish never blocks).
	s := &subscriber{host: host, ch: make(chan Event, subscriberBuffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.subs, s)
		close(s.ch)
		h.mu.Unlock()
	})
	return s.ch
}

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.host != "" && s.host != e.Host {
			continue
		}
		select {
		case s.ch <- e:
		default: // a slow subscriber misses an event rather than blocking
		}
	}
}
