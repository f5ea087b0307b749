package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelInstallHint is what to run when redis-sentinel is missing.
const SentinelInstallHint = "redis-sentinel (or redis-server, which runs as one with --sentinel) not found on PATH: " +
	"install it with `apt-get install -y redis-server redis-sentinel`"

// MasterName is the name the sentinels of a Topology monitor the primary under.
const MasterName = "mymaster"

// Timing of a Topology's sentinels: short, so that a test sees a failover
// within seconds (production uses tens of seconds).
const (
	DownAfter       = time.Second
	FailoverTimeout = 5 * time.Second
)

// Topology is a Redis primary, one replica and three sentinels (quorum 2)
// on free loopback ports, every process killed and every directory removed
// when the test ends.
type Topology struct {
	tb        testing.TB
	Primary   *Server // the primary at start; KillPrimary kills it, PrimaryAddr says who is now
	Replica   *Server
	Sentinels []*Server

	mu        sync.Mutex
	sentinels map[string]*redis.SentinelClient
	clients   map[string]*redis.Client
}

// StartTopology starts a primary, its replica and three sentinels, and
// waits until the sentinels know the replica and each other (a failover
// needs both). Without the binaries the test fails when CI=true and is
// skipped otherwise.
func StartTopology(tb testing.TB) *Topology {
	tb.Helper()
	server := lookPath(tb, "redis-server", InstallHint)
	sentinel, err := exec.LookPath("redis-sentinel")
	if err != nil {
		sentinel = server // the same program; --sentinel selects the mode
	}
	t := &Topology{tb: tb, sentinels: map[string]*redis.SentinelClient{}, clients: map[string]*redis.Client{}}
	tb.Cleanup(t.closeClients)
	t.Primary = start(tb, server, config{})
	t.Replica = start(tb, server, config{replicaOf: t.Primary.Addr()})
	conf := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
		"sentinel down-after-milliseconds %[1]s %[3]d\n"+
		"sentinel failover-timeout %[1]s %[4]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		MasterName, t.Primary.port, DownAfter.Milliseconds(), FailoverTimeout.Milliseconds())
	for range 3 {
		t.Sentinels = append(t.Sentinels, start(tb, sentinel, config{sentinelConf: conf}))
	}
	t.untilt()
	t.waitReady()
	return t
}

// TiltTrigger is how long a sentinel's timer may stall before it enters
// TILT mode, here. Sentinel's own 2 s is met on a loaded two-core CI
// machine; TILT then ignores the dead primary for 30 s, and by then the
// replica's link to it has been down longer than the 10 × down-after a
// sentinel accepts in a replica to promote: no failover ever (seen on CI:
// "-failover-abort-no-good-slave" in a loop). The tests are about the
// store following a failover, not about Sentinel's defence of its clock.
const TiltTrigger = 30 * time.Second

// untilt sets TiltTrigger on every sentinel (SENTINEL DEBUG, Redis ≥ 7.0,
// which the tests need: Debian 12 has 7.0).
func (t *Topology) untilt() {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range t.Sentinels {
		err := t.client(s.Addr()).Do(ctx, "SENTINEL", "DEBUG", "tilt-trigger", TiltTrigger.Milliseconds()).Err()
		if err != nil {
			t.tb.Fatalf("redistest: set sentinel %s's TILT trigger (SENTINEL DEBUG needs Redis ≥ 7.0): %v", s.Addr(), err)
		}
	}
}

// KillPrimary kills the primary (SIGKILL, like a crash) and keeps its port
// from being reused: other test binaries start redis-servers on free ports
// too, and one of them on the dead primary's port would look to the
// sentinels like the primary coming back (and get our writes). The port
// accepts connections and closes them at once, until the test ends.
//
// It may be called from any goroutine (a failure is reported with Errorf).
func (t *Topology) KillPrimary() {
	t.Primary.Stop()
	ln, err := net.Listen("tcp", t.Primary.Addr())
	if err != nil {
		t.tb.Errorf("redistest: hold the dead primary's port: %v", err)
		return
	}
	t.tb.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
}

// WaitReplicated waits (up to 10 s) until the replica has acknowledged
// every write the primary took. Replication is asynchronous: a test that
// kills the primary and then expects earlier writes to survive must wait
// for this first, or on a busy machine the promoted replica may lack them.
func (t *Topology) WaitReplicated(ctx context.Context) {
	t.tb.Helper()
	if err := t.Replicated(ctx); err != nil {
		t.tb.Fatal(err)
	}
}

// Replicated is WaitReplicated for any goroutine: it returns the failure
// instead of ending the test.
//
// WAIT counts the replicas that acknowledged the writes of the connection
// it is sent on: on a connection that wrote nothing it returns at once. So
// one connection writes (and removes) a barrier key and waits for it; the
// replication stream is in order, so every write the primary took before
// it — the store's, on its own connections — is acknowledged with it.
func (t *Topology) Replicated(ctx context.Context) error {
	conn := t.client(t.Primary.Addr()).Conn()
	defer conn.Close()
	const barrier = "redistest:replication-barrier"
	if err := conn.Set(ctx, barrier, 1, 0).Err(); err != nil {
		return fmt.Errorf("redistest: write the replication barrier: %w", err)
	}
	if err := conn.Del(ctx, barrier).Err(); err != nil {
		return fmt.Errorf("redistest: remove the replication barrier: %w", err)
	}
	n, err := conn.Wait(ctx, 1, 10*time.Second).Result()
	if err != nil || n < 1 {
		return fmt.Errorf("redistest: the replica did not acknowledge the primary's writes within 10s (%d replicas, %v)", n, err)
	}
	return nil
}

// SentinelAddrs are host:port of the three sentinels.
func (t *Topology) SentinelAddrs() []string {
	out := make([]string, len(t.Sentinels))
	for i, s := range t.Sentinels {
		out[i] = s.Addr()
	}
	return out
}

// readyTimeout bounds how long the sentinels may take to find each other
// (they announce themselves every 2 s) and the replica to sync.
const readyTimeout = 30 * time.Second

func (t *Topology) waitReady() {
	t.tb.Helper()
	var last string
	ok := t.poll(readyTimeout, func(ctx context.Context) bool {
		for _, s := range t.Sentinels {
			m, err := t.sentinel(s).Master(ctx, MasterName).Result()
			if err != nil {
				last = err.Error()
				return false
			}
			if m["num-other-sentinels"] != "2" || m["num-slaves"] != "1" || !strings.Contains(m["flags"], "master") || strings.Contains(m["flags"], "down") {
				last = fmt.Sprintf("sentinel %s sees %v", s.Addr(), m)
				return false
			}
		}
		info, err := t.client(t.Replica.Addr()).Info(ctx, "replication").Result()
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			last = fmt.Sprintf("replica not in sync: %v %s", err, info)
			return false
		}
		return true
	})
	if !ok {
		t.tb.Fatalf("redistest: sentinel topology not ready within %s: %s\nsentinel log:\n%s", readyTimeout, last, t.Sentinels[0].Log())
	}
}

// PrimaryAddr is the primary's address according to the sentinels ("" when
// they cannot say).
func (t *Topology) PrimaryAddr(ctx context.Context) string {
	for _, s := range t.Sentinels {
		addr, err := t.sentinel(s).GetMasterAddrByName(ctx, MasterName).Result()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1])
		}
	}
	return ""
}

// WaitFailover waits until the sentinels name the replica as primary and
// the replica says it is one, and returns when that was seen.
func (t *Topology) WaitFailover(d time.Duration) time.Time {
	t.tb.Helper()
	want := t.Replica.Addr()
	ok := t.poll(d, func(ctx context.Context) bool {
		for _, s := range t.Sentinels {
			addr, err := t.sentinel(s).GetMasterAddrByName(ctx, MasterName).Result()
			if err != nil || len(addr) != 2 || net.JoinHostPort(addr[0], addr[1]) != want {
				return false
			}
		}
		role, err := t.client(want).Do(ctx, "ROLE").Slice()
		return err == nil && len(role) > 0 && role[0] == "master"
	})
	if !ok {
		t.tb.Fatalf("redistest: no failover to the replica %s within %s\nsentinel log:\n%s", want, d, t.Sentinels[0].Log())
	}
	return time.Now()
}

// poll runs cond every 50 ms until it holds or d passes.
func (t *Topology) poll(d time.Duration, cond func(context.Context) bool) bool {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok := cond(ctx)
		cancel()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sentinel is a client of one sentinel, made once per topology.
func (t *Topology) sentinel(s *Server) *redis.SentinelClient {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.sentinels[s.Addr()]; ok {
		return c
	}
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), DisableIdentity: true, MaxRetries: -1})
	t.sentinels[s.Addr()] = c
	return c
}

// client is a plain client of one server, made once per topology.
func (t *Topology) client(addr string) *redis.Client {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[addr]; ok {
		return c
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1})
	t.clients[addr] = c
	return c
}

func (t *Topology) closeClients() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.sentinels {
		_ = c.Close()
	}
	for _, c := range t.clients {
		_ = c.Close()
	}
}
