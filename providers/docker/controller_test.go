package docker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/store/memory"
)

// offsetClock is the real clock plus an offset a test can move forward, so
// durations stay real while the idle timeout can pass at once.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// engineEvents follows the engine's events for one container from now on
// and counts them by action, until ctx is done.
func engineEvents(ctx context.Context, cli *client.Client, id string) (count func(events.Action) int) {
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("container", id))
	counts := map[events.Action]func() int{}
	for _, a := range []events.Action{events.ActionStart, events.ActionDie} {
		counts[a] = dockertest.CountEvents(ctx, cli, f, func(m events.Message) bool { return m.Action == a })
	}
	return func(a events.Action) int { return counts[a]() }
}

// TestConcurrentWakesStartTheContainerOnce runs the real controller (memory
// store) in front of the provider: 500 concurrent wakes of a stopped
// container make the engine start it exactly once, counted from the engine's
// event history; the idle sweep then stops it.
func TestConcurrentWakesStartTheContainerOnce(t *testing.T) {
	cli, im := images.Images(t)
	c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain})
	p := newTestProvider(t, Options{})
	host := controller.Host{
		Name: "wake-once.test", Provider: "docker", Target: target(c.Name),
		IdleTimeout: time.Minute, StartTimeout: 30 * time.Second,
	}
	clock := &offsetClock{}
	store := memory.New(clock)
	t.Cleanup(func() { store.Close() })
	ctl := controller.New(controller.Options{
		Store:    store,
		Registry: controller.NewRegistry([]controller.Host{host}, map[string]controller.Provider{"docker": p}),
		Clock:    clock,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = ctl.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()
	defer ctl.Shutdown(context.Background())
	states := ctl.Subscribe(ctx, host.Name)

	engine := engineEvents(ctx, cli, c.ID)
	const wakers = 500
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
	)
	for range wakers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := ctl.Wake(ctx, host.Name, controller.Client{Source: "test"}); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	requested := time.Now()
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d wakes failed, first: %v", len(errs), wakers, errs[0])
	}
	waitEvent := func(want controller.State, within time.Duration) time.Time {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case e, ok := <-states:
				if !ok {
					t.Fatalf("event subscription closed before %s", want)
				}
				if e.To == controller.StateFailed {
					t.Fatalf("wake failed: %s", e.Reason)
				}
				if e.To == want {
					return time.Now()
				}
			case <-deadline:
				_, rec, _ := ctl.Status(ctx, host.Name)
				t.Fatalf("host not %s within %s; record: %+v", want, within, rec)
			}
		}
	}
	running := waitEvent(controller.StateRunning, 30*time.Second)
	t.Logf("wake time of the test container (request → running, %d concurrent requests): %s",
		wakers, running.Sub(requested).Round(time.Millisecond))

	// The host is running: the engine's start event is on its way.
	dockertest.Eventually(t, 10*time.Second, "the engine's start event", func() (bool, string) {
		n := engine(events.ActionStart)
		return n >= 1, fmt.Sprintf("%d start events", n)
	})

	// The idle timeout passes: the sweep stops the container.
	clock.Advance(2 * time.Minute)
	stopped, err := ctl.SweepIdle(ctx)
	if err != nil || len(stopped) != 1 {
		t.Fatalf("SweepIdle = %v, %v; want the host stopped", stopped, err)
	}
	waitEvent(controller.StateStopped, 20*time.Second)
	ins, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil || ins.State.Running {
		t.Fatalf("after the idle stop: running=%v, %v", ins.State != nil && ins.State.Running, err)
	}
	// The die event comes after any start there was: once it is in, the
	// count is complete.
	dockertest.Eventually(t, 10*time.Second, "the engine's die event", func() (bool, string) {
		n := engine(events.ActionDie)
		return n >= 1, fmt.Sprintf("%d die events", n)
	})
	if n := engine(events.ActionStart); n != 1 {
		t.Fatalf("engine saw %d start events for %d concurrent wakes, want exactly 1", n, wakers)
	}
}
