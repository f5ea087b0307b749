package docker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
)

// images are built once for the package's tests and removed by TestMain.
var images dockertest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := images.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// newTestProvider returns a provider for the engine of DOCKER_HOST, with a
// short stop timeout so tests never wait out the default 10s.
func newTestProvider(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.Name == "" {
		o.Name = "docker"
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 2 * time.Second
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

func target(container string) controller.Target {
	return controller.Target{Host: container + ".test", Provider: "docker", Backend: Target{Container: container}}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitState polls Status until it reports want.
func waitState(t testing.TB, p *Provider, tg controller.Target, want controller.State, timeout time.Duration) controller.Status {
	t.Helper()
	var got controller.Status
	dockertest.Eventually(t, timeout, fmt.Sprintf("%s becomes %s", containerOf(tg), want), func() (bool, string) {
		st, err := p.Status(ctxT(t, 10*time.Second), tg)
		got = st
		if err != nil {
			return false, err.Error()
		}
		return st.State == want, fmt.Sprintf("%s (%s)", st.State, st.Reason)
	})
	return got
}
