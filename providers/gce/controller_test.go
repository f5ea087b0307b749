package gce_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/providers/gce/gcetest"
	"github.com/waitingroom/waitingroom/store/memory"
)

// newController wires a real controller with the memory store around p.
func newController(t *testing.T, p controller.Provider, h controller.Host) *controller.Controller {
	t.Helper()
	reg := controller.NewRegistry([]controller.Host{h}, map[string]controller.Provider{"gce": p})
	c := controller.New(controller.Options{
		Store:    memory.New(nil),
		Registry: reg,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	return c
}

func waitState(t *testing.T, c *controller.Controller, host string, want controller.State) controller.Record {
	t.Helper()
	var rec controller.Record
	poll.Until(t, 10*time.Second, fmt.Sprintf("%s to be %s", host, want), func() bool {
		var err error
		_, rec, err = c.Status(context.Background(), host)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if rec.State == controller.StateFailed && want != controller.StateFailed {
			t.Fatalf("%s failed: %s", host, rec.Reason)
		}
		return rec.State == want
	})
	return rec
}

func TestHundredConcurrentWakesMakeOneStartRequest(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm"})
	p := newProvider(t, srv)
	h := controller.Host{
		Name: "vm.example.com", Provider: "gce", Target: target("vm"),
		StartTimeout: 10 * time.Second, IdleTimeout: time.Hour,
	}
	c := newController(t, p, h)

	const n = 100
	var wg sync.WaitGroup
	ready := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			_, err := c.Wake(context.Background(), h.Name, controller.Client{Display: fmt.Sprintf("192.0.2.%d", i), Source: "page"})
			errs <- err
		}()
	}
	close(ready)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Wake: %v", err)
		}
	}
	waitState(t, c, h.Name, controller.StateRunning)
	if got := srv.Count(gcetest.MethodStart); got != 1 {
		t.Fatalf("start requests at the API = %d, want exactly 1", got)
	}
	if got := status(t, srv, "vm"); got != "RUNNING" {
		t.Fatalf("VM status = %s", got)
	}
}

// TestWakeProbesTheVMsLiveAddress runs the whole wake: the fake VM's
// "application" (a local HTTP server) answers only while the VM runs, and
// ready_url reaches it through {internal_ip}.
func TestWakeProbesTheVMsLiveAddress(t *testing.T) {
	var up atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "booting", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(app.Close)
	_, port, err := net.SplitHostPort(app.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := gcetest.NewServer(t,
		gcetest.WithAddresses(func(string, int) (string, string) { return "127.0.0.1", "127.0.0.1" }),
		gcetest.WithOnRunning(func(string) { up.Store(true) }),
		gcetest.WithOnStopped(func(string) { up.Store(false) }),
	)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm"})
	p := newProvider(t, srv)
	h := controller.Host{
		Name: "vm.example.com", Provider: "gce", Target: target("vm"),
		ReadyURL:     "http://{internal_ip}:" + port + "/healthz",
		StartTimeout: 10 * time.Second, IdleTimeout: time.Hour,
	}
	c := newController(t, p, h)
	if _, err := c.Wake(context.Background(), h.Name, controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, h.Name, controller.StateRunning)
	if !up.Load() {
		t.Fatal("running before the VM's application was up")
	}
	if _, err := c.Stop(context.Background(), h.Name, "test"); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, h.Name, controller.StateStopped)
	if got := status(t, srv, "vm"); got != "TERMINATED" {
		t.Fatalf("VM status = %s", got)
	}
}

func TestWakeOfMissingVMFailsWithTheMessage(t *testing.T) {
	srv := gcetest.NewServer(t)
	p := newProvider(t, srv)
	h := controller.Host{
		Name: "ghost.example.com", Provider: "gce", Target: target("ghost"),
		StartTimeout: 10 * time.Second,
	}
	c := newController(t, p, h)
	if _, err := c.Wake(context.Background(), h.Name, controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	rec := waitState(t, c, h.Name, controller.StateFailed)
	const want = `start: GCE instance "ghost" not found in project "test-project" zone "europe-west1-b": check instance/zone in the config`
	if rec.Reason != want {
		t.Fatalf("reason = %q\nwant     %q", rec.Reason, want)
	}
}
