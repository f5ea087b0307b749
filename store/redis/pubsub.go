package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/waitingroom/waitingroom/controller"
)

// Publish sends e to every subscriber of every replica on this Redis.
func (s *Store) Publish(ctx context.Context, e controller.Event) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("redis store: publish %s: %w", e.Host, err)
	}
	if err := s.client.Publish(ctx, s.channel(), b).Err(); err != nil {
		return s.fail("publish "+e.Host, err)
	}
	return nil
}

// Subscribe delivers events published after it returns, until ctx is
// done, the store is closed, or the connection to Redis breaks: the
// channel is closed then, and the caller subscribes again (controller.Run
// does) once Redis is back. Events published while no subscription exists
// are not replayed; Reconcile and the stored records cover that gap.
func (s *Store) Subscribe(ctx context.Context) (<-chan controller.Event, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("redis store: subscribe: %w: store closed", controller.ErrStoreUnavailable)
	}
	// Counted before any network work so Close waits for this subscription.
	s.wg.Add(1)
	s.mu.Unlock()
	ch, err := s.subscribe(ctx)
	if err != nil {
		s.wg.Done()
	}
	return ch, err
}

func (s *Store) subscribe(ctx context.Context) (<-chan controller.Event, error) {
	// The subscription is confirmed before Subscribe returns, so an event
	// published after it is never missed.
	ps := s.client.Subscribe(ctx)
	sctx, cancel := context.WithTimeout(ctx, 2*s.timeout)
	defer cancel()
	if err := ps.Subscribe(sctx, s.channel()); err != nil {
		_ = ps.Close()
		return nil, s.fail("subscribe", err)
	}
	msg, err := ps.ReceiveTimeout(sctx, s.timeout)
	if err != nil {
		_ = ps.Close()
		return nil, s.fail("subscribe", err)
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		_ = ps.Close()
		return nil, fmt.Errorf("redis store: subscribe: unexpected first reply %T", msg)
	}

	ch := make(chan controller.Event, s.subBuffer)
	go func() {
		defer s.wg.Done()
		defer close(ch)
		s.relay(ctx, ps, ch)
	}()
	return ch, nil
}

// relay moves events from the pub/sub connection to ch until ctx or the
// store's life ends, or the connection breaks. A connection that stays
// silent is pinged; one that does not answer the ping is taken as broken
// (a hung or unreachable Redis sends no EOF).
func (s *Store) relay(ctx context.Context, ps *redis.PubSub, ch chan<- controller.Event) {
	// Closing the PubSub is what interrupts a blocked read.
	stopCtx := context.AfterFunc(ctx, func() { _ = ps.Close() })
	stopLife := context.AfterFunc(s.life, func() { _ = ps.Close() })
	defer func() {
		stopCtx()
		stopLife()
		_ = ps.Close()
	}()

	healthInterval := 3 * s.timeout
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthInterval)
		if ctx.Err() != nil || s.life.Err() != nil {
			return
		}
		if err != nil {
			if isTimeout(err) && !pinged {
				pinged = true
				if err = ps.Ping(ctx); err == nil {
					continue
				}
			}
			s.log.Warn("redis event subscription ended; it will be renewed", "err", err)
			return
		}
		pinged = false
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // a pong or a subscription confirmation
		}
		var e controller.Event
		if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
			s.log.Warn("ignoring malformed event", "channel", m.Channel, "err", err)
			continue
		}
		select {
		case ch <- e:
		default: // a slow subscriber misses the event rather than holding Redis up
		}
	}
}
