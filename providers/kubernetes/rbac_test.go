package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// manifest decodes every object of a file in deploy/kubernetes with
// client-go's scheme: a typo in a kind or a field fails here.
func manifest(t *testing.T, name string) []runtime.Object {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []runtime.Object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, doc)
		}
		out = append(out, obj)
	}
}

func objectsOf[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// grants are "group resource verb" lines.
func grants(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, fmt.Sprintf("%q %s %s", g, res, v))
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// The deploy manifest runs three replicas sharing Redis, under the service
// account rbac.yaml binds.
func TestDeployManifestRunsReplicasUnderTheRBACServiceAccount(t *testing.T) {
	rbac := manifest(t, "rbac.yaml")
	deploy := manifest(t, "waitingroom.yaml")
	sas := objectsOf[*corev1.ServiceAccount](rbac)
	if len(sas) != 1 {
		t.Fatalf("rbac.yaml has %d service accounts, want 1", len(sas))
	}
	var found bool
	for _, d := range objectsOf[*appsv1.Deployment](deploy) {
		if d.Name != "waitingroom" {
			continue
		}
		found = true
		if d.Spec.Template.Spec.ServiceAccountName != sas[0].Name || d.Namespace != sas[0].Namespace {
			t.Errorf("waitingroom runs as %s/%s, rbac.yaml binds %s/%s", d.Namespace, d.Spec.Template.Spec.ServiceAccountName, sas[0].Namespace, sas[0].Name)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("waitingroom has %v replicas, want several sharing Redis", d.Spec.Replicas)
		}
	}
	if !found {
		t.Fatal("waitingroom.yaml has no Deployment waitingroom")
	}
	cms := objectsOf[*corev1.ConfigMap](deploy)
	if len(cms) != 1 || !strings.Contains(cms[0].Data["config.yaml"], "redis://redis.waitingroom.svc:6379") {
		t.Fatalf("the ConfigMap's config.yaml does not use the manifest's Redis: %v", cms)
	}
}

// The provider, configured in-cluster (a pod's service account: token,
// ca.crt and namespace files, KUBERNETES_SERVICE_HOST/PORT) and bound to
// deploy/kubernetes/rbac.yaml's role on a real API server with RBAC, does
// all it does — Watch, Start, Status, Stop of a Deployment and a
// StatefulSet, Discover, Check — without one request refused; the API
// server's audit log of that service account's requests then lists exactly
// the grants of the role, no fewer (the role is not wider than needed) and
// no more (it is enough).
func TestRBACManifestGrantsExactlyWhatTheProviderUses(t *testing.T) {
	e := setup(t)
	objs := manifest(t, "rbac.yaml")
	ctx := ctxT(t, 2*time.Minute)
	cs := e.c.Client
	ns := objectsOf[*corev1.Namespace](objs)
	sa := objectsOf[*corev1.ServiceAccount](objs)
	roles := objectsOf[*rbacv1.ClusterRole](objs)
	bindings := objectsOf[*rbacv1.ClusterRoleBinding](objs)
	if len(ns) != 1 || len(sa) != 1 || len(roles) != 1 || len(bindings) != 1 || len(objs) != 4 {
		t.Fatalf("rbac.yaml: want a namespace, a service account, a cluster role and its binding; got %d objects", len(objs))
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns[0].Name, metav1.DeleteOptions{}) })
	if _, err := cs.CoreV1().ServiceAccounts(sa[0].Namespace).Create(ctx, sa[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, roles[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoles().Delete(context.Background(), roles[0].Name, metav1.DeleteOptions{})
	})
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, bindings[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), bindings[0].Name, metav1.DeleteOptions{})
	})
	tok, err := cs.CoreV1().ServiceAccounts(sa[0].Namespace).CreateToken(ctx, sa[0].Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// What the kubelet mounts into a pod, and the variables it sets.
	dir := t.TempDir()
	ca, err := os.ReadFile(e.c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"token": []byte(tok.Status.Token), "ca.crt": ca, "namespace": []byte(sa[0].Namespace)} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(e.c.Server)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", u.Hostname())
	t.Setenv("KUBERNETES_SERVICE_PORT", u.Port())
	t.Setenv("KUBECONFIG", filepath.Join(dir, "not-used"))
	p := newTestProvider(t, Options{Name: "k8s", Annotations: true, serviceAccountDir: dir})
	if p.Namespace() != sa[0].Namespace {
		t.Fatalf("in-cluster namespace %q, want the pod's %q", p.Namespace(), sa[0].Namespace)
	}

	dep := e.deployment(t, "rbac-web", 0, "")
	dep.Backend = Target{Deployment: "rbac-web", Namespace: e.ns}
	sts := e.statefulSet(t, "rbac-db", 0)
	targets := []controller.Target{dep, sts}
	seen := make(chan controller.Status, 100)
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.Watch(wctx, func() []controller.Target { return targets }, func(tg controller.Target, st controller.Status) {
			if tg.Host == dep.Host {
				seen <- st
			}
		})
	}()
	defer func() { cancel(); <-done }()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	for _, tg := range targets {
		if err := p.Start(ctx, tg); err != nil {
			t.Fatalf("Start %s: %v", tg.Host, err)
		}
		waitState(t, p, tg, controller.StateRunning, 30*time.Second)
	}
	for st := range seen {
		if st.State == controller.StateRunning {
			break
		}
	}
	for _, tg := range targets {
		if err := p.Stop(ctx, tg); err != nil {
			t.Fatalf("Stop %s: %v", tg.Host, err)
		}
	}
	// Other tests' workloads may carry bad annotations (an error beside
	// the hosts); a refused list returns no hosts.
	if hosts, err := p.Discover(ctx); hosts == nil {
		t.Fatalf("Discover: %v", err)
	}
	// The role grants nothing else.
	if _, err := p.kube.core.Secrets(e.ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing secrets under the role: %v, want forbidden", err)
	}
	if err := p.kube.apps.Deployments(e.ns).Delete(ctx, "rbac-web", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("deleting a deployment under the role: %v, want forbidden", err)
	}

	user := fmt.Sprintf("system:serviceaccount:%s:%s", sa[0].Namespace, sa[0].Name)
	want := grants(roles[0].Rules)
	var used, refused []string
	poll.Every(t, 100*time.Millisecond, 20*time.Second, "the audit log to list every grant", func() bool {
		entries, err := e.c.Audit(user)
		if err != nil {
			t.Fatal(err)
		}
		used, refused = nil, nil
		for _, en := range entries {
			if en.Resource == "" {
				continue // /readyz and discovery: granted to every authenticated user
			}
			res := en.Resource
			if en.Subresource != "" {
				res += "/" + en.Subresource
			}
			g := fmt.Sprintf("%q %s %s", en.Group, res, en.Verb)
			if en.Code == 403 {
				refused = append(refused, g)
				continue
			}
			used = append(used, g)
		}
		sort.Strings(used)
		used = slices.Compact(used)
		return slices.Equal(used, want)
	})
	// The two probes above were meant to be refused; nothing else was.
	for _, r := range refused {
		if r != `"" secrets list` && r != `"apps" deployments delete` {
			t.Errorf("refused under the role: %s", r)
		}
	}
}
