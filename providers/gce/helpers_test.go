package gce_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers/gce"
	"github.com/waitingroom/waitingroom/providers/gce/gcetest"
)

const (
	project = "test-project"
	zone    = "europe-west1-b"
)

// newProvider builds a Provider against srv with test-sized intervals.
func newProvider(t *testing.T, srv *gcetest.Server, mod ...func(*gce.Options)) *gce.Provider {
	t.Helper()
	opts := gce.Options{
		Project:      project,
		PollInterval: 20 * time.Millisecond,
		RetryBase:    10 * time.Millisecond,
		RetryMax:     80 * time.Millisecond,
		MaxAttempts:  4,
		CallTimeout:  2 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		ClientOptions: []option.ClientOption{
			option.WithEndpoint(srv.URL),
			option.WithoutAuthentication(),
		},
	}
	for _, m := range mod {
		m(&opts)
	}
	p, err := gce.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("gce.New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func target(instance string) controller.Target {
	return controller.Target{
		Host:     instance + ".example.com",
		Provider: "gce",
		Backend:  gce.Target{Instance: instance, Zone: zone},
	}
}

// fields is a gce.Target from its keys.
func fields(m map[string]string) gce.Target {
	return gce.Target{Instance: m["instance"], Zone: m["zone"], Project: m["project"]}
}

// testCtx bounds one test step; nothing here should take seconds.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func status(t *testing.T, srv *gcetest.Server, name string) string {
	t.Helper()
	st, ok := srv.Instance(project, zone, name)
	if !ok {
		t.Fatalf("instance %s missing from the fake", name)
	}
	return st.Status
}
