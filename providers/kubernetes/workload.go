package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
)

// The keys of a kubernetes target (Target): one of deployment or
// statefulset (the workload's name), and optionally its namespace.
const (
	FieldDeployment  = "deployment"
	FieldStatefulSet = "statefulset"
	FieldNamespace   = "namespace"
)

// AnnotationReplicas on a workload is how many replicas a wake scales it
// to. Stop writes it (the replicas the workload had) before scaling to 0;
// an operator may set it; absent, a wake scales to 1.
const AnnotationReplicas = "waitingroom.replicas"

// ErrNoWorkload marks a target whose Deployment or StatefulSet does not
// exist. It is permanent until someone creates it.
var ErrNoWorkload = errors.New("workload does not exist")

// ref designates one workload.
type ref struct {
	kind      string // FieldDeployment or FieldStatefulSet
	namespace string
	name      string
}

func (r ref) String() string { return fmt.Sprintf("%s %s/%s", r.kind, r.namespace, r.name) }

// target is the Target that designates r.
func (r ref) target() Target {
	if r.kind == FieldStatefulSet {
		return Target{StatefulSet: r.name, Namespace: r.namespace}
	}
	return Target{Deployment: r.name, Namespace: r.namespace}
}

// refOf is the workload a target designates, checked.
func (p *Provider) refOf(t controller.Target) (ref, error) {
	tg, err := providers.TargetOf[Target](t)
	if err != nil {
		return ref{}, err
	}
	r := ref{namespace: tg.Namespace}
	switch {
	case tg.Deployment != "" && tg.StatefulSet != "":
		return r, fmt.Errorf("host %s: kubernetes target names both a deployment (%q) and a statefulset (%q): keep one", t.Host, tg.Deployment, tg.StatefulSet)
	case tg.Deployment != "":
		r.kind, r.name = FieldDeployment, tg.Deployment
	case tg.StatefulSet != "":
		r.kind, r.name = FieldStatefulSet, tg.StatefulSet
	default:
		return r, fmt.Errorf("host %s: kubernetes target names no deployment or statefulset", t.Host)
	}
	if r.namespace == "" {
		r.namespace = p.namespace
	}
	for _, err := range []error{checkName(r.kind, r.name), checkName(FieldNamespace, r.namespace)} {
		if err != nil {
			return r, fmt.Errorf("host %s: %w", t.Host, err)
		}
	}
	return r, nil
}

// noWorkloadError names the missing workload; errors.Is(err, ErrNoWorkload)
// is true.
type noWorkloadError struct{ r ref }

func (e *noWorkloadError) Error() string { return fmt.Sprintf("%s does not exist", e.r) }

func (e *noWorkloadError) Is(target error) bool { return target == ErrNoWorkload }

// Start scales the workload from 0 to its AnnotationReplicas (default 1).
// A workload already scaled up is left alone: Start is idempotent, and
// never undoes a scale an operator made.
func (p *Provider) Start(ctx context.Context, t controller.Target) error {
	r, err := p.refOf(t)
	if err != nil {
		return err
	}
	return p.rescale(ctx, r, "start", func(current int32) (int32, bool, error) {
		if current > 0 {
			return 0, false, nil
		}
		ann, err := p.annotations(ctx, r)
		if err != nil {
			return 0, false, err
		}
		n, err := wakeReplicas(ann)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", r, err)
		}
		return n, true, nil
	})
}

// Stop remembers the workload's replicas in AnnotationReplicas and scales
// it to 0. Stopping a workload at 0 does nothing.
func (p *Provider) Stop(ctx context.Context, t controller.Target) error {
	r, err := p.refOf(t)
	if err != nil {
		return err
	}
	return p.rescale(ctx, r, "stop", func(current int32) (int32, bool, error) {
		if current == 0 {
			return 0, false, nil
		}
		if err := p.remember(ctx, r, current); err != nil {
			return 0, false, err
		}
		return 0, true, nil
	})
}

// rescale reads the scale subresource, asks decide for the new replicas,
// and writes it with the resourceVersion it read: a concurrent change
// (another replica of waitingroom, an operator, an autoscaler) makes the
// write conflict, and the whole read-decide-write is tried again.
func (p *Provider) rescale(ctx context.Context, r ref, op string, decide func(current int32) (int32, bool, error)) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := p.getScale(ctx, r)
		if err != nil {
			return err
		}
		n, change, err := decide(sc.Spec.Replicas)
		if err != nil || !change {
			return err
		}
		p.log.Debug("scaling", "workload", r.String(), "from", sc.Spec.Replicas, "to", n, "op", op)
		sc.Spec.Replicas = n
		return p.updateScale(ctx, r, sc)
	})
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return &noWorkloadError{r: r}
	case errors.Is(err, controller.ErrUnavailable), errors.Is(err, ErrNoWorkload):
		return err
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s %s: the workload kept changing under us: %w", op, r, err)
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) || isNetErr(err) {
		return p.apiErr(fmt.Sprintf("%s %s", op, r), err)
	}
	return err
}

func (p *Provider) getScale(ctx context.Context, r ref) (*autoscalingv1.Scale, error) {
	if r.kind == FieldStatefulSet {
		return p.kube.apps.StatefulSets(r.namespace).GetScale(ctx, r.name, metav1.GetOptions{})
	}
	return p.kube.apps.Deployments(r.namespace).GetScale(ctx, r.name, metav1.GetOptions{})
}

func (p *Provider) updateScale(ctx context.Context, r ref, sc *autoscalingv1.Scale) error {
	var err error
	if r.kind == FieldStatefulSet {
		_, err = p.kube.apps.StatefulSets(r.namespace).UpdateScale(ctx, r.name, sc, metav1.UpdateOptions{FieldManager: "waitingroom"})
	} else {
		_, err = p.kube.apps.Deployments(r.namespace).UpdateScale(ctx, r.name, sc, metav1.UpdateOptions{FieldManager: "waitingroom"})
	}
	return err
}

// annotations are the workload's annotations.
func (p *Provider) annotations(ctx context.Context, r ref) (map[string]string, error) {
	w, err := p.getWorkload(ctx, r)
	if err != nil {
		return nil, err
	}
	return w.annotations, nil
}

// remember writes AnnotationReplicas=n on the workload, unless it says so
// already.
func (p *Provider) remember(ctx context.Context, r ref, n int32) error {
	ann, err := p.annotations(ctx, r)
	if err != nil {
		return err
	}
	v := strconv.Itoa(int(n))
	if ann[AnnotationReplicas] == v {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationReplicas: v}}})
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: "waitingroom"}
	if r.kind == FieldStatefulSet {
		_, err = p.kube.apps.StatefulSets(r.namespace).Patch(ctx, r.name, types.MergePatchType, patch, opts)
	} else {
		_, err = p.kube.apps.Deployments(r.namespace).Patch(ctx, r.name, types.MergePatchType, patch, opts)
	}
	return err
}

// wakeReplicas is AnnotationReplicas, or 1.
func wakeReplicas(ann map[string]string) (int32, error) {
	v, ok := ann[AnnotationReplicas]
	if !ok {
		return 1, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("annotation %s=%q: want a whole number of replicas, 1 or more", AnnotationReplicas, v)
	}
	return int32(n), nil
}
