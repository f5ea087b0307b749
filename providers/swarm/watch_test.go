package swarm

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/internal/testutil/swarmtest"
)

// recorder keeps what Watch observed.
type recorder struct {
	mu  sync.Mutex
	got []controller.State
}

func (r *recorder) observe(_ controller.Target, s controller.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s.State)
}

func (r *recorder) last() controller.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return ""
	}
	return r.got[len(r.got)-1]
}

// A service scaled by hand (docker service scale) is seen through the event
// stream: stopped when scaled to 0, running when scaled back up.
func TestWatchObservesScalingByHand(t *testing.T) {
	cli, im := engine(t)
	svc := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: im.Plain, Replicas: 0})
	other := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: im.Plain, Replicas: 0})
	p := newTestProvider(t, Options{})
	tg := target(svc.Name)
	notMine := controller.Target{Host: "c.test", Provider: "another-swarm", Backend: Target{Service: other.Name}}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var rec recorder
	go func() {
		done <- p.Watch(ctx, func() []controller.Target { return []controller.Target{tg, notMine} }, rec.observe)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	dockertest.Eventually(t, 30*time.Second, "first sweep reports stopped", func() (bool, string) {
		return rec.last() == controller.StateStopped, string(rec.last())
	})

	if err := swarmtest.Scale(ctxT(t, 30*time.Second), cli, svc.ID, 1); err != nil {
		t.Fatalf("scale up by hand: %v", err)
	}
	dockertest.Eventually(t, 90*time.Second, "scale-up by hand observed", func() (bool, string) {
		return rec.last() == controller.StateRunning, string(rec.last())
	})
	if err := swarmtest.Scale(ctxT(t, 30*time.Second), cli, svc.ID, 0); err != nil {
		t.Fatalf("scale down by hand: %v", err)
	}
	dockertest.Eventually(t, 60*time.Second, "scale-down by hand observed", func() (bool, string) {
		return rec.last() == controller.StateStopped, string(rec.last())
	})
}
