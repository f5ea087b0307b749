package docker

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
)

func TestStatusOf(t *testing.T) {
	health := func(status string, outputs ...string) *container.Health {
		h := &container.Health{Status: status, FailingStreak: len(outputs)}
		for _, o := range outputs {
			h.Log = append(h.Log, &container.HealthcheckResult{ExitCode: 1, Output: o})
		}
		return h
	}
	tests := []struct {
		name       string
		state      container.State
		restarts   int
		wantState  controller.State
		wantReason string
	}{
		{"running without health check", container.State{Status: "running", Running: true}, 0, controller.StateRunning, ""},
		{"health starting", container.State{Status: "running", Health: health("starting")}, 0, controller.StateStarting, "health check starting"},
		{"healthy", container.State{Status: "running", Health: health("healthy")}, 0, controller.StateRunning, ""},
		{"unhealthy names the last check output", container.State{Status: "running", Health: health("unhealthy", "old", "healthz answered 503:\n db down\n")}, 0, controller.StateFailed, "unhealthy: healthz answered 503: db down"},
		{"unhealthy without output", container.State{Status: "running", Health: &container.Health{Status: "unhealthy", FailingStreak: 1, Log: []*container.HealthcheckResult{{ExitCode: 1}}}}, 0, controller.StateFailed, "unhealthy: health check exited with code 1"},
		{"unhealthy names the failing check, not a later pass", container.State{Status: "running", Health: &container.Health{Status: "unhealthy", FailingStreak: 2, Log: []*container.HealthcheckResult{{ExitCode: 1, Output: "timeout"}, {ExitCode: 0, Output: "ok"}}}}, 0, controller.StateFailed, "unhealthy: timeout"},
		{"unpaused, healthy when paused", container.State{Status: "running", Health: &container.Health{Status: "unhealthy", Log: []*container.HealthcheckResult{{ExitCode: 0, Output: "ok"}}}}, 0, controller.StateRunning, ""},
		{"unpaused, never checked", container.State{Status: "running", Health: &container.Health{Status: "unhealthy"}}, 0, controller.StateStarting, "health check pending"},
		{"paused is asleep", container.State{Status: "paused", Paused: true}, 0, controller.StateStopped, "paused"},
		{"first restart", container.State{Status: "restarting", Restarting: true}, 1, controller.StateStarting, "restarting (restart count 1)"},
		{"crash loop", container.State{Status: "restarting", Restarting: true, ExitCode: 3}, 5, controller.StateFailed, "restarting (restart count 5), last exit code 3"},
		{"created", container.State{Status: "created"}, 0, controller.StateStopped, "created"},
		{"exited", container.State{Status: "exited", ExitCode: 143}, 0, controller.StateStopped, `container "app" exited with code 143`},
		{"oom", container.State{Status: "exited", ExitCode: 137, OOMKilled: true}, 0, controller.StateStopped, `container "app" exited with code 137 (out of memory)`},
		{"removing", container.State{Status: "removing"}, 0, controller.StateStopping, `container "app" is being removed`},
		{"dead", container.State{Status: "dead", Dead: true}, 0, controller.StateFailed, `container "app" is dead (the engine failed to remove it)`},
		{"unknown engine state", container.State{Status: "teleporting"}, 0, controller.StateUnknown, `container "app" is in unknown engine state "teleporting"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.state
			ins := container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{Name: "/app", State: &st, RestartCount: tc.restarts}}
			got := statusOf(ins, "")
			if got.State != tc.wantState || got.Reason != tc.wantReason {
				t.Fatalf("statusOf = %s %q, want %s %q", got.State, got.Reason, tc.wantState, tc.wantReason)
			}
			// Only a container that ran and ended fails a wake at once.
			if want := tc.state.Status == "exited"; got.Exited != want {
				t.Fatalf("statusOf Exited = %v, want %v", got.Exited, want)
			}
		})
	}
}

func TestInternalIP(t *testing.T) {
	ins := container.InspectResponse{NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{
		"zeta":  {IPAddress: "10.0.0.9"},
		"alpha": {IPAddress: ""},
		"beta":  {IPAddress: "10.0.0.2"},
	}}}
	for network, want := range map[string]string{"": "10.0.0.2", "zeta": "10.0.0.9", "alpha": "", "missing": ""} {
		if got := internalIP(ins, network); got != want {
			t.Errorf("internalIP(network %q) = %q, want %q", network, got, want)
		}
	}
}

func TestStatusWithHealthcheck(t *testing.T) {
	cli, im := images.Images(t)
	p := newTestProvider(t, Options{})
	ctx := ctxT(t, time.Minute)

	t.Run("starting until healthy, then running", func(t *testing.T) {
		t.Parallel()
		c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Health, Env: []string{"HEALTHY_AFTER=1500ms"}})
		tg := target(c.Name)
		if err := p.Start(ctx, tg); err != nil {
			t.Fatal(err)
		}
		// /healthz answers 503 for 1.5s: the first look must be starting.
		st, err := p.Status(ctx, tg)
		if err != nil || st.State != controller.StateStarting {
			t.Fatalf("just started: Status = %+v, %v; want starting", st, err)
		}
		waitState(t, p, tg, controller.StateRunning, 15*time.Second)
	})
	t.Run("unhealthy is failed with the check's output", func(t *testing.T) {
		t.Parallel()
		c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Health, Env: []string{"UNHEALTHY=database unreachable"}, Start: true})
		st := waitState(t, p, target(c.Name), controller.StateFailed, 20*time.Second)
		if !strings.HasPrefix(st.Reason, "unhealthy: ") || !strings.Contains(st.Reason, "database unreachable") {
			t.Fatalf("reason %q: want unhealthy: … database unreachable", st.Reason)
		}
	})
	t.Run("crash loop is failed with the restart count", func(t *testing.T) {
		t.Parallel()
		c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain, Env: []string{"EXIT_CODE=3"}, Restart: "always", Start: true})
		st := waitState(t, p, target(c.Name), controller.StateFailed, 20*time.Second)
		if !strings.HasPrefix(st.Reason, "restarting (restart count ") {
			t.Fatalf("reason %q: want restarting (restart count N)", st.Reason)
		}
	})
}

func TestPIDOfRunningContainer(t *testing.T) {
	cli, im := images.Images(t)
	p := newTestProvider(t, Options{})
	c := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain, Start: true})
	tg := target(c.Name)
	pid, err := p.PID(context.Background(), tg)
	if err != nil || pid <= 0 {
		t.Fatalf("PID = %d, %v", pid, err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/net/tcp", pid)); err != nil {
		t.Fatalf("the container's network table is not readable: %v", err)
	}
	if err := p.Stop(context.Background(), tg); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PID(context.Background(), tg); err == nil {
		t.Fatal("PID of a stopped container succeeded")
	}
}
