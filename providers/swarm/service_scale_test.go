package swarm

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/swarmtest"
)

var swarmInspect = swarm.ServiceInspectOptions{}

// Stop scales to 0 and remembers the replicas; Start scales back to them;
// both are idempotent, and a crowd of concurrent Starts (several replicas
// of waitingroom, an operator) ends with the service at its replicas and
// no error, through the version-conflict retries.
func TestStartStopIdempotentReplicasRemembered(t *testing.T) {
	cli, im := engine(t)
	svc := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: im.Plain, Replicas: 2})
	p := newTestProvider(t, Options{})
	tg := target(svc.Name)
	waitState(t, p, tg, controller.StateRunning, 90*time.Second)

	for i := range 2 {
		if err := p.Stop(ctxT(t, 30*time.Second), tg); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	if n, label := replicas(t, cli, svc.ID); n != 0 || label != "2" {
		t.Fatalf("after Stop: replicas %d, label %s=%q; want 0 and \"2\"", n, LabelReplicas, label)
	}
	waitState(t, p, tg, controller.StateStopped, 60*time.Second)

	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.Start(ctxT(t, 30*time.Second), tg)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Start: %v", err)
		}
	}
	if n, _ := replicas(t, cli, svc.ID); n != 2 {
		t.Fatalf("after Start: replicas %d, want the remembered 2", n)
	}
	st := waitState(t, p, tg, controller.StateRunning, 90*time.Second)
	if st.Reason != "" {
		t.Errorf("running with reason %q", st.Reason)
	}
	if err := p.Start(ctxT(t, 30*time.Second), tg); err != nil {
		t.Fatalf("Start of a running service: %v", err)
	}
}

// A service never put to sleep by waitingroom (no label) wakes to 1 replica;
// an operator's label says otherwise; a bad label is a clear error.
func TestStartReplicasFromLabel(t *testing.T) {
	cli, im := engine(t)
	p := newTestProvider(t, Options{})
	tests := []struct {
		name    string
		labels  map[string]string
		want    uint64
		wantErr string
	}{
		{"default", nil, 1, ""},
		{"label", map[string]string{LabelReplicas: "3"}, 3, ""},
		{"bad label", map[string]string{LabelReplicas: "many"}, 0, `label waitingroom.replicas="many": want a positive number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: im.Plain, Labels: tc.labels})
			err := p.Start(ctxT(t, 30*time.Second), target(svc.Name))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Start: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if n, _ := replicas(t, cli, svc.ID); n != tc.want {
				t.Fatalf("replicas %d, want %d", n, tc.want)
			}
		})
	}
}

// What cannot be scaled says so: a missing service, a target without one,
// a global service.
func TestMissingAndUnscalableServices(t *testing.T) {
	cli, im := engine(t)
	p := newTestProvider(t, Options{})
	missing := target("wrtest-no-such-service")
	if err := p.Start(ctxT(t, 30*time.Second), missing); !errors.Is(err, ErrNoService) {
		t.Fatalf("Start of a missing service: %v, want ErrNoService", err)
	}
	st, err := p.Status(ctxT(t, 30*time.Second), missing)
	if err != nil || st.State != controller.StateFailed || !strings.Contains(st.Reason, `"wrtest-no-such-service" does not exist`) {
		t.Fatalf("Status of a missing service: %+v, %v", st, err)
	}
	st, err = p.Status(ctxT(t, 30*time.Second), controller.Target{Host: "x.test", Backend: Target{}})
	if err != nil || st.State != controller.StateFailed || !strings.Contains(st.Reason, "no service") {
		t.Fatalf("Status without a service field: %+v, %v", st, err)
	}

	global := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: im.Plain, Global: true})
	if err := p.Stop(ctxT(t, 30*time.Second), target(global.Name)); err == nil || !strings.Contains(err.Error(), "not a replicated service (global)") {
		t.Fatalf("Stop of a global service: %v", err)
	}
}
