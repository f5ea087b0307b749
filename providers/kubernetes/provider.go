// Package kubernetes wakes and puts to sleep Deployments and StatefulSets:
// it implements controller.Provider for targets with a `deployment:` or
// `statefulset:` field by scaling the workload through its scale
// subresource (to 0 to sleep, back to the replicas it had to wake), follows
// workloads and pods with informers (controller.Watcher), reports whether
// the API server answers (controller.Checker), and discovers hosts from
// workload annotations (the Docker provider's labels, as annotations).
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/discovery"
	appsclient "k8s.io/client-go/kubernetes/typed/apps/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/waitingroom/waitingroom/controller"
)

// Compile-time guards: the controller discovers these capabilities by type
// assertion, so a signature drift must break the build, not the feature.
var (
	_ controller.Provider = (*Provider)(nil)
	_ controller.Checker  = (*Provider)(nil)
	_ controller.Watcher  = (*Provider)(nil)
)

// SleepScale is the one sleep mode: scale to zero replicas.
const SleepScale = "scale"

// inClusterDir is where Kubernetes mounts a pod's service account.
const inClusterDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Options configures a Provider.
type Options struct {
	// Name is the provider's name in the configuration; discovered hosts
	// carry it as their provider.
	Name string
	// Kubeconfig is a kubeconfig file. Empty: inside a pod, the pod's
	// service account (in-cluster); elsewhere $KUBECONFIG or
	// ~/.kube/config.
	Kubeconfig string
	// Context is the kubeconfig context to use (default: its current one).
	Context string
	// Namespace is the namespace of targets that name none. Empty: the
	// kubeconfig context's namespace, in a pod its own, else "default".
	Namespace string
	// Annotations enables Discover (providers.kubernetes.annotations: true).
	Annotations bool
	// Logger receives the provider's logs (default slog.Default()).
	Logger *slog.Logger

	// serviceAccountDir replaces inClusterDir in tests.
	serviceAccountDir string
}

// clients are the two API groups' typed clients the provider uses, in
// place of client-go's clientset (kubernetes.Interface): the clientset
// links every group's client into the binary (10 MiB more of it). Unit
// tests pass a fake clientset's AppsV1() and CoreV1().
type clients struct {
	apps appsclient.AppsV1Interface
	core coreclient.CoreV1Interface
}

// Provider talks to one Kubernetes API server. It is safe for concurrent
// use.
type Provider struct {
	name      string
	kube      clients
	root      rest.Interface // the discovery client's: paths from the server's root (/readyz)
	server    string
	namespace string
	discover  bool
	log       *slog.Logger
	close     func()
}

// New builds a Provider. It does not contact the API server: one that is
// down at start-up is reported by Check and by each call.
func New(o Options) (*Provider, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg, ns, err := restConfig(o)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider %q: %w", o.Name, err)
	}
	if o.Namespace != "" {
		ns = o.Namespace
	}
	if ns == "" {
		ns = "default"
	}
	// client-go's own rate limit (5 QPS) would queue a stampede's status
	// reads; the API server has its own fairness.
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "waitingroom"
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider %q: %w", o.Name, err)
	}
	// One token bucket for all the clients, as the clientset shares one
	// between its groups: the QPS above is the provider's, not a group's.
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	apps, err := appsclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider %q: %w", o.Name, err)
	}
	core, err := coreclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider %q: %w", o.Name, err)
	}
	disc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider %q: %w", o.Name, err)
	}
	return &Provider{
		name:      o.Name,
		kube:      clients{apps: apps, core: core},
		root:      disc.RESTClient(),
		server:    cfg.Host,
		namespace: ns,
		discover:  o.Annotations,
		log:       o.Logger,
		close:     httpClient.CloseIdleConnections,
	}, nil
}

// restConfig is the client configuration: an explicit kubeconfig, else the
// pod's service account when running in a cluster, else the default
// kubeconfig. It returns the namespace that configuration implies.
func restConfig(o Options) (*rest.Config, string, error) {
	saDir := o.serviceAccountDir
	if saDir == "" {
		saDir = inClusterDir
	}
	if o.Kubeconfig == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		if _, err := os.Stat(filepath.Join(saDir, "token")); err == nil {
			return inCluster(saDir)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) && o.Kubeconfig == "" {
			return nil, "", errors.New("no kubeconfig found and not running in a pod: set kubeconfig, or KUBECONFIG")
		}
		return nil, "", fmt.Errorf("kubeconfig %s: %w", o.Kubeconfig, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w", o.Kubeconfig, err)
	}
	return cfg, ns, nil
}

// inCluster is rest.InClusterConfig reading the service account from dir:
// the token file is re-read as the kubelet rotates it.
func inCluster(dir string) (*rest.Config, string, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if port == "" {
		return nil, "", errors.New("in-cluster: KUBERNETES_SERVICE_PORT is not set")
	}
	ca := filepath.Join(dir, "ca.crt")
	if _, err := os.Stat(ca); err != nil {
		return nil, "", fmt.Errorf("in-cluster: %w", err)
	}
	ns, err := os.ReadFile(filepath.Join(dir, "namespace"))
	if err != nil {
		return nil, "", fmt.Errorf("in-cluster: %w", err)
	}
	return &rest.Config{
		Host:            "https://" + net.JoinHostPort(host, port),
		BearerTokenFile: filepath.Join(dir, "token"),
		TLSClientConfig: rest.TLSClientConfig{CAFile: ca},
	}, string(ns), nil
}

// Close releases the client's idle connections.
func (p *Provider) Close() error {
	p.close()
	return nil
}

// Server is the URL of the API server this provider talks to.
func (p *Provider) Server() string { return p.server }

// Namespace is the namespace of targets that name none.
func (p *Provider) Namespace() string { return p.namespace }

// Check asks the API server's /readyz (controller.Checker, shown on
// waitingroom's /readyz).
func (p *Provider) Check(ctx context.Context) error {
	if _, err := p.root.Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return p.apiErr("readyz", err)
	}
	return nil
}

// unavailableError says the API server could not be reached or answered
// that it cannot serve now. It unwraps to controller.ErrUnavailable (the
// page shows a temporary problem) and to the client's error.
type unavailableError struct {
	op, server string
	err        error
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("%s: kubernetes API server %s is unavailable: %v", e.op, e.server, e.err)
}

func (e *unavailableError) Unwrap() []error { return []error{controller.ErrUnavailable, e.err} }

// apiErr classifies an error from the client: a transport failure, a
// timeout on the server's side, throttling or a 5xx → ErrUnavailable;
// forbidden → a hint at the RBAC manifest; anything else wrapped with op.
func (p *Provider) apiErr(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: %w (grant waitingroom the role in deploy/kubernetes/rbac.yaml)", op, err)
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return &unavailableError{op: op, server: p.server, err: err}
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if code := status.Status().Code; code >= http.StatusInternalServerError {
			return &unavailableError{op: op, server: p.server, err: err}
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	// Not an answer from the API server: the connection failed (refused,
	// reset, TLS handshake, EOF mid-request).
	if utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) || isNetErr(err) {
		return &unavailableError{op: op, server: p.server, err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isNetErr(err error) bool {
	var uerr *url.Error
	var nerr net.Error
	return errors.As(err, &uerr) || errors.As(err, &nerr)
}
