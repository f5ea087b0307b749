package kubernetes

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/k8stest"
)

// The reads of the API server and of the informers are not one snapshot:
// these tests put a scale to 0 between them, which the real control plane
// does only now and then (TestWakeStopWakeThroughTheController and the
// e2e hand-scale step are the real-thing tests of the same paths).

// skewed is a fake API server holding deployment "app" at 1 replica with
// its one pod Ready.
func skewed(t *testing.T) (*fake.Clientset, *Provider, controller.Target, *corev1.Pod) {
	t.Helper()
	d := k8stest.Deployment("ns", "app", 1, "")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app-1", Namespace: "ns", Labels: map[string]string{"app": "app"}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.0.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
	cs := fake.NewClientset(d, pod)
	p := &Provider{name: "k8s", kube: clients{apps: cs.AppsV1(), core: cs.CoreV1()}, namespace: "ns", log: slog.New(slog.NewTextHandler(io.Discard, nil)), close: func() {}}
	return cs, p, controller.Target{Host: "app.test", Provider: "k8s", Backend: Target{Deployment: "app"}}, pod
}

// scaleToZero does what a scale to 0 by hand ends in: the replicas at 0
// and the pod deleted.
func scaleToZero(t *testing.T, tracker k8stesting.ObjectTracker, pod *corev1.Pod) {
	t.Helper()
	d := k8stest.Deployment("ns", "app", 0, "")
	if err := tracker.Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, "ns"); err != nil {
		t.Fatal(err)
	}
	if err := tracker.Delete(corev1.SchemeGroupVersion.WithResource("pods"), "ns", pod.Name); err != nil {
		t.Fatal(err)
	}
}

// A scale to 0 between Status's read of the replicas and its list of the
// pods is stopped, not a host starting with 0 of 1 pods ready.
func TestStatusOfAScaleDownBetweenItsReads(t *testing.T) {
	cs, p, tg, pod := skewed(t)
	done := false
	cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !done {
			done = true
			scaleToZero(t, cs.Tracker(), pod)
		}
		return false, nil, nil
	})
	st, err := p.Status(ctxT(t, 10*time.Second), tg)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != controller.StateStopped {
		t.Fatalf("Status: %s (%s), want stopped", st.State, st.Reason)
	}
}

// Watch's pod cache ahead of its Deployment cache (the Deployment's watch
// has not delivered the scale to 0 yet, the pod's has delivered the pod's
// deletion): Watch reports stopped, never starting.
func TestWatchWithItsDeploymentCacheBehind(t *testing.T) {
	cs, p, tg, pod := skewed(t)
	deployments, pods := watch.NewFake(), watch.NewFake()
	cs.PrependWatchReactor("deployments", func(k8stesting.Action) (bool, watch.Interface, error) { return true, deployments, nil })
	cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) { return true, pods, nil })

	ctx, cancel := context.WithCancel(context.Background())
	seen := make(chan controller.Status, 100)
	done := make(chan error, 1)
	go func() {
		done <- p.Watch(ctx, func() []controller.Target { return []controller.Target{tg} }, func(_ controller.Target, st controller.Status) { seen <- st })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()
	next := func() controller.Status {
		t.Helper()
		select {
		case st := <-seen:
			return st
		case <-time.After(30 * time.Second):
			t.Fatal("Watch reported nothing within 30s")
			return controller.Status{}
		}
	}
	if st := next(); st.State != controller.StateRunning {
		t.Fatalf("first report %s (%s), want running", st.State, st.Reason)
	}
	scaleToZero(t, cs.Tracker(), pod)
	pods.Delete(pod) // blocks until the pod informer takes it
	if st := next(); st.State != controller.StateStopped {
		t.Fatalf("after the pod's deletion with the Deployment's news late: %s (%s), want stopped", st.State, st.Reason)
	}
}
