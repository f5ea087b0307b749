package kubernetes

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/waitingroom/waitingroom/controller"
)

// rescanEvery is how often Watch looks at every target in its caches
// (no API call): a target a reload added is reported without waiting for
// an event about its workload.
const rescanEvery = 5 * time.Second

// Watch follows Deployments, StatefulSets and Pods with informers
// (controller.Watcher) until ctx is done: a list, then a watch that the
// informers resume by themselves after the API server goes away and comes
// back. For each change in a namespace it computes the Status of the
// targets there from the informers' caches and calls observe when it
// differs from the last one reported, so a workload scaled, a pod that
// becomes Ready or crash-loops, or a workload deleted outside waitingroom
// is reported as it happens. Once the caches are filled, it reports every
// target once. observe is called from one goroutine, never concurrently.
func (p *Provider) Watch(ctx context.Context, targets func() []controller.Target, observe func(controller.Target, controller.Status)) error {
	deps, err := informer(p.kube.apps.Deployments(metav1.NamespaceAll), &appsv1.Deployment{})
	if err != nil {
		return err
	}
	stss, err := informer(p.kube.apps.StatefulSets(metav1.NamespaceAll), &appsv1.StatefulSet{})
	if err != nil {
		return err
	}
	pods, err := informer(p.kube.core.Pods(metav1.NamespaceAll), &corev1.Pod{})
	if err != nil {
		return err
	}

	var (
		mu      sync.Mutex
		dirty   = map[string]bool{} // namespaces with news
		changed = make(chan struct{}, 1)
	)
	mark := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		mu.Lock()
		dirty[m.GetNamespace()] = true
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: mark, UpdateFunc: func(_, o any) { mark(o) }, DeleteFunc: mark}
	infs := []cache.SharedIndexInformer{deps, stss, pods}
	for _, inf := range infs {
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
	}
	// Every return below is after ctx is done, which stops the informers.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, inf := range infs {
		wg.Go(func() { inf.Run(ctx.Done()) })
	}
	// WaitForCacheSync returns false only when ctx is done.
	if !cache.WaitForCacheSync(ctx.Done(), deps.HasSynced, stss.HasSynced, pods.HasSynced) || ctx.Err() != nil {
		return nil
	}
	v := view{
		p:    p,
		deps: appslisters.NewDeploymentLister(deps.GetIndexer()),
		stss: appslisters.NewStatefulSetLister(stss.GetIndexer()),
		pods: corelisters.NewPodLister(pods.GetIndexer()),
	}
	last := map[string]controller.Status{}
	report := func(only map[string]bool) {
		for _, t := range targets() {
			r, err := p.refOf(t)
			if err != nil || !p.mine(t) || only != nil && !only[r.namespace] {
				continue
			}
			st := v.status(r)
			key := t.Host + "\x00" + r.String()
			if prev, seen := last[key]; seen && prev == st {
				continue
			}
			// The caches are filled by separate watches, each in its own
			// order: the pods' can be ahead of the workload's. A scale to
			// 0 by hand then reads as starting (its pod gone while the
			// cached Deployment still wants 1), and the controller would
			// follow a stopped host as one booting until start_timeout.
			// A change is read again from the API server, pods before
			// replicas (Status), before it is reported.
			if fresh, err := v.fresh(ctx, t); err == nil {
				st = fresh
				if prev, seen := last[key]; seen && prev == st {
					continue
				}
			}
			last[key] = st
			observe(t, st)
		}
	}
	report(nil)
	tick := time.NewTicker(rescanEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			report(nil)
		case <-changed:
			mu.Lock()
			only := dirty
			dirty = map[string]bool{}
			mu.Unlock()
			report(only)
		}
	}
}

// listWatcher is a typed client for one resource in one namespace (or
// all): what an informer lists and watches.
type listWatcher[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// informer follows the objects c lists, as client-go's informer factory
// builds them (which would link every API group's informer): no resync,
// indexed by namespace for the listers, managed fields dropped.
func informer[L runtime.Object](c listWatcher[L], example runtime.Object) (cache.SharedIndexInformer, error) {
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return c.List(ctx, opts)
		},
		WatchFuncWithContext: c.Watch,
	}, example, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if err := inf.SetTransform(dropManagedFields); err != nil {
		return nil, fmt.Errorf("kubernetes informer for %T: %w", example, err)
	}
	return inf, nil
}

// mine reports whether t is a kubernetes target of this provider.
func (p *Provider) mine(t controller.Target) bool {
	return t.Provider == "" || p.name == "" || t.Provider == p.name
}

// view reads Status from the informers' caches.
type view struct {
	p    *Provider
	deps appslisters.DeploymentLister
	stss appslisters.StatefulSetLister
	pods corelisters.PodLister
}

func (v view) status(r ref) controller.Status {
	var (
		w   workload
		err error
	)
	if r.kind == FieldStatefulSet {
		s, gerr := v.stss.StatefulSets(r.namespace).Get(r.name)
		if err = gerr; err == nil {
			w, err = statefulSetWorkload(s)
		}
	} else {
		d, gerr := v.deps.Deployments(r.namespace).Get(r.name)
		if err = gerr; err == nil {
			w, err = deploymentWorkload(d)
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return controller.Status{State: controller.StateFailed, Reason: (&noWorkloadError{r: r}).Error()}
	case err != nil:
		return controller.Status{State: controller.StateFailed, Reason: err.Error()}
	}
	pods, err := v.pods.Pods(r.namespace).List(w.selector)
	if err != nil {
		return controller.Status{State: controller.StateUnknown, Reason: err.Error()}
	}
	return statusOf(w, pods)
}

// freshTimeout bounds Watch's read of a change from the API server; when
// it cannot answer, the caches' Status is reported.
const freshTimeout = 10 * time.Second

// fresh is the target's Status read from the API server.
func (v view) fresh(ctx context.Context, t controller.Target) (controller.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, freshTimeout)
	defer cancel()
	return v.p.Status(ctx, t)
}

// dropManagedFields keeps the caches small: field ownership is never read.
func dropManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	if p, ok := obj.(*corev1.Pod); ok {
		// Only labels, deletion and status are read.
		p.Spec = corev1.PodSpec{NodeName: p.Spec.NodeName}
	}
	return obj, nil
}
