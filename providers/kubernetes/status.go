package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/waitingroom/waitingroom/controller"
)

// failedRestarts is the restart count from which a container that is not
// ready counts as failed rather than starting: one or two restarts can be a
// slow dependency, more is a crash loop the operator must look at (the
// Docker provider's rule).
const failedRestarts = 3

// failedWaiting are the container waiting reasons that will not resolve by
// waiting: the kubelet is backing off.
var failedWaiting = []string{"CrashLoopBackOff", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError"}

// workload is what Status needs of a Deployment or StatefulSet.
type workload struct {
	ref         ref
	replicas    int32 // desired (spec)
	annotations map[string]string
	selector    labels.Selector
}

func deploymentWorkload(d *appsv1.Deployment) (workload, error) {
	return newWorkload(ref{FieldDeployment, d.Namespace, d.Name}, d.Spec.Replicas, d.Annotations, d.Spec.Selector)
}

func statefulSetWorkload(s *appsv1.StatefulSet) (workload, error) {
	return newWorkload(ref{FieldStatefulSet, s.Namespace, s.Name}, s.Spec.Replicas, s.Annotations, s.Spec.Selector)
}

func newWorkload(r ref, replicas *int32, ann map[string]string, sel *metav1.LabelSelector) (workload, error) {
	w := workload{ref: r, replicas: 1, annotations: ann}
	if replicas != nil {
		w.replicas = *replicas
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return w, fmt.Errorf("%s: selector: %w", r, err)
	}
	w.selector = s
	return w, nil
}

// getWorkload reads the workload from the API server.
func (p *Provider) getWorkload(ctx context.Context, r ref) (workload, error) {
	var (
		w   workload
		err error
	)
	if r.kind == FieldStatefulSet {
		var s *appsv1.StatefulSet
		if s, err = p.kube.apps.StatefulSets(r.namespace).Get(ctx, r.name, metav1.GetOptions{}); err == nil {
			return statefulSetWorkload(s)
		}
	} else {
		var d *appsv1.Deployment
		if d, err = p.kube.apps.Deployments(r.namespace).Get(ctx, r.name, metav1.GetOptions{}); err == nil {
			return deploymentWorkload(d)
		}
	}
	if apierrors.IsNotFound(err) {
		return w, &noWorkloadError{r: r}
	}
	return w, p.apiErr("get "+r.String(), err)
}

// Status reads the workload and its pods from the API server.
//
// A missing workload is a failed Status naming it, with a nil error: it is
// an answer, not a transport problem, and it stops a wake from waiting out
// its start_timeout. An unreachable API server is an error wrapping
// controller.ErrUnavailable, with StateUnknown.
func (p *Provider) Status(ctx context.Context, t controller.Target) (controller.Status, error) {
	r, err := p.refOf(t)
	if err != nil {
		return controller.Status{State: controller.StateFailed, Reason: err.Error()}, nil
	}
	w, err := p.getWorkload(ctx, r)
	if err != nil {
		if errors.Is(err, ErrNoWorkload) {
			return controller.Status{State: controller.StateFailed, Reason: err.Error()}, nil
		}
		return controller.Status{State: controller.StateUnknown, Reason: err.Error()}, err
	}
	list, err := p.kube.core.Pods(r.namespace).List(ctx, metav1.ListOptions{LabelSelector: w.selector.String()})
	if err != nil {
		err = p.apiErr("list pods of "+r.String(), err)
		return controller.Status{State: controller.StateUnknown, Reason: err.Error()}, err
	}
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	st := statusOf(w, pods)
	if st.State != controller.StateStarting {
		return st, nil
	}
	// Starting may be the pods of a workload scaled down between the two
	// reads (gone, or terminating, while the replicas read before still
	// wanted them): that is a stopped host taken for one booting. The
	// replicas read again after the pods are at least as new as them.
	if w, err = p.getWorkload(ctx, r); err != nil {
		if errors.Is(err, ErrNoWorkload) {
			return controller.Status{State: controller.StateFailed, Reason: err.Error()}, nil
		}
		return controller.Status{State: controller.StateUnknown, Reason: err.Error()}, err
	}
	return statusOf(w, pods), nil
}

// statusOf maps a workload and its pods to the controller's states.
//
//	replicas 0, no pods                       → stopped
//	replicas 0, pods left                     → stopping "N pods terminating"
//	replicas N, N pods Ready                  → running (InternalIP: the first Ready pod's IP)
//	a pod unschedulable (PodScheduled=False)  → failed "pod P cannot be scheduled: <scheduler's message>"
//	a container in CrashLoopBackOff, or not
//	ready after 3 restarts, or an image that
//	cannot be pulled                          → failed "pod P container C: CrashLoopBackOff (…)"
//	otherwise                                 → starting "K of N pods ready: <why the first is not>"
func statusOf(w workload, pods []*corev1.Pod) controller.Status {
	live := make([]*corev1.Pod, 0, len(pods))
	for _, p := range pods {
		// Finished pods (evicted, completed) are history, not replicas.
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		live = append(live, p)
	}
	slices.SortFunc(live, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	if w.replicas == 0 {
		if len(live) == 0 {
			return controller.Status{State: controller.StateStopped}
		}
		return controller.Status{State: controller.StateStopping, Reason: fmt.Sprintf("%s: %d pods terminating", w.ref, len(live))}
	}
	var (
		ready   int
		ip, why string
	)
	for _, p := range live {
		if p.DeletionTimestamp != nil {
			continue // going away (a rollout or a scale-down): not a replica to wait for
		}
		if reason := podFailure(p); reason != "" {
			return controller.Status{State: controller.StateFailed, Reason: fmt.Sprintf("%s: %s", w.ref, reason)}
		}
		if podReady(p) {
			ready++
			if ip == "" {
				ip = p.Status.PodIP
			}
			continue
		}
		if why == "" {
			why = podWaiting(p)
		}
	}
	if ready >= int(w.replicas) {
		return controller.Status{State: controller.StateRunning, InternalIP: ip}
	}
	reason := fmt.Sprintf("%s: %d of %d pods ready", w.ref, ready, w.replicas)
	if why != "" {
		reason += ": " + why
	}
	return controller.Status{State: controller.StateStarting, Reason: reason}
}

func podReady(p *corev1.Pod) bool {
	c := condition(p, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func condition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// podFailure says why a pod will not become ready by waiting, or "".
func podFailure(p *corev1.Pod) string {
	if c := condition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
		return fmt.Sprintf("pod %s cannot be scheduled: %s", p.Name, oneLine(c.Message))
	}
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		if cs.Ready {
			continue
		}
		waiting := ""
		if cs.State.Waiting != nil {
			waiting = cs.State.Waiting.Reason
		}
		if !slices.Contains(failedWaiting, waiting) && cs.RestartCount < failedRestarts {
			continue
		}
		reason := waiting
		if reason == "" {
			reason = "restarting"
		}
		reason = fmt.Sprintf("pod %s container %s: %s (restart count %d", p.Name, cs.Name, reason, cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil {
			reason += fmt.Sprintf(", last exit code %d", t.ExitCode)
			if t.Reason != "" {
				reason += " " + t.Reason
			}
		}
		reason += ")"
		if cs.State.Waiting != nil && cs.State.Waiting.Message != "" {
			reason += ": " + oneLine(cs.State.Waiting.Message)
		}
		return reason
	}
	return ""
}

// podWaiting says what a pod that is not ready yet waits for.
func podWaiting(p *corev1.Pod) string {
	if c := condition(p, corev1.PodReady); c != nil && c.Message != "" {
		return fmt.Sprintf("pod %s: %s", p.Name, oneLine(c.Message))
	}
	if c := condition(p, corev1.PodScheduled); c == nil || c.Status != corev1.ConditionTrue {
		return fmt.Sprintf("pod %s is waiting to be scheduled", p.Name)
	}
	return fmt.Sprintf("pod %s is %s", p.Name, p.Status.Phase)
}

// oneLine keeps a message from the cluster short and on one line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
