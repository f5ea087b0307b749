package k8stest

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// PodTemplate is a pod kwok runs, labelled app=<app>: stage picks a test
// stage (StageNotReady, StageCrashLoop) or "" for Running and Ready. Its
// image is never pulled (kwok runs no containers).
func PodTemplate(app, stage string) corev1.PodTemplateSpec {
	l := map[string]string{"app": app}
	if stage != "" {
		l[StageLabel] = stage
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: l},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/never-pulled:1"}},
			// Pods of a scale-down go at once: there is no process to stop.
			TerminationGracePeriodSeconds: new(int64),
		},
	}
}

// Deployment is a Deployment of PodTemplate(name, stage) pods.
func Deployment(ns, name string, replicas int32, stage string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: PodTemplate(name, stage),
		},
	}
}

// StatefulSet is a StatefulSet of PodTemplate(name, "") pods, started and
// stopped in parallel as a Deployment's are.
func StatefulSet(ns, name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:            PodTemplate(name, ""),
			PodManagementPolicy: appsv1.ParallelPodManagement,
		},
	}
}

// Scale sets a Deployment's replicas as an operator would, reading again
// when the controller changed it meanwhile (a conflict).
func Scale(ctx context.Context, cs kubernetes.Interface, ns, name string, n int32) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := cs.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		sc.Spec.Replicas = n
		_, err = cs.AppsV1().Deployments(ns).UpdateScale(ctx, name, sc, metav1.UpdateOptions{})
		return err
	})
}
