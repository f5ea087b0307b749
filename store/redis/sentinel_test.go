package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	redisstore "github.com/waitingroom/waitingroom/store/redis"
	"github.com/waitingroom/waitingroom/store/storetest"
)

// sentinelStore is a store that finds its primary through top's sentinels.
func sentinelStore(t testing.TB, top *redistest.Topology, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	return newStore(t, "redis://"+redistest.MasterName+"/0", append([]redisstore.Option{
		redisstore.WithSentinel(redisstore.Sentinel{Master: redistest.MasterName, Addrs: top.SentinelAddrs()}),
	}, opts...)...)
}

func TestContractThroughSentinel(t *testing.T) {
	top := redistest.StartTopology(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) controller.Store {
		return sentinelStore(t, top, redisstore.WithPrefix(fmt.Sprintf("sentinel%d:", n.Add(1))))
	})
}

// The primary dies (SIGKILL): while the sentinels fail over, every call
// fails fast with ErrStoreUnavailable (never a hang, never another error);
// afterwards the store works on the promoted replica, with everything
// written before the failover, and a new subscription hears events again.
func TestSentinelStoreFollowsAFailover(t *testing.T) {
	top := redistest.StartTopology(t)
	s := sentinelStore(t, top)
	ctx := t.Context()
	before := seed(t, s, "app.example.com")
	if err := s.AddWake(ctx, controller.WakeRecord{ID: "last", Host: "app.example.com"}); err != nil {
		t.Fatal(err)
	}

	top.WaitReplicated(ctx) // what is asserted below is what was replicated
	top.KillPrimary()
	killed := time.Now()
	var failures int
	var lastErr error
	poll.Every(t, 20*time.Millisecond, 60*time.Second, "the store working again after the primary died", func() bool {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		start := time.Now()
		_, _, err := s.CompareAndSwap(cctx, before.Version, before)
		if took := time.Since(start); took > 4*time.Second {
			t.Fatalf("a call during the failover took %s", took)
		}
		if err != nil {
			if !errors.Is(err, controller.ErrStoreUnavailable) {
				t.Fatalf("during the failover: %v; want ErrStoreUnavailable", err)
			}
			failures++
			lastErr = err
			return false
		}
		return true
	})
	t.Logf("store answered again %s after the primary died (%d failed calls, last: %v)", time.Since(killed).Round(time.Millisecond), failures, lastErr)
	// The store found the promoted replica; the sentinels learn of the
	// failover from each other, a moment apart: wait until all say so.
	top.WaitFailover(30 * time.Second)

	got, err := s.Get(ctx, "app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != before.State || got.WakeID != before.WakeID || got.Version != before.Version+1 || !got.LastActivity.Equal(before.LastActivity) {
		t.Errorf("after failover: %+v\nbefore: %+v", got, before)
	}
	wakes, err := s.Wakes(ctx, "app.example.com", 0)
	if err != nil || len(wakes) != 4 || wakes[0].ID != "last" {
		t.Errorf("wake history after failover = %+v, %v", wakes, err)
	}

	sub, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, controller.Event{Host: "app.example.com", To: controller.StateStopped}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-sub:
		if e.Host != "app.example.com" {
			t.Errorf("event %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event through the new primary")
	}
}

// A sentinel address list where nothing answers: New still returns (the
// process must start and report it on /readyz), calls fail with
// ErrStoreUnavailable.
func TestSentinelStoreWithoutSentinelsIsUnavailable(t *testing.T) {
	s := newStore(t, "redis://mymaster/0", redisstore.WithTimeout(200*time.Millisecond),
		redisstore.WithSentinel(redisstore.Sentinel{Master: "mymaster", Addrs: []string{"127.0.0.1:1"}}))
	if _, err := s.Get(t.Context(), "a"); !errors.Is(err, controller.ErrStoreUnavailable) {
		t.Fatalf("Get = %v; want ErrStoreUnavailable", err)
	}
}

func TestSentinelNeedsMasterAndAddresses(t *testing.T) {
	for _, sen := range []redisstore.Sentinel{{Addrs: []string{"127.0.0.1:26379"}}, {Master: "m"}} {
		_, err := redisstore.New(t.Context(), "redis://m/0", redisstore.WithSentinel(sen))
		if err == nil || errors.Is(err, controller.ErrStoreUnavailable) || !strings.Contains(err.Error(), "sentinel") {
			t.Errorf("New with %+v = %v; want a configuration error", sen, err)
		}
	}
}

// Redis Cluster is refused at start, with the reason: the keys one script
// or transaction touches (a host's hash, the set of hosts, the wake
// history) hash to different slots, as the cluster node itself computes.
func TestClusterModeIsRefused(t *testing.T) {
	srv := redistest.Start(t, redistest.WithClusterMode())
	raw := rawClient(t, srv)
	ctx := t.Context()
	slots := map[int64]string{}
	for _, key := range []string{"waitingroom:host:app.example.com", "waitingroom:hosts", "waitingroom:wakes:app.example.com"} {
		slot, err := raw.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots[slot] = key
	}
	if len(slots) != 3 {
		t.Fatalf("the keys of one script share slots %v: Cluster support would be cheap, update the docs", slots)
	}
	_, err := redisstore.New(ctx, srv.URL(), redisstore.WithLogger(quiet))
	if err == nil || errors.Is(err, controller.ErrStoreUnavailable) || !strings.Contains(err.Error(), "cluster mode") || !strings.Contains(err.Error(), "sentinel") {
		t.Fatalf("New on a cluster node = %v; want a clear refusal pointing at Sentinel", err)
	}
}

// The sentinels' and the data nodes' passwords never appear in errors.
func TestSentinelPasswordsStayOutOfErrors(t *testing.T) {
	s := newStore(t, "redis://:data-s3cret@mymaster/0", redisstore.WithTimeout(200*time.Millisecond),
		redisstore.WithSentinel(redisstore.Sentinel{Master: "mymaster", Addrs: []string{"127.0.0.1:1"}, Password: "sentinel-s3cret"}))
	_, err := s.Get(t.Context(), "a")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Get = %v", err)
	}
}

// A primary told to refuse writes without a replica (min-replicas-to-write,
// the operator's choice to lose availability rather than writes) answers
// NOREPLICAS: that is the store being unavailable, not a broken command.
func TestPrimaryWithoutItsReplicasIsUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	if err := rawClient(t, srv).ConfigSet(t.Context(), "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, srv.URL())
	_, _, err := s.CompareAndSwap(t.Context(), 0, sampleRecord("app.example.com"))
	if !errors.Is(err, controller.ErrStoreUnavailable) || !strings.Contains(err.Error(), "NOREPLICAS") {
		t.Fatalf("CAS = %v; want ErrStoreUnavailable (NOREPLICAS)", err)
	}
}
