// Package gce wakes and sleeps Compute Engine VMs: one registered host maps
// to one VM, named by project, zone and instance (never by IP, which changes
// when a VM restarts). It starts or resumes the VM, stops or suspends it, and
// reports its live internal and external IPs, which fill {internal_ip} and
// {external_ip} in a host's ready_url.
//
// It talks to the REST API through cloud.google.com/go/compute/apiv1 and
// follows progress by polling the instance every PollInterval (bounded by the
// caller's context, i.e. the host's start_timeout), not only
// Operation.Wait, whose backoff grows to a minute between polls and would add
// that much to a wake.
package gce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/googleapis/gax-go/v2"
	"golang.org/x/sync/singleflight"
	"google.golang.org/api/option"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
)

// Sleep modes.
const (
	SleepStop    = "stop"
	SleepSuspend = "suspend"
)

// Options configures a Provider.
type Options struct {
	// Project is the default project of targets that set none.
	Project string
	// CredentialsFile is a JSON key or credential configuration file;
	// empty: Application Default Credentials.
	CredentialsFile string
	// Endpoint replaces https://compute.googleapis.com (a private endpoint,
	// or a local test server). A plain http:// endpoint is used without
	// credentials, so tokens never travel in clear.
	Endpoint string
	// Sleep is how VMs sleep unless a host says otherwise: "stop"
	// (default) or "suspend".
	Sleep string
	// PollInterval is how often the instance is read while it changes
	// (default 1s).
	PollInterval time.Duration
	// RetryBase and RetryMax bound the exponential backoff (with jitter)
	// after rate limits, 5xx answers and zone capacity errors (defaults 1s
	// and 30s).
	RetryBase, RetryMax time.Duration
	// MaxAttempts bounds consecutive attempts after rate limits, 5xx
	// answers and network errors (default 6). Zone capacity errors are
	// retried until the context ends instead: capacity returns by itself.
	MaxAttempts int
	// CallTimeout bounds one API request (default 30s); a request without
	// an answer by then is retried like a 5xx.
	CallTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ClientOptions are added last when building the API client (tests:
	// option.WithEndpoint and option.WithoutAuthentication).
	ClientOptions []option.ClientOption
}

// Provider is a controller.Provider for Compute Engine VMs.
type Provider struct {
	instances    *compute.InstancesClient
	project      string
	sleep        string
	poll         time.Duration
	retryBase    time.Duration
	retryMax     time.Duration
	maxAttempts  int
	callTimeout  time.Duration
	log          *slog.Logger
	noRetry      []gax.CallOption
	reads        singleflight.Group
	problemsMu   sync.Mutex
	problems     map[string]error // instance → last API-level failure, for Check
	observedMu   sync.Mutex
	observations map[string]observation

	life   sync.RWMutex // held for reading by every API call; Close takes it
	closed bool
}

// observation is the last read of an instance, reused by Status for one
// poll interval so a readiness probe loop does not turn into an API read
// every few hundred milliseconds.
type observation struct {
	at     time.Time
	status controller.Status
	raw    string
}

var (
	_ controller.Provider = (*Provider)(nil)
	_ controller.Checker  = (*Provider)(nil)
)

// New builds a Provider and its API client. Credentials come from
// opts.CredentialsFile, else Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login, or
// the metadata server on GCP).
func New(ctx context.Context, opts Options) (*Provider, error) {
	if opts.Sleep == "" {
		opts.Sleep = SleepStop
	}
	if err := checkSleep(opts.Sleep); err != nil {
		return nil, fmt.Errorf("gce provider: %w", err)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 30 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 6
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var copts []option.ClientOption
	if opts.CredentialsFile != "" {
		o, err := credentialsOption(opts.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("gce provider: %w", err)
		}
		copts = append(copts, o)
	}
	if opts.Endpoint != "" {
		copts = append(copts, option.WithEndpoint(opts.Endpoint))
		if strings.HasPrefix(opts.Endpoint, "http://") {
			// Tokens never travel in clear: a plain-HTTP endpoint is a
			// local emulator or test server, used without credentials.
			if opts.CredentialsFile != "" {
				return nil, fmt.Errorf("gce provider: endpoint %s is plain HTTP, which would send the credentials of credentials_file in clear: use https, or no credentials_file for a local test API", opts.Endpoint)
			}
			copts = append(copts, option.WithoutAuthentication())
		}
	}
	copts = append(copts, opts.ClientOptions...)
	ic, err := compute.NewInstancesRESTClient(ctx, copts...)
	if err != nil {
		if opts.CredentialsFile == "" {
			return nil, fmt.Errorf("gce provider: no usable credentials: set credentials_file, or provide Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`, or a VM service account): %w", err)
		}
		return nil, fmt.Errorf("gce provider: building the Compute Engine client with %s: %w", opts.CredentialsFile, err)
	}
	return &Provider{
		instances:   ic,
		project:     opts.Project,
		sleep:       opts.Sleep,
		poll:        opts.PollInterval,
		retryBase:   opts.RetryBase,
		retryMax:    opts.RetryMax,
		maxAttempts: opts.MaxAttempts,
		callTimeout: opts.CallTimeout,
		log:         opts.Logger.With("provider", "gce"),
		// The generated client retries 503/504 on reads by itself, with a
		// backoff growing to a minute; we retry ourselves, bounded and with
		// the reason in view (a 503 may be ZONE_RESOURCE_POOL_EXHAUSTED).
		noRetry:      []gax.CallOption{gax.WithRetry(nil)},
		problems:     map[string]error{},
		observations: map[string]observation{},
	}, nil
}

// credentialsOption reads the file's "type" so that each supported kind
// (a service account key, a user's login, workload identity federation,
// impersonation) is loaded as what it is.
func credentialsOption(file string) (option.ClientOption, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("credentials_file: %w", err)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("credentials_file %s is not a JSON credentials file: %w", file, err)
	}
	var ct option.CredentialsType
	switch head.Type {
	case "service_account":
		ct = option.ServiceAccount
	case "authorized_user":
		ct = option.AuthorizedUser
	case "external_account":
		ct = option.ExternalAccount
	case "impersonated_service_account":
		ct = option.ImpersonatedServiceAccount
	default:
		return nil, fmt.Errorf("credentials_file %s has type %q; expected service_account, authorized_user, external_account or impersonated_service_account", file, head.Type)
	}
	return option.WithAuthCredentialsFile(ct, file), nil
}

// Close releases the API client.
func (p *Provider) Close() error {
	p.life.Lock()
	defer p.life.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.instances.Close()
}

// errClosed answers calls made after Close: a provider replaced by a
// configuration reload is closed while a wake may still hold it, and the
// REST client cannot be used once closed (it drops its HTTP client).
var errClosed = fmt.Errorf("gce provider closed (its settings changed in a configuration reload; the next wake uses the new one): %w", controller.ErrUnavailable)

func checkSleep(s string) error {
	switch s {
	case SleepStop, SleepSuspend:
		return nil
	}
	return fmt.Errorf("sleep %q is not supported by gce (use stop or suspend)", s)
}

// ref names one VM.
type ref struct {
	host, project, zone, instance string
}

func (r ref) key() string { return r.project + "/" + r.zone + "/" + r.instance }

func (r ref) resource() string {
	return fmt.Sprintf("projects/%s/zones/%s/instances/%s", r.project, r.zone, r.instance)
}

// String is how messages name the VM.
func (r ref) String() string {
	return fmt.Sprintf("instance %q (project %q, zone %q)", r.instance, r.project, r.zone)
}

var (
	// RFC 1035 labels, as GCE requires of instance names.
	instanceName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	zoneName     = regexp.MustCompile(`^[a-z]+(-[a-z0-9]+)+$`)
	// Project IDs, including legacy domain-scoped ones (example.com:proj).
	projectName = regexp.MustCompile(`^([a-z0-9.-]+:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$`)
)

// Validate checks a target's fields, so a config error is reported at load
// time rather than at the first wake.
func (p *Provider) Validate(t controller.Target) error {
	_, _, err := p.target(t)
	return err
}

func (p *Provider) target(t controller.Target) (ref, string, error) {
	gt, err := providers.TargetOf[Target](t)
	if err != nil {
		return ref{host: t.Host}, "", err
	}
	r := ref{host: t.Host, project: gt.Project, zone: gt.Zone, instance: gt.Instance}
	if r.project == "" {
		r.project = p.project
	}
	var problems []string
	switch {
	case r.instance == "":
		problems = append(problems, "instance is not set")
	case !instanceName.MatchString(r.instance):
		problems = append(problems, fmt.Sprintf("instance %q is not a valid instance name", r.instance))
	}
	switch {
	case r.zone == "":
		problems = append(problems, "zone is not set (e.g. zone: europe-west1-b)")
	case !zoneName.MatchString(r.zone):
		problems = append(problems, fmt.Sprintf("zone %q is not a valid zone name", r.zone))
	}
	switch {
	case r.project == "":
		problems = append(problems, "project is not set on the host nor on the gce provider")
	case !projectName.MatchString(r.project):
		problems = append(problems, fmt.Sprintf("project %q is not a valid project ID", r.project))
	}
	sleep := t.Sleep
	if sleep == "" {
		sleep = p.sleep
	}
	if err := checkSleep(sleep); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return r, "", fmt.Errorf("host %q: %s", t.Host, strings.Join(problems, "; "))
	}
	return r, sleep, nil
}

// Status reads the VM's status and live addresses. A VM that does not exist
// is reported as failed with the reason, so a wake stops waiting for it.
func (p *Provider) Status(ctx context.Context, t controller.Target) (controller.Status, error) {
	r, _, err := p.target(t)
	if err != nil {
		return controller.Status{State: controller.StateFailed, Reason: err.Error()}, nil
	}
	p.observedMu.Lock()
	o, ok := p.observations[r.key()]
	p.observedMu.Unlock()
	if ok && time.Since(o.at) < p.poll {
		return o.status, nil
	}
	v, err, _ := p.reads.Do(r.key(), func() (any, error) {
		inst, err := p.get(ctx, r)
		if err != nil {
			return nil, err
		}
		return p.observe(r, inst), nil
	})
	if err != nil {
		mapped := p.mapError(r, "get", err)
		if errors.Is(mapped, ErrNotFound) {
			return controller.Status{State: controller.StateFailed, Reason: mapped.Error()}, nil
		}
		return controller.Status{State: controller.StateUnknown}, mapped
	}
	return v.(observation).status, nil
}

// Address returns the VM's current internal and external IPs (either may be
// empty: a stopped VM has no external address), for building the backend
// URL. It fails when the VM has neither.
func (p *Provider) Address(ctx context.Context, t controller.Target) (internal, external string, err error) {
	st, err := p.Status(ctx, t)
	if err != nil {
		return "", "", err
	}
	if st.InternalIP == "" && st.ExternalIP == "" {
		if st.Reason != "" {
			return "", "", errors.New(st.Reason)
		}
		r, _, _ := p.target(t)
		return "", "", fmt.Errorf("GCE %s has no IP address while %s", r, st.State)
	}
	return st.InternalIP, st.ExternalIP, nil
}

// Check reports API-level problems seen on the last call for each VM:
// missing permissions, rejected credentials, an unreachable or failing API.
// A call that succeeds clears its VM's entry. Problems with one VM's own
// configuration (not found) are shown on its page, not here.
func (p *Provider) Check(context.Context) error {
	p.problemsMu.Lock()
	defer p.problemsMu.Unlock()
	keys := slices.Sorted(maps.Keys(p.problems))
	errs := make([]error, 0, len(keys))
	for _, k := range keys {
		errs = append(errs, p.problems[k])
	}
	return errors.Join(errs...)
}

// noteResult records the outcome of an API call for Check.
func (p *Provider) noteResult(r ref, err error) {
	p.problemsMu.Lock()
	defer p.problemsMu.Unlock()
	if err == nil || !(errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrUnauthenticated) || errors.Is(err, controller.ErrUnavailable)) {
		delete(p.problems, r.key())
		return
	}
	p.problems[r.key()] = err
}

func (p *Provider) get(ctx context.Context, r ref) (inst *computepb.Instance, err error) {
	err = p.timed(ctx, func(ctx context.Context) error {
		inst, err = p.instances.Get(ctx, &computepb.GetInstanceRequest{
			Project: r.project, Zone: r.zone, Instance: r.instance,
		}, p.noRetry...)
		return err
	})
	return inst, err
}

// timed bounds one API call by CallTimeout, so a request that hangs is
// retried like any transient failure instead of eating the whole
// start_timeout.
func (p *Provider) timed(ctx context.Context, call func(context.Context) error) error {
	// Close waits for calls in flight and later calls are refused.
	p.life.RLock()
	defer p.life.RUnlock()
	if p.closed {
		return errClosed
	}
	cctx, cancel := context.WithTimeout(ctx, p.callTimeout)
	defer cancel()
	err := call(cctx)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil {
		return &noAnswerError{after: p.callTimeout}
	}
	return err
}

// noAnswerError is a call that got no answer within CallTimeout.
type noAnswerError struct{ after time.Duration }

func (e *noAnswerError) Error() string { return fmt.Sprintf("no answer within %s", e.after) }

// observe maps a read instance and remembers it for Status.
func (p *Provider) observe(r ref, inst *computepb.Instance) observation {
	raw := inst.GetStatus()
	st := controller.Status{State: stateOf(raw)}
	if st.State == controller.StateFailed {
		st.Reason = fmt.Sprintf("GCE %s is in status %q, which waitingroom does not handle", r, raw)
	}
	if nics := inst.GetNetworkInterfaces(); len(nics) > 0 {
		st.InternalIP = nics[0].GetNetworkIP()
		if acs := nics[0].GetAccessConfigs(); len(acs) > 0 {
			st.ExternalIP = acs[0].GetNatIP()
		}
	}
	o := observation{at: time.Now(), status: st, raw: raw}
	p.observedMu.Lock()
	p.observations[r.key()] = o
	p.observedMu.Unlock()
	p.noteResult(r, nil)
	return o
}

// stateOf maps a GCE instance status to a controller state.
func stateOf(status string) controller.State {
	switch status {
	case "PROVISIONING", "STAGING", "REPAIRING":
		return controller.StateStarting
	case "RUNNING":
		// The controller calls it running once ready_url answers.
		return controller.StateRunning
	case "STOPPING", "SUSPENDING":
		return controller.StateStopping
	case "TERMINATED", "STOPPED", "SUSPENDED":
		return controller.StateStopped
	default:
		return controller.StateFailed
	}
}
