package kubernetes

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/k8stest"
	"github.com/waitingroom/waitingroom/store/memory"
)

// cluster is one control plane for the package's tests, stopped by TestMain.
var cluster k8stest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	cluster.Close()
	os.Exit(code)
}

// env is one test's namespace on the shared cluster and a provider whose
// default namespace it is, reaching the API server through the cluster's
// kubeconfig.
type env struct {
	c  *k8stest.Cluster
	ns string
	p  *Provider
}

func setup(t *testing.T) *env {
	t.Helper()
	c := cluster.Cluster(t)
	ns := c.Namespace(t)
	return &env{c: c, ns: ns, p: newTestProvider(t, Options{Name: "k8s", Kubeconfig: c.Kubeconfig, Namespace: ns})}
}

func newTestProvider(t testing.TB, o Options) *Provider {
	t.Helper()
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

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) deployment(t *testing.T, name string, replicas int32, stage string, mods ...func(*appsv1.Deployment)) controller.Target {
	t.Helper()
	d := k8stest.Deployment(e.ns, name, replicas, stage)
	for _, m := range mods {
		m(d)
	}
	if _, err := e.c.Client.AppsV1().Deployments(e.ns).Create(ctxT(t, 30*time.Second), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
	return controller.Target{Host: name + ".test", Provider: "k8s", Backend: Target{Deployment: name}}
}

func (e *env) statefulSet(t *testing.T, name string, replicas int32) controller.Target {
	t.Helper()
	s := k8stest.StatefulSet(e.ns, name, replicas)
	if _, err := e.c.Client.AppsV1().StatefulSets(e.ns).Create(ctxT(t, 30*time.Second), s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create statefulset %s: %v", name, err)
	}
	return controller.Target{Host: name + ".test", Provider: "k8s", Backend: Target{StatefulSet: name, Namespace: e.ns}}
}

// replicas is the workload's desired replicas and its annotations.
func (e *env) replicas(t *testing.T, tg controller.Target) (int32, map[string]string) {
	t.Helper()
	r, err := e.p.refOf(tg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.p.getWorkload(ctxT(t, 10*time.Second), r)
	if err != nil {
		t.Fatal(err)
	}
	return w.replicas, w.annotations
}

// generation is the workload's metadata.generation: each scale bumps it.
func (e *env) generation(t *testing.T, name string) int64 {
	t.Helper()
	d, err := e.c.Client.AppsV1().Deployments(e.ns).Get(ctxT(t, 10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

// scaleByHand sets the deployment's replicas as an operator would.
func (e *env) scaleByHand(t *testing.T, name string, n int32) {
	t.Helper()
	if err := k8stest.Scale(ctxT(t, 10*time.Second), e.c.Client, e.ns, name, n); err != nil {
		t.Fatal(err)
	}
}

// waitState polls Status until it reports want.
func waitState(t *testing.T, p *Provider, tg controller.Target, want controller.State, within time.Duration) controller.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := p.Status(ctxT(t, 10*time.Second), tg)
		if err == nil && got.State == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not %s within %s: last %s (%s), %v", tg.Host, want, within, got.State, got.Reason, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runController runs the real controller (memory store) in front of p for
// one host until the test ends.
func runController(t *testing.T, p controller.Provider, h controller.Host) *controller.Controller {
	t.Helper()
	store := memory.New(controller.SystemClock{})
	t.Cleanup(func() { store.Close() })
	ctl := controller.New(controller.Options{
		Store:    store,
		Registry: controller.NewRegistry([]controller.Host{h}, map[string]controller.Provider{h.Provider: p}),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ctl.Run(ctx) }()
	t.Cleanup(func() {
		ctl.Shutdown(context.Background())
		cancel()
		<-done
	})
	return ctl
}

// waitEvent waits for the host's state to become want, failing on another
// final state.
func waitEvent(t *testing.T, ctl *controller.Controller, events <-chan controller.Event, want controller.State, within time.Duration) controller.Event {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("event subscription closed before %s", want)
			}
			if e.To == want {
				return e
			}
			if e.To == controller.StateFailed || e.To == controller.StateRunning {
				t.Fatalf("host became %s (%s), want %s", e.To, e.Reason, want)
			}
		case <-deadline:
			t.Fatalf("host not %s within %s", want, within)
		}
	}
}
