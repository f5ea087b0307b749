// Package redisstore is the controller.Store shared by every replica: host
// records, activity, wake history, counters and leases live in Redis, and
// state changes travel over Redis pub/sub. Restarting waitingroom keeps
// everything; several waitingroom processes on one Redis agree on every
// transition through compare-and-set scripts.
//
// Keys (the prefix defaults to "waitingroom:"):
//
//	<prefix>hosts                  set of host names that have a record
//	<prefix>host:<host>            hash: state fields (written by CompareAndSwap)
//	                               and activity fields (written by Touch)
//	<prefix>wakes:<host>           list of JSON WakeRecords, newest first, capped
//	<prefix>changes:<host>         sorted set of JSON Transitions, scored by Unix ms,
//	                               kept 31 days and capped
//	<prefix>count:<key>:<window ms>:<start ms>
//	                               counter of one fixed window, expiring with it
//	<prefix>lease:<name>           lease holder's name, with a TTL
//	<prefix>events                 pub/sub channel of JSON Events
//
// A Redis that is down or hung never blocks a caller for long: dial, read and
// write time out after one second by default and a command is retried at
// most once, and every such failure wraps controller.ErrStoreUnavailable.
//
// With WithSentinel the store asks Redis Sentinel where the primary is
// (go-redis's failover client) and follows a failover: calls fail with
// ErrStoreUnavailable until the sentinels have promoted a replica, then
// work on it. Replication is asynchronous, so a write the old primary
// acknowledged but had not sent to the replica is lost; the controller's
// reconcile makes that harmless (docs/operations.md). Redis Cluster is
// refused: the scripts and transactions above touch several keys (a host's
// hash and the hosts set; on delete also the wake list) that hash to
// different slots.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/waitingroom/waitingroom/controller"
)

// DefaultPrefix starts every key this store writes.
const DefaultPrefix = "waitingroom:"

// DefaultTimeout bounds one dial, read or write to Redis: a dead Redis must
// answer a request quickly rather than hang it.
const DefaultTimeout = time.Second

// minWakeHistory is the least history kept per host (the Store contract).
const minWakeHistory = 100

var _ controller.Store = (*Store)(nil)

// Option changes a Store's settings at construction.
type Option func(*settings)

type settings struct {
	prefix      string
	clock       controller.Clock
	timeout     time.Duration
	wakeHistory int
	subBuffer   int
	log         *slog.Logger
	sentinel    *Sentinel
}

// Sentinel says where the Redis Sentinels watching the primary are. The
// store asks them for the primary's address and follows a failover.
type Sentinel struct {
	// Master is the name the sentinels monitor the primary under.
	Master string
	// Addrs are host:port of some of the sentinels (they tell about the
	// others).
	Addrs []string
	// Username and Password authenticate to the sentinels themselves
	// (sentinel.conf's requirepass); the data nodes' credentials are
	// those of the URL.
	Username, Password string
}

// WithSentinel makes the store find the primary through Redis Sentinel:
// the URL then gives only the scheme (rediss:// for TLS), the data nodes'
// credentials and the database; its host is not dialled.
func WithSentinel(s Sentinel) Option {
	return func(set *settings) {
		s.Addrs = slices.Clone(s.Addrs)
		set.sentinel = &s
	}
}

// WithPrefix puts every key and the event channel under prefix instead of
// "waitingroom:", so tests, benchmarks or several installations can share
// one Redis without seeing each other.
func WithPrefix(prefix string) Option {
	return func(s *settings) { s.prefix = prefix }
}

// WithClock sets the clock that decides counter windows (default: the
// system clock). Lease expiry is Redis's own clock.
func WithClock(c controller.Clock) Option {
	return func(s *settings) { s.clock = c }
}

// WithTimeout sets the dial, read and write timeout (default 1s, or what
// the URL's dial_timeout/read_timeout/write_timeout say). A broken event
// subscription is noticed within about six times this.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) { s.timeout = d }
}

// WithWakeHistory sets how many wake records are kept per host (default
// and minimum 100).
func WithWakeHistory(n int) Option {
	return func(s *settings) { s.wakeHistory = n }
}

// WithLogger sets where connection trouble is reported (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.log = l }
}

// Store is a controller.Store on Redis, safe for concurrent use.
type Store struct {
	client      *redis.Client
	prefix      string
	clock       controller.Clock
	timeout     time.Duration
	wakeHistory int
	subBuffer   int
	log         *slog.Logger

	// life ends with Close and stops every subscription relay.
	life      context.Context
	cancel    context.CancelFunc
	mu        sync.Mutex // guards closed and wg.Add against Close
	closed    bool
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New connects to the Redis at rawURL (redis://[user:pass@]host:port/db, or
// rediss:// for TLS). A Redis that cannot be reached yet is not an error:
// the process must start anyway and report it on /readyz, and the store
// connects as soon as Redis answers; New logs a warning instead. New fails
// on a malformed URL, or when Redis answers but refuses us (wrong
// password, unknown database), since waiting does not fix those. ctx
// bounds that first contact.
func New(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	set := settings{prefix: DefaultPrefix, wakeHistory: minWakeHistory, subBuffer: 64}
	for _, o := range opts {
		o(&set)
	}
	if set.clock == nil {
		set.clock = controller.SystemClock{}
	}
	if set.log == nil {
		set.log = slog.Default()
	}
	set.wakeHistory = max(set.wakeHistory, minWakeHistory)
	set.subBuffer = max(set.subBuffer, 1)

	o, err := redis.ParseURL(rawURL)
	if err != nil {
		// net/url's error repeats the whole URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("redis store: url %q: %w", redactURL(rawURL), err)
	}
	// Explicit option first, then the URL's own setting, then our default.
	if set.timeout > 0 {
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = set.timeout, set.timeout, set.timeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = o.ReadTimeout
	}
	if o.PoolTimeout == 0 {
		o.PoolTimeout = o.ReadTimeout + time.Second
	}
	if set.timeout <= 0 {
		set.timeout = max(o.ReadTimeout, o.DialTimeout)
	}
	// One retry covers a pooled connection that died with a restarted
	// Redis; more would only make a dead Redis slower to report.
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	o.DialerRetries = 1
	o.ContextTimeoutEnabled = true
	// Self-hosted Redis has neither CLIENT SETINFO (before 7.2) nor
	// maintenance notifications: skip both handshakes.
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	client, err := newClient(o, set.sentinel)
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	life, cancel := context.WithCancel(context.Background())
	s := &Store{
		client:      client,
		prefix:      set.prefix,
		clock:       set.clock,
		timeout:     set.timeout,
		wakeHistory: set.wakeHistory,
		subBuffer:   set.subBuffer,
		log:         set.log,
		life:        life,
		cancel:      cancel,
	}
	addr := o.Addr
	if set.sentinel != nil {
		addr = "sentinel master " + set.sentinel.Master
	}
	if err := s.Ping(ctx); err != nil {
		if !errors.Is(err, controller.ErrStoreUnavailable) || ctx.Err() != nil {
			_ = s.Close()
			return nil, err
		}
		s.log.Warn("redis is not reachable yet; carrying on and connecting when it answers",
			"addr", addr, "err", err)
		return s, nil
	}
	if err := s.refuseCluster(ctx); err != nil && !errors.Is(err, controller.ErrStoreUnavailable) {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// newClient is a plain client for o, or with sentinel one that asks the
// sentinels where the primary is, and follows them when they fail over.
func newClient(o *redis.Options, sentinel *Sentinel) (*redis.Client, error) {
	if sentinel == nil {
		return redis.NewClient(o), nil
	}
	if sentinel.Master == "" || len(sentinel.Addrs) == 0 {
		return nil, errors.New("sentinel: a master name and at least one sentinel address are needed")
	}
	if o.Network == "unix" {
		return nil, errors.New("sentinel: the sentinels give TCP addresses; use a redis:// or rediss:// URL")
	}
	tlsConf := o.TLSConfig
	if tlsConf != nil {
		// The URL's host is the master's name, not a server: let each
		// connection check the certificate against the address it dials
		// (the primary's, a sentinel's).
		tlsConf = tlsConf.Clone()
		tlsConf.ServerName = ""
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            sentinel.Master,
		SentinelAddrs:         slices.Clone(sentinel.Addrs),
		SentinelUsername:      sentinel.Username,
		SentinelPassword:      sentinel.Password,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		TLSConfig:             tlsConf,
		MaxRetries:            o.MaxRetries,
		DialTimeout:           o.DialTimeout,
		DialerRetries:         o.DialerRetries,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		ContextTimeoutEnabled: o.ContextTimeoutEnabled,
		PoolSize:              o.PoolSize,
		PoolTimeout:           o.PoolTimeout,
		MinIdleConns:          o.MinIdleConns,
		MaxIdleConns:          o.MaxIdleConns,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		DisableIdentity:       o.DisableIdentity,
	}), nil
}

// refuseCluster fails on a Redis Cluster node. The store's scripts and
// transactions touch several keys (a host's hash and the set of hosts;
// the hash, the wake history and the set on delete) that hash to
// different slots, so a cluster would answer them CROSSSLOT or MOVED:
// better a clear refusal at start than failed wakes later.
func (s *Store) refuseCluster(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	info, err := s.client.Info(ctx, "cluster").Result()
	if err != nil {
		return s.fail("info cluster", err)
	}
	if strings.Contains(info, "cluster_enabled:1") {
		return errors.New("redis store: this Redis runs in cluster mode, which waitingroom does not support " +
			"(its scripts update several keys at once, which a cluster spreads over slots); " +
			"use a single primary, with replicas and Redis Sentinel for failover (store.sentinel)")
	}
	return nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close ends every subscription and closes the connections. It is safe to
// call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		s.closeErr = s.client.Close()
	})
	return s.closeErr
}

func (s *Store) hostsKey() string            { return s.prefix + "hosts" }
func (s *Store) hostKey(host string) string  { return s.prefix + "host:" + host }
func (s *Store) wakesKey(host string) string { return s.prefix + "wakes:" + host }
func (s *Store) changesKey(host string) string {
	return s.prefix + "changes:" + host
}
func (s *Store) leaseKey(name string) string { return s.prefix + "lease:" + name }
func (s *Store) channel() string             { return s.prefix + "events" }
func (s *Store) counterKey(key string, win time.Duration, start time.Time) string {
	return fmt.Sprintf("%scount:%s:%d:%d", s.prefix, key, win.Milliseconds(), start.UnixMilli())
}

// bound limits one round trip (retry included) to twice the timeout, so
// a dead or hung Redis answers a request within about two seconds whatever
// go-redis does inside; a caller's earlier deadline still wins.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 2*s.timeout)
}

// fail wraps a go-redis error with the operation, marking everything that
// means "Redis is not there right now" as controller.ErrStoreUnavailable.
func (s *Store) fail(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("redis store: %s: %w: %w", op, controller.ErrStoreUnavailable, err)
	}
	return fmt.Errorf("redis store: %s: %w", op, err)
}

// unavailable tells transport trouble (connection refused or reset,
// timeouts, a closed client, a Redis still loading its data) from a reply
// that says our command was wrong.
func unavailable(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true // net errors, io.EOF, pool timeouts, context ends, closed client
	}
	msg := rerr.Error()
	for _, transient := range []string{"LOADING", "BUSY", "MASTERDOWN", "READONLY", "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN", "MISCONF", "OOM", "ERR max number of clients"} {
		if strings.HasPrefix(msg, transient) {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// redactURL hides a password in a URL shown in an error.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return u
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return u
}
