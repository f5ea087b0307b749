package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/waitingroom/waitingroom/internal/testutil/k8stest"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
)

// k8sApp is one Deployment at 0 replicas in a namespace of its own, and
// the YAML that serves it as host app.test.
type k8sApp struct {
	c    *k8stest.Cluster
	ns   string
	name string
}

func newK8sApp(tb testing.TB) *k8sApp {
	tb.Helper()
	c := k8sCluster.Cluster(tb)
	a := &k8sApp{c: c, ns: c.Namespace(tb), name: "app"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Client.AppsV1().Deployments(a.ns).Create(ctx, k8stest.Deployment(a.ns, a.name, 0, ""), metav1.CreateOptions{}); err != nil {
		tb.Fatalf("create deployment: %v", err)
	}
	return a
}

// config is waitingroom's configuration for the app: a kubernetes provider
// through the cluster's kubeconfig, host app.test, extra appended.
func (a *k8sApp) config(idle string, extra string) string {
	return fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
scheduler:
  sweep_interval: 500ms
providers:
  k8s:
    type: kubernetes
    kubeconfig: %q
    namespace: %s
hosts:
  - host: app.test
    provider: k8s
    deployment: %s
    idle_timeout: %s
    start_timeout: 60s
%s`, a.c.Kubeconfig, a.ns, a.name, idle, extra)
}

func (a *k8sApp) deployment(tb testing.TB) *appsv1.Deployment {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := a.c.Client.AppsV1().Deployments(a.ns).Get(ctx, a.name, metav1.GetOptions{})
	if err != nil {
		tb.Fatalf("get deployment: %v", err)
	}
	return d
}

func (a *k8sApp) scale(tb testing.TB, n int32) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k8stest.Scale(ctx, a.c.Client, a.ns, a.name, n); err != nil {
		tb.Fatal(err)
	}
}

// scaleUps counts, from the API server's watch, every change of the
// deployment's replicas from 0 to more, until the test ends.
func (a *k8sApp) scaleUps(tb testing.TB) *atomic.Int32 {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := a.c.Client.AppsV1().Deployments(a.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + a.name})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := int32(-1)
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || ev.Type == watch.Deleted || d.Spec.Replicas == nil {
				continue
			}
			if last == 0 && *d.Spec.Replicas > 0 {
				n.Add(1)
			}
			last = *d.Spec.Replicas
		}
	}()
	tb.Cleanup(func() { cancel(); w.Stop(); <-done })
	return &n
}

// The binary wakes a Deployment at 0 replicas when a browser asks for its
// host (the waiting page, then running once the pod is Ready), hears about
// a scale to 0 made by hand through its watch, wakes it again, and scales
// it to 0 once it is idle.
func TestKubernetesWakeThroughBinary(t *testing.T) {
	a := newK8sApp(t)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), a.config("4s", ""))
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "app.test") == "stopped" }, "not reconciled as stopped")

	started := time.Now()
	if c := wake(t, w, "app.test"); c != http.StatusServiceUnavailable {
		t.Fatalf("a sleeping host answered %d, want the waiting page (503)", c)
	}
	proc.Eventually(t, 60*time.Second, func() bool { return status(t, w, "app.test") == "running" }, "deployment never running")
	t.Logf("request → running (pod Ready) through the binary: %s", time.Since(started).Round(time.Millisecond))
	// The deployment's status follows its pod's readiness a moment later.
	proc.Eventually(t, 10*time.Second, func() bool {
		d := a.deployment(t)
		return *d.Spec.Replicas == 1 && d.Status.ReadyReplicas == 1
	}, "deployment not at 1 replica, 1 ready")

	// Scaled to 0 behind waitingroom's back right after running: the
	// watch says so. The next wake scales it up again (a stopped host
	// taken for one booting, "found starting", would only be followed,
	// never started, and stay starting until start_timeout).
	a.scale(t, 0)
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "app.test") == "stopped" }, "scale by hand not seen")

	// Wake again, then leave it idle: the sweep scales it to 0.
	if c := wake(t, w, "app.test"); c != http.StatusServiceUnavailable {
		t.Fatalf("the host stopped by hand answered %d, want the waiting page (503)", c)
	}
	proc.Eventually(t, 60*time.Second, func() bool { return status(t, w, "app.test") == "running" }, "second wake never running")
	proc.Eventually(t, 30*time.Second, func() bool { return status(t, w, "app.test") == "stopped" }, "idle deployment never stopped")
	if d := a.deployment(t); *d.Spec.Replicas != 0 || d.Annotations["waitingroom.replicas"] != "1" {
		t.Fatalf("after the idle stop: %d replicas, annotations %v", *d.Spec.Replicas, d.Annotations)
	}
}

// Three replicas of waitingroom on one real redis-server: a crowd of 1,000
// browsers spread over them gets the waiting page, and the API server's
// watch sees the Deployment scaled up exactly once.
func TestKubernetesStampedeAcrossReplicasScalesOnce(t *testing.T) {
	a := newK8sApp(t)
	rs := redistest.Start(t)
	cfg := a.config("30m", fmt.Sprintf("store:\n  redis_url: %q\n", rs.URL()))
	ws := replicas(t, 3, cfg)
	for _, w := range ws {
		proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "app.test") == "stopped" }, "not reconciled")
	}
	ups := a.scaleUps(t)

	const crowd = 1000
	var (
		wg    sync.WaitGroup
		page  atomic.Int32
		other atomic.Int32
	)
	sem := make(chan struct{}, 200) // bounded in flight
	for i := range crowd {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if wake(t, ws[i%len(ws)], "app.test") == http.StatusServiceUnavailable {
				page.Add(1)
			} else {
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	for i, w := range ws {
		proc.Eventually(t, 60*time.Second, func() bool { return status(t, w, "app.test") == "running" }, "replica %d never saw running", i)
	}
	if n := ups.Load(); n != 1 {
		t.Fatalf("the deployment was scaled up %d times for %d requests across 3 replicas, want once", n, crowd)
	}
	t.Logf("%d of %d requests got the waiting page (%d were answered otherwise, after running); 1 scale-up", page.Load(), crowd, other.Load())
}

// BenchmarkKubernetesWake measures a browser's request → the Deployment's
// pod Ready as waitingroom reports it (status running), through the
// binary, beside the engine's floor: a scale call and a watch for the
// pod's Ready with nothing else, on the same control plane. Each iteration
// is one wake from 0 replicas of each; reports the medians and their ratio:
//
//	go test ./e2e -run '^$' -bench KubernetesWake -benchtime 10x
func BenchmarkKubernetesWake(b *testing.B) {
	a := newK8sApp(b)
	floorApp := &k8sApp{c: a.c, ns: a.ns, name: "floor"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N+2)*2*time.Minute)
	defer cancel()
	if _, err := a.c.Client.AppsV1().Deployments(a.ns).Create(ctx, k8stest.Deployment(a.ns, floorApp.name, 0, ""), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// The default wake budget (6 an hour per host) would refuse the 7th
	// wake: a benchmark wakes more often than any visitor should.
	w := proc.StartWaitingroom(b, bins, b.TempDir(), a.config("30m", noBudget))
	proc.Eventually(b, 15*time.Second, func() bool { return status(b, w, "app.test") == "stopped" }, "not reconciled")

	var wakes, floors []time.Duration
	b.ResetTimer()
	for range b.N {
		began := time.Now()
		wake(b, w, "app.test")
		proc.Eventually(b, 60*time.Second, func() bool { return status(b, w, "app.test") == "running" }, "never running")
		wakes = append(wakes, time.Since(began))
		floors = append(floors, floorApp.scaleAndWatchReady(ctx, b))
		b.StopTimer()
		adminStop(ctx, b, w, "app.test")
		proc.Eventually(b, 30*time.Second, func() bool { return status(b, w, "app.test") == "stopped" }, "never stopped")
		floorApp.scale(b, 0)
		floorApp.waitNoPods(ctx, b)
		b.StartTimer()
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mw, mf := median(wakes), median(floors)
	b.ReportMetric(ms(mw), "wake-median-ms")
	b.ReportMetric(ms(mf), "floor-median-ms")
	b.ReportMetric(float64(mw)/float64(mf), "ratio")
	b.ReportMetric(0, "ns/op")
	b.Logf("request → running through the binary: %v", wakes)
	b.Logf("scale 0→1 → pod Ready by watch (floor): %v", floors)
}

// scaleAndWatchReady is the engine's floor: scale to 1 and wait, on a
// watch opened before, for a pod of the app to become Ready.
func (a *k8sApp) scaleAndWatchReady(ctx context.Context, tb testing.TB) time.Duration {
	tb.Helper()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pw, err := a.c.Client.CoreV1().Pods(a.ns).Watch(wctx, metav1.ListOptions{LabelSelector: "app=" + a.name})
	if err != nil {
		tb.Fatal(err)
	}
	defer pw.Stop()
	began := time.Now()
	a.scale(tb, 1)
	for ev := range pw.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return time.Since(began)
			}
		}
	}
	tb.Fatal("the pod watch ended before a pod was Ready")
	return 0
}

// waitNoPods waits until the app's pods of a scale to 0 are gone, so the
// next floor measures a new pod, not the Ready condition of one going away.
func (a *k8sApp) waitNoPods(ctx context.Context, tb testing.TB) {
	tb.Helper()
	proc.Eventually(tb, 30*time.Second, func() bool {
		l, err := a.c.Client.CoreV1().Pods(a.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + a.name})
		return err == nil && len(l.Items) == 0
	}, "pods of %s still there after a scale to 0", a.name)
}
