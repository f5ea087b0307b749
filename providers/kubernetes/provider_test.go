package kubernetes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/k8stest"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// Start scales 0 → 1 (no annotation yet) and the pod becomes Ready; Stop
// remembers the replicas an operator set meanwhile and scales to 0; the
// next Start scales back to them. Both are idempotent: repeating either
// changes nothing (the workload's generation stays).
func TestStartStopRememberReplicas(t *testing.T) {
	e := setup(t)
	tg := e.deployment(t, "web", 0, "")
	ctx := ctxT(t, 2*time.Minute)
	waitState(t, e.p, tg, controller.StateStopped, 10*time.Second)

	if err := e.p.Start(ctx, tg); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if n, _ := e.replicas(t, tg); n != 1 {
		t.Fatalf("after Start: %d replicas, want 1 (the default)", n)
	}
	st := waitState(t, e.p, tg, controller.StateRunning, 30*time.Second)
	if st.InternalIP == "" {
		t.Errorf("running without the pod's IP: %+v", st)
	}
	gen := e.generation(t, "web")
	if err := e.p.Start(ctx, tg); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if g := e.generation(t, "web"); g != gen {
		t.Fatalf("a second Start changed the deployment (generation %d → %d)", gen, g)
	}

	e.scaleByHand(t, "web", 3)
	waitState(t, e.p, tg, controller.StateRunning, 30*time.Second)
	if err := e.p.Stop(ctx, tg); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	n, ann := e.replicas(t, tg)
	if n != 0 || ann[AnnotationReplicas] != "3" {
		t.Fatalf("after Stop: %d replicas, annotation %q; want 0 and \"3\"", n, ann[AnnotationReplicas])
	}
	waitState(t, e.p, tg, controller.StateStopped, 30*time.Second)
	gen = e.generation(t, "web")
	if err := e.p.Stop(ctx, tg); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if g := e.generation(t, "web"); g != gen {
		t.Fatalf("a second Stop changed the deployment (generation %d → %d)", gen, g)
	}

	if err := e.p.Start(ctx, tg); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	if n, _ := e.replicas(t, tg); n != 3 {
		t.Fatalf("Start after Stop: %d replicas, want the remembered 3", n)
	}
	waitState(t, e.p, tg, controller.StateRunning, 30*time.Second)
}

// A StatefulSet in a namespace the target names wakes and sleeps too.
func TestStatefulSetWakesAndSleeps(t *testing.T) {
	e := setup(t)
	other := newTestProvider(t, Options{Name: "k8s", Kubeconfig: e.c.Kubeconfig, Namespace: "default"})
	tg := e.statefulSet(t, "db", 0)
	ctx := ctxT(t, 2*time.Minute)
	if err := other.Start(ctx, tg); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitState(t, other, tg, controller.StateRunning, 30*time.Second)
	if err := other.Stop(ctx, tg); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitState(t, other, tg, controller.StateStopped, 30*time.Second)
	if _, ann := e.replicas(t, tg); ann[AnnotationReplicas] != "1" {
		t.Fatalf("annotation after Stop: %v", ann)
	}
}

// Watch reports the pod becoming Ready (no polling: the informers' events),
// and a scale to 0 made by hand.
func TestWatchReportsReadyAndAScaleByHand(t *testing.T) {
	e := setup(t)
	tg := e.deployment(t, "watched", 0, "")
	ctx, cancel := context.WithCancel(context.Background())
	seen := make(chan controller.Status, 100)
	done := make(chan error, 1)
	go func() {
		done <- e.p.Watch(ctx, func() []controller.Target { return []controller.Target{tg} }, func(got controller.Target, st controller.Status) {
			if got.Host == tg.Host {
				seen <- st
			}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()
	expect := func(want controller.State) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case st := <-seen:
				if st.State == want {
					return
				}
			case <-deadline:
				t.Fatalf("Watch never reported %s", want)
			}
		}
	}
	expect(controller.StateStopped) // the first report, once the caches are filled
	if err := e.p.Start(ctxT(t, 30*time.Second), tg); err != nil {
		t.Fatal(err)
	}
	expect(controller.StateRunning)
	e.scaleByHand(t, "watched", 0)
	expect(controller.StateStopped)
}

// A wake whose pods cannot become Ready fails with the pods' reason: a
// readiness probe that never passes keeps the host starting until
// start_timeout; a crash loop or a pod no node can take fails it at once,
// long before start_timeout.
func TestWakeFailsWithThePodsReason(t *testing.T) {
	tests := []struct {
		name         string
		stage        string
		nodeSelector map[string]string
		startTimeout time.Duration
		want         []string
	}{
		{name: "never ready", stage: k8stest.StageNotReady, startTimeout: 4 * time.Second,
			want: []string{"not ready within start_timeout 4s", "0 of 1 pods ready", "containers with unready status"}},
		{name: "crash loop", stage: k8stest.StageCrashLoop, startTimeout: 10 * time.Minute,
			want: []string{"/crash-loop: pod crash-loop-", "container app: CrashLoopBackOff", "restart count 5", "last exit code 1"}},
		{name: "unschedulable", nodeSelector: map[string]string{"disk": "ssd-that-no-node-has"}, startTimeout: 10 * time.Minute,
			want: []string{"cannot be scheduled", "node affinity/selector"}},
	}
	e := setup(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-")
			tg := e.deployment(t, name, 0, tt.stage, func(d *appsv1.Deployment) { d.Spec.Template.Spec.NodeSelector = tt.nodeSelector })
			h := controller.Host{Name: tg.Host, Provider: "k8s", Target: tg, StartTimeout: tt.startTimeout, IdleTimeout: time.Minute}
			ctl := runController(t, e.p, h)
			ctx := ctxT(t, time.Minute)
			events := ctl.Subscribe(ctx, h.Name)
			if _, err := ctl.Wake(ctx, h.Name, controller.Client{Source: "test"}); err != nil {
				t.Fatal(err)
			}
			ev := waitEvent(t, ctl, events, controller.StateFailed, 30*time.Second)
			for _, want := range tt.want {
				if !strings.Contains(ev.Reason, want) {
					t.Errorf("reason %q lacks %q", ev.Reason, want)
				}
			}
		})
	}
}

// 500 concurrent wakes through the controller scale the deployment once.
func TestConcurrentWakesScaleOnce(t *testing.T) {
	e := setup(t)
	tg := e.deployment(t, "crowd", 0, "")
	gen := e.generation(t, "crowd")
	h := controller.Host{Name: tg.Host, Provider: "k8s", Target: tg, StartTimeout: time.Minute, IdleTimeout: time.Minute}
	ctl := runController(t, e.p, h)
	ctx := ctxT(t, time.Minute)
	events := ctl.Subscribe(ctx, h.Name)
	var wg sync.WaitGroup
	errs := make(chan error, 500)
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ctl.Wake(ctx, h.Name, controller.Client{Source: "test"}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("wake: %v", err)
	}
	waitEvent(t, ctl, events, controller.StateRunning, 30*time.Second)
	if g := e.generation(t, "crowd"); g != gen+1 {
		t.Fatalf("deployment generation %d → %d: scaled %d times, want once", gen, g, g-gen)
	}
}

// A workload that does not exist is a failed Status naming it, not an
// engine error; Start and Stop say the same.
func TestMissingWorkloadIsFailed(t *testing.T) {
	e := setup(t)
	tg := controller.Target{Host: "ghost.test", Backend: Target{Deployment: "ghost"}}
	st, err := e.p.Status(ctxT(t, 10*time.Second), tg)
	if err != nil || st.State != controller.StateFailed || st.Reason != "deployment "+e.ns+"/ghost does not exist" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	for name, op := range map[string]func(context.Context, controller.Target) error{"Start": e.p.Start, "Stop": e.p.Stop} {
		if err := op(ctxT(t, 10*time.Second), tg); !errors.Is(err, ErrNoWorkload) || errors.Is(err, controller.ErrUnavailable) {
			t.Errorf("%s = %v, want ErrNoWorkload", name, err)
		}
	}
}

// With the API server down every call fails with ErrUnavailable (the page
// shows a temporary problem) and Check says so; once it is back, the
// informers resume by themselves and Watch reports a change made then.
// It restarts the shared API server: no test of this package runs in
// parallel.
func TestAPIServerDownIsUnavailableAndWatchResumes(t *testing.T) {
	e := setup(t)
	tg := e.deployment(t, "outage", 0, "")
	seen := make(chan controller.Status, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.p.Watch(ctx, func() []controller.Target { return []controller.Target{tg} }, func(_ controller.Target, st controller.Status) { seen <- st })
	}()
	defer func() { cancel(); <-done }()
	poll.Until(t, 30*time.Second, "first report", func() bool { return len(seen) > 0 })

	e.c.StopAPIServer()
	restarted := false
	defer func() {
		if !restarted {
			_ = e.c.StartAPIServer(context.Background())
		}
	}()
	calls := map[string]func(context.Context) error{
		"Check": e.p.Check,
		"Start": func(ctx context.Context) error { return e.p.Start(ctx, tg) },
		"Stop":  func(ctx context.Context) error { return e.p.Stop(ctx, tg) },
		"Status": func(ctx context.Context) error {
			st, err := e.p.Status(ctx, tg)
			if err != nil && st.State != controller.StateUnknown {
				t.Errorf("Status with the API server down: %s, want unknown", st.State)
			}
			return err
		},
	}
	for name, call := range calls {
		err := call(ctxT(t, 20*time.Second))
		if !errors.Is(err, controller.ErrUnavailable) {
			t.Errorf("%s with the API server down = %v, want ErrUnavailable", name, err)
		} else if !strings.Contains(err.Error(), e.c.Server) {
			t.Errorf("%s: %q does not name the API server", name, err)
		}
	}

	if err := e.c.StartAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if err := e.p.Check(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("Check after the restart: %v", err)
	}
	for len(seen) > 0 {
		<-seen
	}
	e.scaleByHand(t, "outage", 1)
	deadline := time.After(60 * time.Second)
	for {
		select {
		case st := <-seen:
			if st.State == controller.StateRunning {
				return
			}
		case <-deadline:
			t.Fatal("Watch did not report the scale made after the API server came back")
		}
	}
}

// Discover finds Deployments and StatefulSets annotated with
// waitingroom.host, reports bad annotations and double claims by name, and
// skips unannotated workloads.
func TestDiscoverAnnotations(t *testing.T) {
	e := setup(t)
	p := newTestProvider(t, Options{Name: "k8s", Kubeconfig: e.c.Kubeconfig, Namespace: e.ns, Annotations: true})
	annotate := func(ann map[string]string) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) { d.Annotations = ann }
	}
	suffix := "." + e.ns + ".test" // other tests' workloads may be annotated too
	e.deployment(t, "shop", 0, "", annotate(map[string]string{"waitingroom.host": "shop" + suffix, "waitingroom.idle_timeout": "5m"}))
	e.deployment(t, "shop-copy", 0, "", annotate(map[string]string{"waitingroom.host": "shop" + suffix}))
	e.deployment(t, "typo", 0, "", annotate(map[string]string{"waitingroom.host": "typo" + suffix, "waitingroom.idle_timout": "5m"}))
	e.deployment(t, "plain", 0, "")
	// Annotated as created: a read-modify-write of the whole object would
	// race the StatefulSet controller's status writes (a conflict).
	sts := k8stest.StatefulSet(e.ns, "db", 0)
	sts.Annotations = map[string]string{"waitingroom.host": "db" + suffix}
	if _, err := e.c.Client.AppsV1().StatefulSets(e.ns).Create(ctxT(t, 10*time.Second), sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	hosts, err := p.Discover(ctxT(t, 30*time.Second))
	var mine []controller.Host
	for _, h := range hosts {
		if strings.HasSuffix(h.Name, suffix) {
			mine = append(mine, h)
		}
	}
	if len(mine) != 2 || mine[0].Name != "db"+suffix || mine[1].Name != "shop"+suffix {
		t.Fatalf("discovered %+v", mine)
	}
	if mine[1].IdleTimeout != 5*time.Minute || mine[1].Target.Backend != (Target{Deployment: "shop", Namespace: e.ns}) ||
		mine[0].Target.Backend != (Target{StatefulSet: "db", Namespace: e.ns}) || mine[0].Provider != "k8s" {
		t.Fatalf("discovered %+v", mine)
	}
	for _, want := range []string{
		"deployment " + e.ns + "/shop-copy: annotation waitingroom.host=\"shop" + suffix + "\": host already claimed by deployment " + e.ns + "/shop",
		"deployment " + e.ns + "/typo: annotation waitingroom.idle_timout=\"5m\": unknown annotation",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Discover error %v lacks %q", err, want)
		}
	}
	// A discovered host wakes like a configured one.
	if err := p.Start(ctxT(t, 30*time.Second), mine[0].Target); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, mine[0].Target, controller.StateRunning, 30*time.Second)

	off := newTestProvider(t, Options{Kubeconfig: e.c.Kubeconfig})
	if hs, err := off.Discover(ctxT(t, 10*time.Second)); hs != nil || err != nil {
		t.Fatalf("Discover with annotations off = %v, %v", hs, err)
	}
}

// New refuses a kubeconfig it cannot use, naming it.
func TestNewRefusesABadKubeconfig(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err := New(Options{Name: "k8s", Kubeconfig: "/nonexistent/kubeconfig"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/kubeconfig") {
		t.Fatalf("New = %v", err)
	}
	_, err = New(Options{Name: "k8s", Kubeconfig: writeFile(t, "kubeconfig", "apiVersion: v1\nkind: Config\ncurrent-context: nope\n")})
	if err == nil || !strings.Contains(err.Error(), `kubernetes provider "k8s"`) {
		t.Fatalf("New with a context that does not exist = %v", err)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The binary's path, at the provider: the real controller fed by Watch
// wakes a deployment, stops it, and wakes it again, three times; a second
// stop of a stopped host changes nothing and the next wake still scales
// to the remembered replicas; a scale to 0 by hand right after running is
// seen as stopped, and the next wake reaches running.
func TestWakeStopWakeThroughTheController(t *testing.T) {
	e := setup(t)
	tg := e.deployment(t, "cycle", 0, "")
	h := controller.Host{Name: tg.Host, Provider: "k8s", Target: tg, StartTimeout: time.Minute, IdleTimeout: time.Hour}
	ctl := runController(t, e.p, h)
	wctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() {
		watched <- e.p.Watch(wctx, func() []controller.Target { return []controller.Target{tg} }, func(got controller.Target, st controller.Status) {
			ctl.ObserveEvent(got.Host, st)
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-watched; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	ctx := ctxT(t, 5*time.Minute)
	state := func(want controller.State, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			_, rec, err := ctl.Status(ctx, h.Name)
			if err == nil && rec.State == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("host not %s within %s: last %s (%s), %v", want, within, rec.State, rec.Reason, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wake := func() {
		t.Helper()
		if _, err := ctl.Wake(ctx, h.Name, controller.Client{Source: "test"}); err != nil {
			t.Fatalf("Wake: %v", err)
		}
		state(controller.StateRunning, 30*time.Second)
		if n, _ := e.replicas(t, tg); n != 1 {
			t.Fatalf("running at %d replicas, want 1", n)
		}
	}
	state(controller.StateStopped, 30*time.Second)
	for i := range 3 {
		wake()
		if _, err := ctl.Stop(ctx, h.Name, "test"); err != nil {
			t.Fatalf("Stop %d: %v", i, err)
		}
		state(controller.StateStopped, 30*time.Second)
		if i == 1 {
			if err := e.p.Stop(ctx, tg); err != nil {
				t.Fatalf("second Stop: %v", err)
			}
			if n, ann := e.replicas(t, tg); n != 0 || ann[AnnotationReplicas] != "1" {
				t.Fatalf("after a second Stop: %d replicas, annotation %q; want 0 and \"1\"", n, ann[AnnotationReplicas])
			}
		}
	}
	wake()
	e.scaleByHand(t, "cycle", 0)
	state(controller.StateStopped, 30*time.Second)
	wake()
}
