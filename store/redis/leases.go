package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// acquireScript takes a free lease (SET NX PX) or renews it for its holder
// (PEXPIRE), in one atomic step. Expiry runs on Redis's clock, which all
// replicas share.
//
// KEYS[1] lease key; ARGV[1] owner, ARGV[2] TTL in milliseconds.
var acquireScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// releaseScript deletes the lease only if owner still holds it: a replica
// whose lease expired must not release the one another replica took since.
//
// KEYS[1] lease key; ARGV[1] owner.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// AcquireLease takes or renews the named lease for owner.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if ttl <= 0 {
		return false, fmt.Errorf("redis store: lease %s: ttl %s is not positive", name, ttl)
	}
	if owner == "" {
		return false, fmt.Errorf("redis store: lease %s: no owner", name)
	}
	ms := max(ttl.Milliseconds(), 1)
	n, err := acquireScript.Run(ctx, s.client, []string{s.leaseKey(name)}, owner, ms).Int64()
	if err != nil {
		return false, s.fail("acquire lease "+name, err)
	}
	return n == 1, nil
}

// ReleaseLease drops the lease if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := releaseScript.Run(ctx, s.client, []string{s.leaseKey(name)}, owner).Err(); err != nil {
		return s.fail("release lease "+name, err)
	}
	return nil
}
