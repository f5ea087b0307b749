package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
)

// OriginAnnotations is the Host.Origin of discovered hosts.
const OriginAnnotations = "kubernetes-annotations"

// annotationRule reads the Docker provider's labels as annotations, plus
// AnnotationReplicas (read by Start).
var annotationRule = providers.LabelRule{Word: "annotation", Extra: []string{AnnotationReplicas}, CheckSleep: checkSleep}

func checkSleep(mode string) error {
	if mode == SleepScale {
		return nil
	}
	return fmt.Errorf("sleep %q is not supported by kubernetes (it scales to 0: use %q or leave it out)", mode, SleepScale)
}

// Discover lists the Deployments and StatefulSets of every namespace that
// carry a waitingroom.host annotation and returns them as hosts of this
// provider, sorted by name. Workloads at 0 replicas are included: they are
// the ones to wake.
//
// It returns nil, nil when discovery is off (Options.Annotations false). A
// workload with invalid annotations, or claiming a host another already
// claims, is left out and reported in the returned error (one line per
// problem, each naming the workload); the valid hosts are returned
// alongside it. Zero IdleTimeout and StartTimeout mean "the defaults".
func (p *Provider) Discover(ctx context.Context) ([]controller.Host, error) {
	if !p.discover {
		return nil, nil
	}
	type found struct {
		host controller.Host
		ref  ref
	}
	var (
		hosts []found
		errs  []error
	)
	add := func(r ref, ann map[string]string) {
		if _, ok := ann[providers.KeyHost]; !ok {
			return
		}
		h, err := hostFromAnnotations(p.name, r, ann)
		if err != nil {
			errs = append(errs, err)
			return
		}
		hosts = append(hosts, found{h, r})
	}
	deps, err := p.kube.apps.Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, p.apiErr("list deployments for annotation discovery", err)
	}
	for _, d := range deps.Items {
		add(ref{FieldDeployment, d.Namespace, d.Name}, d.Annotations)
	}
	stss, err := p.kube.apps.StatefulSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, p.apiErr("list statefulsets for annotation discovery", err)
	}
	for _, s := range stss.Items {
		add(ref{FieldStatefulSet, s.Namespace, s.Name}, s.Annotations)
	}
	// Deterministic winner when two workloads claim one host: the first in
	// sort order.
	slices.SortFunc(hosts, func(a, b found) int {
		return strings.Compare(a.host.Name+"\x00"+a.ref.String(), b.host.Name+"\x00"+b.ref.String())
	})
	out := make([]controller.Host, 0, len(hosts))
	var winner ref
	for _, f := range hosts {
		if len(out) > 0 && out[len(out)-1].Name == f.host.Name {
			errs = append(errs, fmt.Errorf("%s: annotation %s=%q: host already claimed by %s; ignored",
				f.ref, providers.KeyHost, f.host.Name, winner))
			continue
		}
		out, winner = append(out, f.host), f.ref
	}
	return out, errors.Join(errs...)
}

// hostFromAnnotations builds the host a workload's annotations describe,
// for the provider named provider. Errors name the workload and the
// annotation.
func hostFromAnnotations(provider string, r ref, ann map[string]string) (controller.Host, error) {
	h, err := annotationRule.HostFromLabels(r.String(), ann, controller.Target{
		Provider: provider,
		Backend:  r.target(),
	})
	if err != nil {
		return controller.Host{}, err
	}
	if v, ok := ann[AnnotationReplicas]; ok {
		if _, err := wakeReplicas(ann); err != nil {
			return controller.Host{}, fmt.Errorf("%s: annotation %s=%q: want a whole number of replicas, 1 or more", r, AnnotationReplicas, v)
		}
	}
	h.Origin = OriginAnnotations
	return h, nil
}
