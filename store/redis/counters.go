package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// incrScript counts one and makes sure the window's key expires with the
// window. The key names the window's start, so a late expiry never mixes
// windows; the TTL only keeps Redis clean.
//
// KEYS[1] counter key; ARGV[1] milliseconds until the window ends.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// window returns the fixed window of length d that contains now. Windows
// are multiples of d since Go's zero time, so every replica cuts them at
// the same instants (days at UTC midnight).
func window(now time.Time, d time.Duration) (start, ends time.Time) {
	start = now.Truncate(d)
	return start, start.Add(d)
}

// Incr counts one more in the key's current window.
func (s *Store) Incr(ctx context.Context, key string, win time.Duration) (int64, time.Time, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if win <= 0 {
		return 0, time.Time{}, fmt.Errorf("redis store: incr %s: window %s is not positive", key, win)
	}
	now := s.clock.Now()
	start, ends := window(now, win)
	// A relative TTL (rather than PEXPIREAT) keeps working when this
	// replica's clock and Redis's disagree.
	ttl := max(ends.Sub(now).Milliseconds(), 1)
	n, err := incrScript.Run(ctx, s.client, []string{s.counterKey(key, win, start)}, ttl).Int64()
	if err != nil {
		return 0, time.Time{}, s.fail("incr "+key, err)
	}
	return n, ends, nil
}

// Count reads the key's count in its current window.
func (s *Store) Count(ctx context.Context, key string, win time.Duration) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if win <= 0 {
		return 0, fmt.Errorf("redis store: count %s: window %s is not positive", key, win)
	}
	start, _ := window(s.clock.Now(), win)
	n, err := s.client.Get(ctx, s.counterKey(key, win, start)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail("count "+key, err)
	}
	return n, nil
}
