package kubernetes

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/waitingroom/waitingroom/controller"
)

func testPod(name string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	for _, m := range mods {
		m(p)
	}
	return p
}

func ready(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = "10.0.0." + p.Name[len(p.Name)-1:]
	p.Status.Conditions = append(p.Status.Conditions,
		corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
}

func notReady(msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = append(p.Status.Conditions,
			corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Message: msg})
	}
}

func container(cs corev1.ContainerStatus) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs) }
}

func TestStatusOf(t *testing.T) {
	w := func(n int32) workload {
		return workload{ref: ref{FieldDeployment, "shop", "web"}, replicas: n, selector: labels.Everything()}
	}
	now := metav1.NewTime(time.Now())
	tests := []struct {
		name   string
		w      workload
		pods   []*corev1.Pod
		state  controller.State
		reason string // a substring of the reason
		ip     string
	}{
		{name: "asleep", w: w(0), state: controller.StateStopped},
		{name: "pods still terminating", w: w(0), pods: []*corev1.Pod{testPod("p1", ready)},
			state: controller.StateStopping, reason: "deployment shop/web: 1 pods terminating"},
		{name: "finished pods are history", w: w(0), pods: []*corev1.Pod{testPod("p1", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })},
			state: controller.StateStopped},
		{name: "scaled, no pod yet", w: w(1), state: controller.StateStarting, reason: "0 of 1 pods ready"},
		{name: "pending pod", w: w(1), pods: []*corev1.Pod{testPod("p1")}, state: controller.StateStarting,
			reason: "0 of 1 pods ready: pod p1 is waiting to be scheduled"},
		{name: "all ready", w: w(2), pods: []*corev1.Pod{testPod("p2", ready), testPod("p1", ready)},
			state: controller.StateRunning, ip: "10.0.0.1"},
		{name: "one of two ready", w: w(2), pods: []*corev1.Pod{testPod("p1", ready), testPod("p2", notReady("containers with unready status: [app]"))},
			state: controller.StateStarting, reason: "1 of 2 pods ready: pod p2: containers with unready status: [app]"},
		{name: "a terminating pod is not a replica", w: w(1), pods: []*corev1.Pod{testPod("p1", ready, func(p *corev1.Pod) { p.DeletionTimestamp = &now })},
			state: controller.StateStarting},
		{name: "unschedulable", w: w(1), pods: []*corev1.Pod{testPod("p1", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}}
		})}, state: controller.StateFailed, reason: "deployment shop/web: pod p1 cannot be scheduled: 0/1 nodes are available"},
		{name: "crash loop", w: w(1), pods: []*corev1.Pod{testPod("p1", notReady(""), container(corev1.ContainerStatus{
			Name: "app", RestartCount: 5,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
		}))}, state: controller.StateFailed, reason: "pod p1 container app: CrashLoopBackOff (restart count 5, last exit code 1 Error): back-off 40s"},
		{name: "restarting often", w: w(1), pods: []*corev1.Pod{testPod("p1", notReady(""), container(corev1.ContainerStatus{
			Name: "app", RestartCount: 3, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}))}, state: controller.StateFailed, reason: "container app: restarting (restart count 3)"},
		{name: "one restart is a slow start", w: w(1), pods: []*corev1.Pod{testPod("p1", notReady(""), container(corev1.ContainerStatus{
			Name: "app", RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}))}, state: controller.StateStarting},
		{name: "image cannot be pulled", w: w(1), pods: []*corev1.Pod{testPod("p1", container(corev1.ContainerStatus{
			Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}},
		}))}, state: controller.StateFailed, reason: "container app: ImagePullBackOff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statusOf(tt.w, tt.pods)
			if got.State != tt.state || !strings.Contains(got.Reason, tt.reason) || got.InternalIP != tt.ip {
				t.Fatalf("statusOf = %+v, want %s with reason containing %q and ip %q", got, tt.state, tt.reason, tt.ip)
			}
		})
	}
}

func TestTargetsAreChecked(t *testing.T) {
	p := &Provider{namespace: "default"}
	tests := []struct {
		fields  Target
		want    string // ref, or an error substring
		wantErr bool
	}{
		{fields: Target{Deployment: "web"}, want: "deployment default/web"},
		{fields: Target{StatefulSet: "db", Namespace: "shop"}, want: "statefulset shop/db"},
		{fields: Target{}, want: "names no deployment or statefulset", wantErr: true},
		{fields: Target{Deployment: "a", StatefulSet: "b"}, want: "keep one", wantErr: true},
		{fields: Target{Deployment: "Web_1"}, want: `deployment "Web_1" is not a Kubernetes name`, wantErr: true},
		{fields: Target{Deployment: "web", Namespace: "a/b"}, want: `namespace "a/b" is not a Kubernetes namespace`, wantErr: true},
	}
	for _, tt := range tests {
		r, err := p.refOf(controller.Target{Host: "app.test", Backend: tt.fields})
		switch {
		case tt.wantErr && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("refOf(%v) = %v, want an error containing %q", tt.fields, err, tt.want)
		case !tt.wantErr && (err != nil || r.String() != tt.want):
			t.Errorf("refOf(%v) = %v, %v; want %s", tt.fields, r, err, tt.want)
		}
	}
}

func TestWakeReplicas(t *testing.T) {
	for in, want := range map[string]int32{"": 1, "3": 3, " 2 ": 2} {
		ann := map[string]string{}
		if in != "" {
			ann[AnnotationReplicas] = in
		}
		if got, err := wakeReplicas(ann); err != nil || got != want {
			t.Errorf("wakeReplicas(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "-1", "two", "1.5", "99999999999"} {
		if _, err := wakeReplicas(map[string]string{AnnotationReplicas: bad}); err == nil || !strings.Contains(err.Error(), "whole number") {
			t.Errorf("wakeReplicas(%q) = %v, want an error", bad, err)
		}
	}
}

func TestHostFromAnnotations(t *testing.T) {
	r := ref{FieldStatefulSet, "shop", "db"}
	h, err := hostFromAnnotations("k8s", r, map[string]string{
		"waitingroom.host": "DB.Example.com", "waitingroom.idle_timeout": "10m", "waitingroom.replicas": "2",
		"waitingroom.ready_url": "http://{internal_ip}:8080/", "deployment.kubernetes.io/revision": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "db.example.com" || h.Provider != "k8s" || h.Origin != OriginAnnotations || h.IdleTimeout != 10*time.Minute ||
		h.Target.Backend != (Target{StatefulSet: "db", Namespace: "shop"}) || h.Target.Host != "db.example.com" {
		t.Fatalf("host = %+v", h)
	}
	for ann, want := range map[string]string{
		"waitingroom.hots":     `statefulset shop/db: annotation waitingroom.hots="x": unknown annotation`,
		"waitingroom.replicas": `statefulset shop/db: annotation waitingroom.replicas="x": want a whole number`,
		"waitingroom.sleep":    `sleep "x" is not supported by kubernetes`,
	} {
		_, err := hostFromAnnotations("k8s", r, map[string]string{"waitingroom.host": "db.example.com", ann: "x"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", ann, err, want)
		}
	}
}
