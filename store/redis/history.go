package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/waitingroom/waitingroom/controller"
)

// AddWake pushes w onto the host's history and trims it to the newest
// entries, in one transaction.
func (s *Store) AddWake(ctx context.Context, w controller.WakeRecord) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if w.Host == "" {
		return errors.New("redis store: add wake: record has no host")
	}
	b, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("redis store: add wake %s: %w", w.Host, err)
	}
	key := s.wakesKey(w.Host)
	_, err = s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, key, b)
		p.LTrim(ctx, key, 0, int64(s.wakeHistory-1))
		return nil
	})
	if err != nil {
		return s.fail("add wake "+w.Host, err)
	}
	return nil
}

// Wakes returns up to limit entries, newest first; limit <= 0 means all
// that are kept.
func (s *Store) Wakes(ctx context.Context, host string, limit int) ([]controller.WakeRecord, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	stop := int64(limit - 1)
	if limit <= 0 {
		stop = -1
	}
	raw, err := s.client.LRange(ctx, s.wakesKey(host), 0, stop).Result()
	if err != nil {
		return nil, s.fail("wakes "+host, err)
	}
	out := make([]controller.WakeRecord, 0, len(raw))
	for _, r := range raw {
		var w controller.WakeRecord
		if err := json.Unmarshal([]byte(r), &w); err != nil {
			return nil, fmt.Errorf("redis store: wakes %s: %w", host, err)
		}
		out = append(out, w)
	}
	return out, nil
}
