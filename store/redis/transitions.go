package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitingroom/waitingroom/controller"
)

// addTransitionScript adds a record to a host's sorted set (scored by
// Unix milliseconds, exact in Redis' doubles), drops the records older than
// the cutoff but the newest of them, then what is over the cap, and renews
// the key's expiry, atomically.
//
// KEYS[1] the host's set; ARGV[1] score, ARGV[2] record, ARGV[3] cutoff
// score, ARGV[4] cap, ARGV[5] expiry in ms.
var addTransitionScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local old = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[3])
if old > 1 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, old - 2)
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if over > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// AddTransition records t (see addTransitionScript). The key expires
// twice TransitionRetention after its last record, so a host that went
// away without Delete does not linger.
func (s *Store) AddTransition(ctx context.Context, t controller.Transition) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if t.Host == "" {
		return errors.New("redis store: add transition: record has no host")
	}
	t.At = t.At.UTC()
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("redis store: add transition %s: %w", t.Host, err)
	}
	cutoff := t.At.Add(-controller.TransitionRetention).UnixMilli()
	err = addTransitionScript.Run(ctx, s.client, []string{s.changesKey(t.Host)},
		t.At.UnixMilli(), b, cutoff, controller.TransitionCap, (2 * controller.TransitionRetention).Milliseconds()).Err()
	if err != nil {
		return s.fail("add transition "+t.Host, err)
	}
	return nil
}

// Transitions returns the host's records at or after since, oldest first
// (ZRANGE … BYSCORE: Redis 6.2 or later).
func (s *Store) Transitions(ctx context.Context, host string, since time.Time) ([]controller.Transition, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// Milliseconds round down, so the range holds every record at or
	// after since; the few in since's millisecond but before it go below.
	raw, err := s.client.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.changesKey(host), Start: strconv.FormatInt(since.UnixMilli(), 10), Stop: "+inf", ByScore: true,
	}).Result()
	if err != nil {
		return nil, s.fail("transitions "+host, err)
	}
	out := make([]controller.Transition, 0, len(raw))
	for _, r := range raw {
		var t controller.Transition
		if err := json.Unmarshal([]byte(r), &t); err != nil {
			return nil, fmt.Errorf("redis store: transitions %s: %w", host, err)
		}
		if t.At.Before(since) {
			continue
		}
		out = append(out, t)
	}
	// Within one millisecond Redis orders by the JSON text, not by time.
	slices.SortStableFunc(out, func(a, b controller.Transition) int { return a.At.Compare(b.At) })
	return out, nil
}
