package docker

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
)

func TestRefMatches(t *testing.T) {
	const id = "4f2a9c0d1e7b6a5f4f2a9c0d1e7b6a5f4f2a9c0d1e7b6a5f4f2a9c0d1e7b6a5f"
	tests := []struct {
		ref  string
		want bool
	}{
		{"app", true},
		{"/app", true},
		{"other", false},
		{id, true},
		{id[:12], true},
		{"4f2a9c0d1e7c", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := refMatches(tc.ref, "app", id); got != tc.want {
			t.Errorf("refMatches(%q) = %v, want %v", tc.ref, got, tc.want)
		}
	}
}

// observation is one call of Watch's observe.
type observation struct {
	target controller.Target
	status controller.Status
	at     time.Time
}

// observations are Watch's observations, one channel per host: waiting for
// one host must not consume (and lose) what was observed for another.
type observations map[string]chan observation

// watchT runs p.Watch for the test's duration and hands its observations
// out on a channel per target host.
func watchT(t *testing.T, p *Provider, targets ...controller.Target) observations {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	obs := observations{}
	for _, tg := range targets {
		obs[tg.Host] = make(chan observation, 1024)
	}
	done := make(chan error, 1)
	go func() {
		done <- p.Watch(ctx, func() []controller.Target { return targets }, func(tg controller.Target, st controller.Status) {
			select {
			case obs[tg.Host] <- observation{tg, st, time.Now()}:
			default:
				t.Error("observation buffer full")
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	return obs
}

// expect waits until host is observed in state want, failing after within.
func expect(t *testing.T, obs observations, host string, want controller.State, within time.Duration) observation {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	var seen []string
	for {
		select {
		case o := <-obs[host]:
			if o.status.State == want {
				return o
			}
			seen = append(seen, string(o.status.State)+" ("+o.status.Reason+")")
		case <-deadline.C:
			t.Fatalf("%s not observed %s within %s (observed meanwhile: %s)", host, want, within, strings.Join(seen, ", "))
			return observation{}
		}
	}
}

func TestWatchObservesChangesMadeOutside(t *testing.T) {
	cli, im := images.Images(t)
	c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Health, Start: true})
	p := newTestProvider(t, Options{})
	byName := target(c.Name)
	byID := controller.Target{Host: "by-id.test", Provider: "docker", Backend: Target{Container: c.ID[:12]}}
	other := controller.Target{Host: "other.test", Provider: "gce", Backend: foreignTarget{"x"}}
	waitState(t, p, byName, controller.StateRunning, 15*time.Second) // healthy
	obs := watchT(t, p, byName, byID, other)
	ctx := ctxT(t, time.Minute)

	// Subscribing reports the current state of every target.
	expect(t, obs, byName.Host, controller.StateRunning, 5*time.Second)
	expect(t, obs, byID.Host, controller.StateRunning, 5*time.Second)

	steps := []struct {
		name  string
		do    func() error
		want  controller.State
		check func(controller.Status) bool
	}{
		{"docker stop", func() error { return cli.ContainerStop(ctx, c.ID, container.StopOptions{}) }, controller.StateStopped, nil},
		// Health image: starting until the first check passes.
		{"docker start", func() error { return cli.ContainerStart(ctx, c.ID, container.StartOptions{}) }, controller.StateRunning, nil},
		{"docker pause", func() error { return cli.ContainerPause(ctx, c.ID) }, controller.StateStopped,
			func(s controller.Status) bool { return s.Reason == "paused" }},
		{"docker unpause", func() error { return cli.ContainerUnpause(ctx, c.ID) }, controller.StateRunning, nil},
		{"docker kill", func() error { return cli.ContainerKill(ctx, c.ID, "KILL") }, controller.StateStopped, nil},
		{"docker rm", func() error { return cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}) }, controller.StateFailed,
			func(s controller.Status) bool { return strings.Contains(s.Reason, "does not exist") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		done := time.Now()
		within := time.Second
		if s.name == "docker start" {
			within = 10 * time.Second // includes the health check turning healthy
		}
		o := expect(t, obs, byName.Host, s.want, within)
		if s.check != nil && !s.check(o.status) {
			t.Errorf("%s: observed %+v", s.name, o.status)
		}
		t.Logf("%s → observed %s %s after the call returned", s.name, o.status.State, o.at.Sub(done).Round(time.Millisecond))
	}
	// The target named by ID prefix saw the end too, naming its reference.
	o := expect(t, obs, byID.Host, controller.StateFailed, time.Second)
	if !strings.Contains(o.status.Reason, c.ID[:12]) {
		t.Errorf("by ID: reason %q does not name %s", o.status.Reason, c.ID[:12])
	}
}

// engineProxy stands between the provider and the real engine, so a test
// can break the event stream or take the "engine" down and bring it back
// without touching the daemon other tests use.
type engineProxy struct {
	t        *testing.T
	path     string
	upstream string // unix socket path of the real engine

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newEngineProxy(t *testing.T, daemonHost string) *engineProxy {
	u, err := url.Parse(daemonHost)
	if err != nil || u.Scheme != "unix" {
		t.Skipf("the engine proxy needs a unix socket engine, have %q", daemonHost)
	}
	ep := &engineProxy{t: t, path: filepath.Join(t.TempDir(), "engine.sock"), upstream: u.Path, conns: map[net.Conn]struct{}{}}
	ep.up()
	t.Cleanup(func() { ep.down(); ep.wg.Wait() })
	return ep
}

func (ep *engineProxy) host() string { return "unix://" + ep.path }

func (ep *engineProxy) up() {
	l, err := net.Listen("unix", ep.path)
	if err != nil {
		ep.t.Fatalf("proxy listen: %v", err)
	}
	ep.mu.Lock()
	ep.l = l
	ep.mu.Unlock()
	ep.wg.Add(1)
	go func() {
		defer ep.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ep.wg.Add(1)
			go func() { defer ep.wg.Done(); ep.relay(c) }()
		}
	}()
}

func (ep *engineProxy) relay(c net.Conn) {
	u, err := net.Dial("unix", ep.upstream)
	if err != nil {
		c.Close()
		return
	}
	ep.mu.Lock()
	ep.conns[c], ep.conns[u] = struct{}{}, struct{}{}
	ep.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(u, c); u.Close() }()
	go func() { defer wg.Done(); _, _ = io.Copy(c, u); c.Close() }()
	wg.Wait()
	ep.mu.Lock()
	delete(ep.conns, c)
	delete(ep.conns, u)
	ep.mu.Unlock()
}

// cut closes every open connection (the engine restarted).
func (ep *engineProxy) cut() {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for c := range ep.conns {
		c.Close()
	}
}

// down stops accepting (the engine is gone) and cuts what is open.
func (ep *engineProxy) down() {
	ep.mu.Lock()
	if ep.l != nil {
		ep.l.Close()
		ep.l = nil
	}
	ep.mu.Unlock()
	ep.cut()
}

func TestWatchResubscribesAndRecovers(t *testing.T) {
	cli, im := images.Images(t)
	c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain, Start: true})
	proxy := newEngineProxy(t, cli.DaemonHost())
	ctx := ctxT(t, time.Minute)
	tg := target(c.Name)

	// The engine is down when the provider is built: nothing broken is
	// kept (API version negotiation waits for the first answer).
	proxy.down()
	p := newTestProvider(t, Options{Host: proxy.host()})
	if err := p.Check(ctx); !errors.Is(err, controller.ErrUnavailable) {
		t.Fatalf("Check before the engine is up: %v, want ErrUnavailable", err)
	}
	proxy.up()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check once the engine is up: %v", err)
	}
	waitState(t, p, tg, controller.StateRunning, 10*time.Second)
	obs := watchT(t, p, tg)
	expect(t, obs, tg.Host, controller.StateRunning, 5*time.Second)

	// The stream breaks; the resubscription reports the state again…
	proxy.cut()
	expect(t, obs, tg.Host, controller.StateRunning, 5*time.Second)
	// …and follows events again.
	if err := cli.ContainerStop(ctx, c.ID, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, obs, tg.Host, controller.StateStopped, time.Second)

	// The engine goes away: calls fail as temporarily unavailable.
	proxy.down()
	if err := p.Check(ctx); !errors.Is(err, controller.ErrUnavailable) {
		t.Fatalf("Check with the engine down: %v, want ErrUnavailable", err)
	}
	if _, err := p.Status(ctx, tg); !errors.Is(err, controller.ErrUnavailable) {
		t.Fatalf("Status with the engine down: %v, want ErrUnavailable", err)
	}
	// Meanwhile someone starts the container.
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	// The engine returns: the provider recovers by itself and the change
	// made while the stream was down is reported.
	proxy.up()
	back := time.Now()
	o := expect(t, obs, tg.Host, controller.StateRunning, 5*time.Second)
	t.Logf("change made while the engine was unreachable reported %s after it came back", o.at.Sub(back).Round(time.Millisecond))
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check after the engine came back: %v", err)
	}
	if err := p.Stop(ctx, tg); err != nil {
		t.Fatalf("Stop after the engine came back: %v", err)
	}
	expect(t, obs, tg.Host, controller.StateStopped, time.Second)
}

// foreignTarget is a target of another kind of provider.
type foreignTarget struct{ instance string }

func (f foreignTarget) String() string { return "instance=" + f.instance }
