package docker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
)

func TestStartStopAreIdempotent(t *testing.T) {
	cli, im := images.Images(t)
	net := dockertest.Network(t, cli)
	c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain, Network: net})
	p := newTestProvider(t, Options{Network: net})
	tg := target(c.Name)
	ctx := ctxT(t, time.Minute)

	if st, err := p.Status(ctx, tg); err != nil || st.State != controller.StateStopped {
		t.Fatalf("created container: Status = %+v, %v; want stopped", st, err)
	}
	// Stopping a container that never ran is success.
	if err := p.Stop(ctx, tg); err != nil {
		t.Fatalf("Stop of a created container: %v", err)
	}
	for i := range 2 {
		if err := p.Start(ctx, tg); err != nil {
			t.Fatalf("Start #%d: %v", i+1, err)
		}
	}
	st := waitState(t, p, tg, controller.StateRunning, 10*time.Second)
	if st.InternalIP == "" {
		t.Errorf("running container on network %s: no InternalIP in %+v", net, st)
	}
	// By ID works as well as by name.
	if err := p.Start(ctx, target(c.ID)); err != nil {
		t.Fatalf("Start by ID of a running container: %v", err)
	}
	for i := range 2 {
		if err := p.Stop(ctx, tg); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	if st, err := p.Status(ctx, tg); err != nil || st.State != controller.StateStopped {
		t.Fatalf("after Stop: Status = %+v, %v; want stopped", st, err)
	}
}

func TestPauseSleep(t *testing.T) {
	cli, im := images.Images(t)
	tests := []struct {
		name          string
		image         string
		providerSleep string
		targetSleep   string
	}{
		{"provider default pause", im.Plain, SleepPause, ""},
		{"host overrides stop with pause", im.Plain, SleepStop, SleepPause},
		// The engine marks a paused container unhealthy and re-checks
		// only an interval after the unpause: the wake must not wait.
		{"with a health check", im.Health, SleepPause, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dockertest.Create(t, cli, dockertest.Spec{Image: tc.image, Start: true})
			p := newTestProvider(t, Options{Sleep: tc.providerSleep})
			tg := target(c.Name)
			tg.Sleep = tc.targetSleep
			ctx := ctxT(t, time.Minute)
			waitState(t, p, tg, controller.StateRunning, 15*time.Second)

			for range 2 {
				if err := p.Stop(ctx, tg); err != nil {
					t.Fatalf("Stop (pause): %v", err)
				}
			}
			ins, err := cli.ContainerInspect(ctx, c.ID)
			if err != nil || !ins.State.Paused {
				t.Fatalf("after Stop with sleep pause: paused=%v, %v", ins.State != nil && ins.State.Paused, err)
			}
			st, err := p.Status(ctx, tg)
			if err != nil || st.State != controller.StateStopped || st.Reason != "paused" {
				t.Fatalf("paused: Status = %+v, %v; want stopped (paused)", st, err)
			}
			began := time.Now()
			if err := p.Start(ctx, tg); err != nil {
				t.Fatalf("Start of a paused container: %v", err)
			}
			st, err = p.Status(ctx, tg)
			took := time.Since(began)
			if err != nil || st.State != controller.StateRunning {
				t.Fatalf("right after unpausing: Status = %+v, %v; want running", st, err)
			}
			t.Logf("wake by unpause: %s (Start → Status running)", took.Round(time.Millisecond))
		})
	}
}

func TestStopStoppedPausedContainer(t *testing.T) {
	// A container paused by someone else is stopped for real by sleep: stop
	// (thawed first, so its stop signal is handled, not a SIGKILL).
	cli, im := images.Images(t)
	c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Health, Start: true}) // healthy: signal handlers installed
	p := newTestProvider(t, Options{StopTimeout: 20 * time.Second})
	tg := target(c.Name)
	ctx := ctxT(t, time.Minute)
	waitState(t, p, tg, controller.StateRunning, 10*time.Second)
	if err := cli.ContainerPause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := p.Stop(ctx, tg); err != nil {
		t.Fatalf("Stop of a paused container: %v", err)
	}
	ins, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ins.State.Running || ins.State.ExitCode != 0 {
		t.Fatalf("after Stop: running=%v exit=%d; want exited 0 (SIGTERM handled)", ins.State.Running, ins.State.ExitCode)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("Stop took %s: the stop signal was not handled", d)
	}
}

func TestStopSignalAndGracePeriod(t *testing.T) {
	cli, im := images.Images(t)
	tests := []struct {
		name       string
		stopSignal string
		env        []string
		grace      time.Duration
		wantExit   int
		minTime    time.Duration // a kill must wait the grace period
		maxTime    time.Duration
	}{
		{name: "container's stop signal is used", stopSignal: "SIGUSR1", grace: 20 * time.Second, wantExit: 42, maxTime: 10 * time.Second},
		{name: "killed after the grace period", env: []string{"IGNORE_TERM=1"}, grace: time.Second, wantExit: 137, minTime: 900 * time.Millisecond, maxTime: 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The health check says when the server has installed its signal
			// handlers; a signal before that would hit the Go runtime's default.
			c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Health, StopSignal: tc.stopSignal, Env: tc.env, Start: true})
			p := newTestProvider(t, Options{StopTimeout: tc.grace})
			tg := target(c.Name)
			ctx := ctxT(t, time.Minute)
			waitState(t, p, tg, controller.StateRunning, 10*time.Second)
			began := time.Now()
			if err := p.Stop(ctx, tg); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			took := time.Since(began)
			ins, err := cli.ContainerInspect(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ins.State.ExitCode != tc.wantExit {
				t.Errorf("exit code %d, want %d", ins.State.ExitCode, tc.wantExit)
			}
			if took < tc.minTime || took > tc.maxTime {
				t.Errorf("Stop took %s, want between %s and %s", took, tc.minTime, tc.maxTime)
			}
		})
	}
}

func TestMissingContainerIsFailedNamingIt(t *testing.T) {
	cli, im := images.Images(t)
	removed := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain})
	if err := cli.ContainerRemove(ctxT(t, 30*time.Second), removed.ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	p := newTestProvider(t, Options{})
	for _, name := range []string{dockertest.Name("wrtest-never-created"), removed.Name} {
		t.Run(name, func(t *testing.T) {
			ctx := ctxT(t, 30*time.Second)
			tg := target(name)
			want := `container "` + name + `" does not exist`
			st, err := p.Status(ctx, tg)
			if err != nil || st.State != controller.StateFailed || st.Reason != want {
				t.Fatalf("Status = %+v, %v; want failed %q", st, err, want)
			}
			for op, f := range map[string]func() error{
				"Start": func() error { return p.Start(ctx, tg) },
				"Stop":  func() error { return p.Stop(ctx, tg) },
			} {
				err := f()
				if !errors.Is(err, ErrNoContainer) || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %v; want an ErrNoContainer saying %q", op, err, want)
				}
				if errors.Is(err, controller.ErrUnavailable) {
					t.Errorf("%s: a missing container is not a temporary problem: %v", op, err)
				}
			}
		})
	}
}
