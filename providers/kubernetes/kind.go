package kubernetes

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
)

// Kind is the kubernetes kind of provider: Deployments and StatefulSets
// scaled between 0 and their replicas.
var Kind = providers.Kind{
	Name:     "kubernetes",
	Sleep:    []string{SleepScale},
	Settings: func() providers.ProviderSettings { return &Settings{} },
	Target:   func() providers.TargetSettings { return &Target{} },
	New: func(_ context.Context, c providers.Config) (controller.Provider, error) {
		s := c.Settings.(*Settings)
		return New(Options{
			Name:        c.Name,
			Kubeconfig:  s.Kubeconfig,
			Context:     s.Context,
			Namespace:   s.Namespace,
			Annotations: s.Annotations,
			Logger:      c.Logger,
		})
	},
}

// Settings are a kubernetes provider's keys under providers.NAME.
type Settings struct {
	// Kubeconfig is a kubeconfig file; empty: in a pod its service
	// account, elsewhere $KUBECONFIG or ~/.kube/config.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig context (default: its current one).
	Context string `yaml:"context"`
	// Namespace is the namespace of hosts that name none.
	Namespace string `yaml:"namespace"`
	// Annotations: workloads register hosts with waitingroom.*
	// annotations.
	Annotations bool `yaml:"annotations"`
}

// Check implements providers.ProviderSettings.
func (s *Settings) Check(r providers.Report) {
	if s.Namespace != "" {
		if err := checkName("namespace", s.Namespace); err != nil {
			r.Problem("namespace", "%v", err)
		}
	}
}

// Default implements providers.ProviderSettings: the namespace is left to
// the kubeconfig's context (or the pod's own) when the file sets none.
func (s *Settings) Default(func(string) bool) {}

// DiscoversHosts implements providers.Discovering.
func (s *Settings) DiscoversHosts() bool { return s.Annotations }

// Target is a kubernetes host's keys: which workload serves it.
type Target struct {
	// Deployment or StatefulSet is the workload's name; exactly one.
	Deployment  string `yaml:"deployment"`
	StatefulSet string `yaml:"statefulset"`
	// Namespace is the workload's namespace (default: the provider's).
	Namespace string `yaml:"namespace"`
}

// String implements controller.Backend.
func (t Target) String() string {
	kind, name := FieldDeployment, t.Deployment
	if t.StatefulSet != "" {
		kind, name = FieldStatefulSet, t.StatefulSet
	}
	if t.Namespace != "" {
		name = t.Namespace + "/" + name
	}
	return kind + "=" + name
}

// Check implements providers.TargetSettings.
func (t *Target) Check(r providers.Report, _ providers.ProviderSettings) {
	switch {
	case t.Deployment == "" && t.StatefulSet == "":
		r.Missing("deployment", "the Deployment's name, or statefulset: the StatefulSet's")
	case t.Deployment != "" && t.StatefulSet != "":
		r.Problem("statefulset", "a host is one workload: keep deployment or statefulset, not both")
	}
	for _, f := range []struct{ key, v string }{{FieldDeployment, t.Deployment}, {FieldStatefulSet, t.StatefulSet}, {FieldNamespace, t.Namespace}} {
		if f.v == "" {
			continue
		}
		if err := checkName(f.key, f.v); err != nil {
			r.Problem(f.key, "%v", err)
		}
	}
}

// Default implements providers.TargetSettings.
func (t *Target) Default(providers.ProviderSettings) {}

// checkName applies Kubernetes' own rule for a workload's name (a DNS
// subdomain) or a namespace's (a DNS label).
func checkName(key, v string) error {
	if key == FieldNamespace {
		if len(validation.IsDNS1123Label(v)) > 0 {
			return fmt.Errorf("%s %q is not a Kubernetes namespace (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)", key, v)
		}
		return nil
	}
	if len(validation.IsDNS1123Subdomain(v)) > 0 {
		return fmt.Errorf("%s %q is not a Kubernetes name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)", key, v)
	}
	return nil
}
