// Package k8stest runs a real, private Kubernetes control plane for tests:
// etcd, kube-apiserver (token auth), kube-controller-manager and
// kube-scheduler built by scripts/install-k8s, and kwok as the one node that
// makes pods Running and Ready without a kubelet or images. Everything
// listens on free loopback ports and lives in a temporary directory; Close
// kills every process and removes the directory, also when Start fails
// half-way. Missing binaries fail the test when CI=true and skip it
// otherwise, saying how to install them.
//
// kwok's stages come from the kwok module (copied into the bin dir by
// scripts/install-k8s) plus this package's stages.yaml: a pod labelled
// StageLabel=StageNotReady runs but never becomes Ready, one labelled
// StageLabel=StageCrashLoop crash-loops (CrashLoopBackOff, restart count
// 5). A pod that cannot be scheduled is made with a nodeSelector no node
// matches.
package k8stest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/waitingroom/waitingroom/internal/testutil/logbuf"
	"github.com/waitingroom/waitingroom/internal/testutil/ports"
)

// EnvBin names the directory of the control plane's binaries;
// scripts/test exports it. Unset: ${XDG_CACHE_HOME:-~/.cache}/k8s-bin.
const EnvBin = "WAITINGROOM_K8S_BIN"

// InstallHint is what to run when the control plane is missing.
const InstallHint = "kubernetes control plane not found: run scripts/install-k8s (it builds etcd, kube-apiserver, " +
	"kube-controller-manager, kube-scheduler and kwok from the Go module proxy once per machine, 15-20 min) and set " +
	EnvBin + " to the directory it prints, or run scripts/test"

// Stage labels: a pod template labelled StageLabel=<stage> takes that path.
const (
	StageLabel     = "waitingroom.test/stage"
	StageNotReady  = "not-ready"
	StageCrashLoop = "crash-loop"
)

// Token is the bearer token of the cluster's admin (system:masters).
const Token = "k8stest-admin-token"

// NodeName is the kwok node's name.
const NodeName = "kwok-node-0"

// binaries the control plane needs in the bin dir.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// kwokStages are the stage files of the kwok module scripts/install-k8s
// copies into <bin>/kwok-stages (the same set ../shared/k8s/up.sh uses).
var kwokStages = []string{"node-initialize.yaml", "node-heartbeat-with-lease.yaml", "pod-ready.yaml", "pod-complete.yaml", "pod-delete.yaml"}

// auditPolicy logs the requests of service accounts (what a test's
// client did under RBAC), once each, and nothing of the control plane's
// own traffic.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts"]
- level: None
`

//go:embed stages.yaml
var testStages []byte

// startTimeout bounds each component's start.
const startTimeout = 90 * time.Second

// BinDir finds the binaries: $WAITINGROOM_K8S_BIN, else the cache
// scripts/install-k8s fills. It says what is missing.
func BinDir() (string, error) {
	dir := os.Getenv(EnvBin)
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("%s unset and no home directory: %w", EnvBin, err)
			}
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "k8s-bin")
	}
	var missing []string
	for _, b := range binaries {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	for _, s := range kwokStages {
		if _, err := os.Stat(filepath.Join(dir, "kwok-stages", s)); err != nil {
			missing = append(missing, "kwok-stages/"+s)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s lacks %s", dir, strings.Join(missing, ", "))
	}
	return dir, nil
}

// Require returns the bin dir, or ends the test: failed when CI=true,
// skipped otherwise.
func Require(tb testing.TB) string {
	tb.Helper()
	dir, err := BinDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s (%v)", InstallHint, err)
		}
		tb.Skipf("%s (%v)", InstallHint, err)
	}
	return dir
}

// Cluster is a running control plane.
type Cluster struct {
	// Config reaches the API server as its admin.
	Config *rest.Config
	// Client is a clientset on Config.
	Client kubernetes.Interface
	// Kubeconfig is the path of a kubeconfig file for Config (context
	// "k8stest", namespace "default").
	Kubeconfig string
	// Server is the API server's URL.
	Server string
	// CAFile holds the API server's self-signed certificate and its CA,
	// for clients that verify it (an in-cluster ca.crt).
	CAFile string
	// AuditLog is the API server's audit log (JSON lines) of every request
	// made by a service account (group system:serviceaccounts): a test
	// reads back exactly what a client asked for.
	AuditLog string

	bin, dir string
	apiPort  int
	apiArgs  []string

	mu    sync.Mutex
	procs map[string]*process
}

type process struct {
	name string
	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
}

// Start runs a control plane from the binaries in bin, with its files in a
// new temporary directory. On error everything it started is stopped.
func Start(ctx context.Context, bin string) (c *Cluster, err error) {
	dir, err := os.MkdirTemp("", "k8stest-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{bin: bin, dir: dir, procs: map[string]*process{}}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.logs())
			c.Close()
			c = nil
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	var pp [3]int
	for i := range pp {
		if pp[i], err = ports.Free(); err != nil {
			return c, err
		}
	}
	etcdPort, peerPort := pp[0], pp[1]
	c.apiPort = pp[2]
	c.Server = "https://127.0.0.1:" + strconv.Itoa(c.apiPort)

	if err := c.writeFiles(); err != nil {
		return c, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	if err := c.spawn("etcd", "--name", "k8stest", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "k8stest="+peerURL, "--unsafe-no-fsync",
		"--quota-backend-bytes", strconv.Itoa(512<<20), "--log-level", "warn"); err != nil {
		return c, err
	}
	if err := c.waitFor(ctx, "etcd", func() error { return httpOK(etcdURL + "/health") }); err != nil {
		return c, err
	}

	pki := filepath.Join(dir, "pki")
	sa := filepath.Join(pki, "sa.key")
	c.apiArgs = []string{"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(c.apiPort),
		// It must not be loopback (it goes into the default/kubernetes
		// Endpoints); nothing dials it.
		"--advertise-address", advertiseAddress(),
		"--cert-dir", pki,
		"--token-auth-file", filepath.Join(dir, "tokens.csv"), "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", sa, "--service-account-signing-key-file", sa,
		"--service-cluster-ip-range", "10.96.0.0/16", "--profiling=false",
		"--audit-policy-file", filepath.Join(dir, "audit-policy.yaml"), "--audit-log-path", c.AuditLog,
		"--audit-log-format", "json", "--audit-log-mode", "blocking"}
	if err := c.spawn("kube-apiserver", c.apiArgs...); err != nil {
		return c, err
	}
	c.Config = &rest.Config{Host: c.Server, BearerToken: Token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 200, Burst: 400}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return c, err
	}
	if err := c.waitFor(ctx, "kube-apiserver /readyz", c.ready); err != nil {
		return c, err
	}
	kc := c.Kubeconfig
	if err := c.spawn("kube-controller-manager", "--kubeconfig", kc, "--leader-elect=false", "--secure-port", "0",
		"--service-account-private-key-file", sa, "--root-ca-file", filepath.Join(pki, "apiserver.crt"),
		"--use-service-account-credentials=false", "--profiling=false"); err != nil {
		return c, err
	}
	if err := c.spawn("kube-scheduler", "--kubeconfig", kc, "--leader-elect=false", "--secure-port", "0", "--profiling=false"); err != nil {
		return c, err
	}
	if err := c.spawn("kwok", "--kubeconfig", kc, "--config", filepath.Join(dir, "kwok-stages.yaml"),
		"--manage-all-nodes=true", "--node-lease-duration-seconds", "40",
		"--cidr", "10.0.0.1/24", "--node-ip", "10.0.0.1"); err != nil {
		return c, err
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName,
		Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
		Labels:      map[string]string{"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return c, fmt.Errorf("create node %s: %w", NodeName, err)
	}
	if err := c.waitFor(ctx, "node Ready (kwok)", func() error {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cd := range n.Status.Conditions {
			if cd.Type == corev1.NodeReady && cd.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("not Ready yet")
	}); err != nil {
		return c, err
	}
	return c, nil
}

// writeFiles writes the token file, the service-account key, the
// kubeconfig and kwok's stages.
func (c *Cluster) writeFiles() error {
	pki := filepath.Join(c.dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(pki, "sa.key"), keyPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(Token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return err
	}
	c.CAFile = filepath.Join(pki, "apiserver.crt")
	c.AuditLog = filepath.Join(c.dir, "audit.log")
	if err := os.WriteFile(filepath.Join(c.dir, "audit-policy.yaml"), []byte(auditPolicy), 0o600); err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := WriteKubeconfig(c.Kubeconfig, c.Server, Token, "default"); err != nil {
		return err
	}
	stages, err := c.stages()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, "kwok-stages.yaml"), stages, 0o600)
}

// WriteKubeconfig writes a kubeconfig reaching server with token, in
// context "k8stest" with namespace ns, skipping TLS verification (the API
// server's certificate is self-signed, made at its start).
func WriteKubeconfig(path, server, token, ns string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: k8stest
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: k8stest
  user: {token: %q}
contexts:
- name: k8stest
  context: {cluster: k8stest, user: k8stest, namespace: %q}
current-context: k8stest
`, server, token, ns)
	if _, err := clientcmd.Load([]byte(cfg)); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// stages are kwok's stages from the bin dir, with pod-ready told to leave
// pods that take a test stage alone, then the test stages.
func (c *Cluster) stages() ([]byte, error) {
	var out bytes.Buffer
	for _, name := range kwokStages {
		b, err := os.ReadFile(filepath.Join(c.bin, "kwok-stages", name))
		if err != nil {
			return nil, err
		}
		if name == "pod-ready.yaml" {
			if b, err = skipTestStages(b); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		out.WriteString("---\n")
		out.Write(b)
		out.WriteString("\n")
	}
	out.Write(testStages)
	return out.Bytes(), nil
}

// skipTestStages adds to a stage's selector that the pod's StageLabel is
// none of the test stages (kwok picks at random among matching stages).
func skipTestStages(stage []byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(stage, &doc); err != nil {
		return nil, err
	}
	spec, _ := doc["spec"].(map[string]any)
	sel, _ := spec["selector"].(map[string]any)
	exprs, ok := sel["matchExpressions"].([]any)
	if !ok {
		return nil, errors.New("no spec.selector.matchExpressions")
	}
	sel["matchExpressions"] = append(exprs, map[string]any{
		"key":      fmt.Sprintf(`.metadata.labels[%q]`, StageLabel),
		"operator": "NotIn",
		"values":   []any{StageNotReady, StageCrashLoop},
	})
	return yaml.Marshal(doc)
}

func advertiseAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "10.255.255.1"
}

func (c *Cluster) spawn(name string, args ...string) error {
	p := &process{name: name, out: &logbuf.Buffer{Max: 1 << 20}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(c.bin, name), args...)
	p.cmd.Dir = c.dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Pdeathsig: a test binary killed by its timeout leaves nothing behind.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	return nil
}

// waitFor polls check until it succeeds, ctx ends, or a process died.
func (c *Cluster) waitFor(ctx context.Context, what string, check func() error) error {
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		if dead := c.dead(); dead != "" {
			return fmt.Errorf("waiting for %s: %s exited", what, dead)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dead names a process that exited, or is "".
func (c *Cluster) dead() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range c.procs {
		select {
		case <-p.done:
			return name
		default:
		}
	}
	return ""
}

func (c *Cluster) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

func httpOK(url string) error {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// StopAPIServer kills the API server (SIGKILL, like a crash); the other
// components keep running and reconnect once StartAPIServer brings it back.
func (c *Cluster) StopAPIServer() {
	c.mu.Lock()
	p := c.procs["kube-apiserver"]
	delete(c.procs, "kube-apiserver")
	c.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// StartAPIServer starts the API server again on the same port and waits
// until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := c.spawn("kube-apiserver", c.apiArgs...); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "kube-apiserver /readyz after a restart", c.ready); err != nil {
		return fmt.Errorf("%w\n%s", err, c.logs())
	}
	return nil
}

func (p *process) kill() {
	// Once reaped, its pid (and group id) may be another process's: a
	// second kill (a stopped API server, then the cleanup) must not reach it.
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// logs are the tails of every component's output, for a failure message.
func (c *Cluster) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, name := range binaries {
		if p := c.procs[name]; p != nil {
			fmt.Fprintf(&b, "--- %s:\n%s\n", name, p.out.Tail(1500))
		}
	}
	return b.String()
}

// Close kills every component and removes the cluster's files.
func (c *Cluster) Close() {
	c.mu.Lock()
	procs := c.procs
	c.procs = map[string]*process{}
	c.mu.Unlock()
	// Reverse start order: clients before the API server before etcd.
	for i := len(binaries) - 1; i >= 0; i-- {
		if p := procs[binaries[i]]; p != nil {
			p.kill()
		}
	}
	os.RemoveAll(c.dir)
}

// AuditEntry is one request of the audit log.
type AuditEntry struct {
	User        string
	Verb        string
	Group       string // "" for the core group
	Resource    string
	Subresource string
	Namespace   string
	Name        string
	Code        int
}

// Audit reads the audit log: every request made by a service account
// whose user name is user (system:serviceaccount:<ns>:<name>).
func (c *Cluster) Audit(user string) ([]AuditEntry, error) {
	b, err := os.ReadFile(c.AuditLog)
	if err != nil {
		return nil, err
	}
	var out []AuditEntry
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev struct {
			User struct {
				Username string `json:"username"`
			} `json:"user"`
			Verb      string `json:"verb"`
			ObjectRef *struct {
				APIGroup    string `json:"apiGroup"`
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
				Namespace   string `json:"namespace"`
				Name        string `json:"name"`
			} `json:"objectRef"`
			ResponseStatus *struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		if ev.User.Username != user {
			continue
		}
		e := AuditEntry{User: ev.User.Username, Verb: ev.Verb}
		if r := ev.ObjectRef; r != nil {
			e.Group, e.Resource, e.Subresource, e.Namespace, e.Name = r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name
		}
		if ev.ResponseStatus != nil {
			e.Code = ev.ResponseStatus.Code
		}
		out = append(out, e)
	}
	return out, nil
}
