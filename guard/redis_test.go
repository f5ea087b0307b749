package guard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
)

// upProvider is a backend that is up as soon as it is started.
type upProvider struct {
	mu      sync.Mutex
	running map[string]bool
	starts  atomic.Int32
}

func (p *upProvider) Start(_ context.Context, t controller.Target) error {
	p.starts.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running == nil {
		p.running = map[string]bool{}
	}
	p.running[t.Host] = true
	return nil
}

func (p *upProvider) Stop(_ context.Context, t controller.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, t.Host)
	return nil
}

func (p *upProvider) Status(_ context.Context, t controller.Target) (controller.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running[t.Host] {
		return controller.Status{State: controller.StateRunning}, nil
	}
	return controller.Status{State: controller.StateStopped}, nil
}

var _ controller.Provider = (*upProvider)(nil)

// TestNoRawClientIPInRedis runs real wakes (controller, Budgets, Redis)
// for clients behind a trusted proxy, marks a honeypot visitor, gets
// wakes refused, then reads every key and value in Redis: no client
// address appears in any form, only hashes and truncated addresses.
func TestNoRawClientIPInRedis(t *testing.T) {
	srv := redistest.Start(t)
	clock := fake.NewClock(start)
	st := redisStore(t, srv, "privacy:", clock)
	hasher := NewHasher(testKey, clock)
	budgets := NewBudgets(st, BudgetOptions{ClientPerHour: 2, PrefixPerHour: 5, MaxConcurrentStarts: 10, Hasher: hasher, Logger: quiet}, clock)
	prov := &upProvider{}
	var hosts []controller.Host
	for i := range 4 {
		name := fmt.Sprintf("h%d.example.com", i)
		hosts = append(hosts, controller.Host{Name: name, Provider: "up", Target: controller.Target{Host: name, Provider: "up"}, StartTimeout: 10 * time.Second, MaxWakesPerDay: 3})
	}
	ctl := controller.New(controller.Options{
		Store: st, Registry: controller.NewRegistry(hosts, map[string]controller.Provider{"up": prov}),
		Clock: clock, Logger: quiet, Gate: budgets,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctl.Shutdown(ctx)
	})

	ips := NewClientIP(mustPrefixes(t, "127.0.0.1"))
	clients := []string{"203.0.113.77", "198.51.100.23", "2001:db8:abcd:12::4711", "192.0.2.201"}
	ctx := t.Context()
	for i, raw := range clients {
		r := request("127.0.0.1:50000", "X-Forwarded-For", raw+", 127.0.0.1", "User-Agent", chromeUA)
		addr := ips.IP(r)
		if addr.String() != raw {
			t.Fatalf("ClientIP = %v, want %s", addr, raw)
		}
		cl := controller.Client{Key: hasher.ClientKey(addr), Display: Truncate(addr), Class: string(ClassBrowser), Source: "page"}
		if _, err := ctl.Wake(ctx, hosts[i].Name, cl); err != nil {
			t.Fatalf("wake %s for %s: %v", hosts[i].Name, Truncate(addr), err)
		}
	}
	// Refusals too: a client over its rate, a honeypot visitor.
	over := mustAddr(t, clients[0])
	for i := 1; i < 4; i++ {
		_ = budgets.AllowWake(ctx, hosts[i], clientFor(hasher, over))
	}
	trap := mustAddr(t, clients[3])
	if err := budgets.Honeypot(ctx, hosts[0].Name, trap); err != nil {
		t.Fatal(err)
	}
	if err := budgets.AllowWake(ctx, hosts[0], clientFor(hasher, trap)); !errors.Is(err, ErrBlocked) {
		t.Fatalf("honeypot visitor: err = %v, want ErrBlocked", err)
	}
	for _, h := range hosts {
		waitState(t, ctl, h.Name, controller.StateRunning)
	}

	rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true})
	t.Cleanup(func() { _ = rc.Close() })
	dump := dumpRedis(t, rc)
	if len(dump) < 5 {
		t.Fatalf("only %d keys in Redis; the test did not store what it meant to", len(dump))
	}
	var forbidden []string
	for _, raw := range clients {
		a := mustAddr(t, raw)
		forbidden = append(forbidden, a.String(), a.StringExpanded(), string(a.AsSlice()))
		if a.Is4() {
			forbidden = append(forbidden, netip.AddrFrom16(a.As16()).String())
		}
	}
	sawTruncated, sawHoneypot := false, false
	for key, val := range dump {
		for _, f := range forbidden {
			if strings.Contains(key, f) || strings.Contains(val, f) {
				t.Errorf("raw client address %q stored in Redis: key %q value %q", f, key, val)
			}
		}
		sawTruncated = sawTruncated || strings.Contains(val, "203.0.113.x")
		sawHoneypot = sawHoneypot || strings.HasPrefix(key, "privacy:lease:honeypot:")
	}
	if !sawTruncated || !sawHoneypot {
		t.Errorf("expected a truncated address in the wake history (%v) and a honeypot mark (%v)", sawTruncated, sawHoneypot)
	}
	t.Logf("checked %d keys and their values; %d starts", len(dump), prov.starts.Load())
}

func waitState(t *testing.T, ctl *controller.Controller, host string, want controller.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, rec, err := ctl.Status(t.Context(), host)
		if err == nil && rec.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %s (err %v), want %s within 10s", host, rec.State, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dumpRedis reads every key and its value, whatever its type.
func dumpRedis(t *testing.T, rc *redis.Client) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	iter := rc.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := rc.Type(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		var val string
		switch typ {
		case "string":
			val, err = rc.Get(ctx, key).Result()
		case "hash":
			var m map[string]string
			m, err = rc.HGetAll(ctx, key).Result()
			val = fmt.Sprint(m)
		case "list":
			var l []string
			l, err = rc.LRange(ctx, key, 0, -1).Result()
			val = strings.Join(l, "\n")
		case "set":
			var l []string
			l, err = rc.SMembers(ctx, key).Result()
			val = strings.Join(l, "\n")
		case "zset":
			var l []string
			l, err = rc.ZRange(ctx, key, 0, -1).Result()
			val = strings.Join(l, "\n")
		case "none":
			continue // expired meanwhile
		default:
			t.Fatalf("key %s has type %s, which this test does not read", key, typ)
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		out[key] = val
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBudgetsSharedByReplicas: two Budgets, each with its own connection
// to one Redis (two waitingroom replicas), share every budget: host,
// client, and honeypot marks. Concurrent wakes never exceed the budget.
func TestBudgetsSharedByReplicas(t *testing.T) {
	srv := redistest.Start(t)
	clock := fake.NewClock(start)
	newReplica := func() *Budgets {
		st := redisStore(t, srv, "replicas:", clock)
		return NewBudgets(st, BudgetOptions{ClientPerHour: 3, Hasher: NewHasher(testKey, clock), Logger: quiet}, clock)
	}
	a, b := newReplica(), newReplica()
	hasher := NewHasher(testKey, clock)
	ctx := t.Context()

	t.Run("client rate", func(t *testing.T) {
		c := clientFor(hasher, mustAddr(t, "203.0.113.9"))
		allowed := 0
		for i := range 6 {
			rep := []*Budgets{a, b}[i%2]
			if err := rep.AllowWake(ctx, host(fmt.Sprintf("c%d.example.com", i), 7, 0), c); err == nil {
				allowed++
			} else if be := budgetErr(t, err); be.Budget != BudgetClientPerHour {
				t.Errorf("refused by %q", be.Budget)
			}
		}
		if allowed != 3 {
			t.Errorf("%d wakes allowed across replicas, want 3", allowed)
		}
	})

	t.Run("honeypot", func(t *testing.T) {
		bad := mustAddr(t, "198.51.100.66")
		if err := a.Honeypot(ctx, "x.example.com", bad); err != nil {
			t.Fatal(err)
		}
		if err := b.AllowWake(ctx, host("x.example.com", 7, 0), clientFor(hasher, bad)); !errors.Is(err, ErrBlocked) {
			t.Errorf("replica b: err = %v, want ErrBlocked", err)
		}
	})

	t.Run("host per day under concurrency", func(t *testing.T) {
		h := host("shared.example.com", 7, 0)
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for r, rep := range []*Budgets{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					c := clientFor(hasher, netip.AddrFrom4([4]byte{10, byte(r), byte(i), 1}))
					err := rep.AllowWake(ctx, h, c)
					if err == nil {
						allowed.Add(1)
					} else if !errors.Is(err, controller.ErrBudgetExceeded) {
						t.Errorf("replica %d: %v", r, err)
					}
				}
			}()
		}
		wg.Wait()
		if n := allowed.Load(); n != 7 {
			t.Errorf("%d wakes allowed across two replicas, want exactly 7", n)
		}
		u, err := a.HostUsage(ctx, h)
		if err != nil || u.Day < 7 {
			t.Errorf("HostUsage = %+v, %v", u, err)
		}
	})
}

// TestRedisDownRefusesWake: with Redis gone, Budgets answers quickly with
// the store's error rather than hanging or letting the wake through; when
// Redis returns, wakes are allowed again.
func TestRedisDownRefusesWake(t *testing.T) {
	srv := redistest.Start(t)
	clock := fake.NewClock(start)
	st := redisStore(t, srv, "down:", clock)
	hasher := NewHasher(testKey, clock)
	b := NewBudgets(st, BudgetOptions{ClientPerHour: 5, Hasher: hasher, Logger: quiet}, clock)
	h, c := host("app.example.com", 5, 0), clientFor(hasher, mustAddr(t, "203.0.113.9"))
	if err := b.AllowWake(t.Context(), h, c); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	began := time.Now()
	err := b.AllowWake(t.Context(), h, c)
	if !errors.Is(err, controller.ErrStoreUnavailable) {
		t.Fatalf("Redis down: err = %v, want ErrStoreUnavailable", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("refusal took %s", took)
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := b.AllowWake(t.Context(), h, c)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis back, wakes still refused: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
