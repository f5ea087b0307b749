package swarm

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/internal/testutil/swarmtest"
)

// images are built once for the package's tests; the swarm is joined (or
// initialised) on first use; TestMain removes the images and leaves a swarm
// it initialised, also when tests failed.
var (
	images dockertest.Shared
	swarms swarmtest.Swarm
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, c := range []func() error{images.Close, swarms.Close} {
		if err := c(); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// engine returns a client of an engine in swarm mode and the test images.
func engine(t *testing.T) (*client.Client, *dockertest.Images) {
	t.Helper()
	cli := swarms.Require(t)
	_, im := images.Images(t)
	return cli, im
}

func newTestProvider(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.Name == "" {
		o.Name = "swarm"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func target(service string) controller.Target {
	return controller.Target{Host: service + ".test", Provider: "swarm", Backend: Target{Service: service}}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitState polls Status until it reports want.
func waitState(t testing.TB, p *Provider, tg controller.Target, want controller.State, timeout time.Duration) controller.Status {
	t.Helper()
	return dockertest.WaitState(t, p.Status, tg, want, timeout)
}

// replicas reads the service's replicas and remembered-replicas label.
func replicas(t testing.TB, cli *client.Client, id string) (uint64, string) {
	t.Helper()
	svc, _, err := cli.ServiceInspectWithRaw(ctxT(t, 10*time.Second), id, swarmInspect)
	if err != nil {
		t.Fatalf("inspect service: %v", err)
	}
	return *svc.Spec.Mode.Replicated.Replicas, svc.Spec.Labels[LabelReplicas]
}
