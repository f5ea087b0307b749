package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitingroom/waitingroom/controller"
)

// Hash fields of a host record. Times are Unix nanoseconds in decimal, so
// they round-trip exactly and the Touch script can compare them as strings.
const (
	fState          = "state"
	fVersion        = "version"
	fChanged        = "changed"
	fReason         = "reason"
	fWakeID         = "wake_id"
	fOwner          = "owner"
	fWakePending    = "wake_pending"
	fFailures       = "failures"
	fRetryAt        = "retry_at"
	fLastActivity   = "last_activity"
	fActivitySource = "activity_source"
)

// casScript writes the state fields of a record if its version is still
// the expected one. It never touches the activity fields, which only Touch
// writes, so traffic never makes a transition lose its race. It returns
// {1 or 0, the record as HGETALL}.
//
// KEYS[1] host hash, KEYS[2] hosts set; ARGV[1] expected version, ARGV[2]
// host name, ARGV[3...] field/value pairs (an empty value deletes the
// field, so a cleared Reason does not linger).
var casScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if cur ~= tonumber(ARGV[1]) then
  return {0, redis.call('HGETALL', KEYS[1])}
end
for i = 3, #ARGV, 2 do
  if ARGV[i+1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
  end
end
redis.call('HSET', KEYS[1], 'version', string.format('%d', cur + 1))
redis.call('SADD', KEYS[2], ARGV[2])
return {1, redis.call('HGETALL', KEYS[1])}
`)

// touchScript stores an activity if it is newer than the stored one.
// Times are decimal nanoseconds: compared by sign, then length, then
// lexically, which is exact where Lua's doubles are not.
//
// KEYS[1] host hash, KEYS[2] hosts set; ARGV[1] time, ARGV[2] source,
// ARGV[3] host name.
var touchScript = redis.NewScript(`
local function newer(a, b)
  local an, bn = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if an ~= bn then return bn end
  if an then a, b = b:sub(2), a:sub(2) end
  if #a ~= #b then return #a > #b end
  return a > b
end
local cur = redis.call('HGET', KEYS[1], 'last_activity')
if cur and cur ~= '' and not newer(ARGV[1], cur) then
  return 0
end
redis.call('HSET', KEYS[1], 'last_activity', ARGV[1], 'activity_source', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
`)

// listBatch is how many HGETALLs go in one pipeline round trip.
const listBatch = 1000

// Get returns the host's record, or an unknown record at version 0.
func (s *Store) Get(ctx context.Context, host string) (controller.Record, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	m, err := s.client.HGetAll(ctx, s.hostKey(host)).Result()
	if err != nil {
		return controller.Record{Host: host, State: controller.StateUnknown}, s.fail("get "+host, err)
	}
	rec, err := decodeRecord(host, m)
	if err != nil {
		return controller.Record{Host: host, State: controller.StateUnknown}, fmt.Errorf("redis store: get %s: %w", host, err)
	}
	return rec, nil
}

// List returns every stored record, sorted by host. The hashes are read in
// pipelined batches, so 10,000 hosts cost about ten round trips.
func (s *Store) List(ctx context.Context) ([]controller.Record, error) {
	mctx, cancel := s.bound(ctx)
	hosts, err := s.client.SMembers(mctx, s.hostsKey()).Result()
	cancel()
	if err != nil {
		return nil, s.fail("list", err)
	}
	slices.Sort(hosts)
	out := make([]controller.Record, 0, len(hosts))
	for batch := range slices.Chunk(hosts, listBatch) {
		cmds := make([]*redis.MapStringStringCmd, len(batch))
		bctx, cancel := s.bound(ctx)
		_, err := s.client.Pipelined(bctx, func(p redis.Pipeliner) error {
			for i, h := range batch {
				cmds[i] = p.HGetAll(bctx, s.hostKey(h))
			}
			return nil
		})
		cancel()
		if err != nil {
			return nil, s.fail("list", err)
		}
		for i, cmd := range cmds {
			m := cmd.Val()
			if len(m) == 0 {
				continue // deleted between SMEMBERS and HGETALL
			}
			rec, err := decodeRecord(batch[i], m)
			if err != nil {
				return nil, fmt.Errorf("redis store: list: %s: %w", batch[i], err)
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// CompareAndSwap stores next's state fields if the stored version equals
// expectedVersion. Activity stays as stored. On failure the current record
// is returned with ok false.
func (s *Store) CompareAndSwap(ctx context.Context, expectedVersion uint64, next controller.Record) (controller.Record, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	host := next.Host
	if host == "" {
		return controller.Record{}, false, errors.New("redis store: compare-and-swap: record has no host")
	}
	args := append([]any{strconv.FormatUint(expectedVersion, 10), host}, encodeState(next)...)
	res, err := casScript.Run(ctx, s.client, []string{s.hostKey(host), s.hostsKey()}, args...).Slice()
	if err != nil {
		return controller.Record{Host: host, State: controller.StateUnknown}, false, s.fail("compare-and-swap "+host, err)
	}
	if len(res) != 2 {
		return controller.Record{}, false, fmt.Errorf("redis store: compare-and-swap %s: unexpected reply %v", host, res)
	}
	ok, _ := res[0].(int64)
	m, err := pairs(res[1])
	if err != nil {
		return controller.Record{}, false, fmt.Errorf("redis store: compare-and-swap %s: %w", host, err)
	}
	rec, err := decodeRecord(host, m)
	if err != nil {
		return controller.Record{}, false, fmt.Errorf("redis store: compare-and-swap %s: %w", host, err)
	}
	return rec, ok == 1, nil
}

// Touch records activity if it is newer than the stored activity. A host
// never stored gets a record holding only its activity (state unknown,
// version 0).
func (s *Store) Touch(ctx context.Context, host string, a controller.Activity) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if host == "" {
		return errors.New("redis store: touch: no host")
	}
	if a.At.IsZero() {
		return nil
	}
	err := touchScript.Run(ctx, s.client, []string{s.hostKey(host), s.hostsKey()},
		strconv.FormatInt(a.At.UnixNano(), 10), a.Source, host).Err()
	if err != nil {
		return s.fail("touch "+host, err)
	}
	return nil
}

// Delete forgets the host's record, wake history and transitions.
func (s *Store) Delete(ctx context.Context, host string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.hostKey(host), s.wakesKey(host), s.changesKey(host))
		p.SRem(ctx, s.hostsKey(), host)
		return nil
	})
	if err != nil {
		return s.fail("delete "+host, err)
	}
	return nil
}

// encodeState lists the state fields of r as field/value pairs for
// casScript; empty values delete the field.
func encodeState(r controller.Record) []any {
	state := r.State
	if state == "" {
		state = controller.StateUnknown
	}
	pending := ""
	if r.WakePending {
		pending = "1"
	}
	failures := ""
	if r.Failures != 0 {
		failures = strconv.Itoa(r.Failures)
	}
	return []any{
		fState, string(state),
		fChanged, encodeTime(r.Changed),
		fReason, r.Reason,
		fWakeID, r.WakeID,
		fOwner, r.Owner,
		fWakePending, pending,
		fFailures, failures,
		fRetryAt, encodeTime(r.RetryAt),
	}
}

func decodeRecord(host string, m map[string]string) (controller.Record, error) {
	rec := controller.Record{
		Host:           host,
		State:          controller.State(m[fState]),
		Reason:         m[fReason],
		WakeID:         m[fWakeID],
		Owner:          m[fOwner],
		WakePending:    m[fWakePending] == "1",
		ActivitySource: m[fActivitySource],
	}
	if rec.State == "" {
		rec.State = controller.StateUnknown
	}
	var err error
	if v := m[fVersion]; v != "" {
		if rec.Version, err = strconv.ParseUint(v, 10, 64); err != nil {
			return rec, fmt.Errorf("field %s: %w", fVersion, err)
		}
	}
	if v := m[fFailures]; v != "" {
		if rec.Failures, err = strconv.Atoi(v); err != nil {
			return rec, fmt.Errorf("field %s: %w", fFailures, err)
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{fChanged, &rec.Changed}, {fRetryAt, &rec.RetryAt}, {fLastActivity, &rec.LastActivity}} {
		if *f.dst, err = decodeTime(m[f.name]); err != nil {
			return rec, fmt.Errorf("field %s: %w", f.name, err)
		}
	}
	return rec, nil
}

// encodeTime writes t as decimal Unix nanoseconds; the zero time as ""
// (absent), since it has no Unix nanosecond value.
func encodeTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

func decodeTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, n), nil
}

// pairs turns a script's HGETALL reply (a flat field, value list) into a map.
func pairs(v any) (map[string]string, error) {
	list, ok := v.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, fmt.Errorf("unexpected hash reply %T", v)
	}
	m := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, kok := list[i].(string)
		val, vok := list[i+1].(string)
		if !kok || !vok {
			return nil, fmt.Errorf("unexpected hash reply entry %T=%T", list[i], list[i+1])
		}
		m[k] = val
	}
	return m, nil
}
