package traefik

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// Fallback modes: how a failing backend's requests reach waitingroom.
const (
	// FallbackFailoverErrors (Traefik ≥ 3.7, the default) adds
	// `failover.errors.status: ["502-504"]`: a request the backend answers
	// with 502–504 (connection refused, dial timeout) is replayed to
	// waitingroom at once, so nobody sees a raw 502 between a backend dying
	// and the next health check.
	FallbackFailoverErrors = "failover-errors"
	// FallbackErrorsMiddleware (Traefik < 3.7) attaches an `errors`
	// middleware that fetches waitingroom's page for 502–504. It sends a GET
	// with the original Host and headers but without the original method and
	// body, and the client gets the caught status (502–504) with
	// waitingroom's page as the body.
	FallbackErrorsMiddleware = "errors-middleware"
	// FallbackHealthCheckOnly relies on the failover's health check alone.
	// Between a backend dying (or any configuration reload, which resets
	// health checks to UP) and the next failed check — up to the health
	// check interval plus its timeout, and up to the dial timeout per
	// request — clients get Traefik's raw 502 (connection refused) or 504.
	FallbackHealthCheckOnly = "health-check-only"
)

// PlaceholderURL is the server URL of a backend whose address is not known
// while it sleeps (a GCE VM's IP comes from its live status). Its router and
// services must stay in the configuration — a vanished route is a 404, not
// a waiting page — so the backend gets an address that fails at once: port 1
// on Traefik's own loopback, where nothing listens, refuses the connection
// immediately (a documentation address such as 192.0.2.1 would instead hang
// until the dial timeout). Traefik answers 502, which failover.errors and
// the errors middleware send to waitingroom, and the health check marks the
// server DOWN on its first run.
const PlaceholderURL = "http://127.0.0.1:1"

// TouchPath is where waitingroom's ForwardAuth activity endpoint is served;
// Options.ForwardAuth makes every router call WaitingroomURL+TouchPath.
const TouchPath = "/.waitingroom/touch"

// Names of the objects shared by every host. A host whose own names would
// collide with these (or with another host's) gets a hash suffix.
const (
	fallbackService   = "waitingroom"
	untriedService    = "waitingroom-untried"
	errorsMiddleware  = "waitingroom-errors"
	touchMiddleware   = "waitingroom-touch"
	backendTransport  = "waitingroom-transport"
	backendNameSuffix = "-backend"
	readNameSuffix    = "-read"
)

// UntriedPath is the path prefix of the fallback that only receives
// requests Traefik never sent to the backend (a failover without `errors`
// goes to its fallback only while the backend is marked down): waitingroom
// may forward those to a running backend whatever their method. It is
// hold.UntriedPrefix.
const UntriedPath = "/.waitingroom/untried"

// ReadMethods are the methods of the router whose failover replays
// (failover.errors): requests that may be sent twice, and carry no body
// worth buffering. Every other method goes through a failover without
// replay, so an upload is streamed and a POST is never sent twice.
var ReadMethods = []string{"GET", "HEAD", "OPTIONS"}

// DefaultMaxRequestBodyBytes caps the body Traefik buffers to replay a
// request of ReadMethods (failover.errors); Traefik's own default is no
// limit. Above it Traefik answers 413 itself.
const DefaultMaxRequestBodyBytes = 1 << 20

// Defaults of the health check.
const (
	// DefaultHealthCheckInterval is also how long a configuration reload
	// leaves sleeping backends UP (Traefik checks one interval after it).
	DefaultHealthCheckInterval = 3 * time.Second
	DefaultHealthCheckTimeout  = 2 * time.Second
	DefaultUnhealthyInterval   = 10 * time.Second
	DefaultDialTimeout         = 2 * time.Second
)

// Options configure the generated configuration. The zero value of every
// field but WaitingroomURL means its default.
type Options struct {
	// WaitingroomURL is how Traefik reaches waitingroom's public listener,
	// e.g. http://127.0.0.1:8080 (see DefaultWaitingroomURL). Required.
	WaitingroomURL string
	// EntryPoints of every router unless a route sets its own; empty: all
	// of Traefik's entry points.
	EntryPoints []string
	// Fallback is one of the Fallback* modes; default FallbackFailoverErrors.
	Fallback string
	// HealthCheckInterval (default 3s) and HealthCheckTimeout (default 2s)
	// of the backend's health check; the timeout must be shorter. After a
	// configuration reload Traefik holds every backend UP until its first
	// check, one interval later: methods other than GET/HEAD/OPTIONS to a
	// sleeping backend get Traefik's 502 for that long.
	HealthCheckInterval time.Duration
	HealthCheckTimeout  time.Duration
	// UnhealthyInterval (default 10s) is how often a DOWN (sleeping)
	// backend is checked again; each failed check is a "Health check
	// failed" warning in Traefik's log. Until the check after readiness,
	// Traefik keeps sending the host's requests to waitingroom, which
	// hands them to the backend (Traefik ≥ 3.5; older versions use the
	// interval).
	UnhealthyInterval time.Duration
	// DialTimeout (default 2s) bounds connecting to a backend, so a stopped
	// VM whose IP swallows packets fails fast instead of after Traefik's 30s.
	DialTimeout time.Duration
	// CertResolver turns TLS on for every router that does not set its own.
	CertResolver string
	// Middlewares are attached to every router, before a route's own.
	// Objects from another provider need their suffix ("auth@file").
	Middlewares []string
	// MaxRequestBodyBytes caps the body failover.errors buffers for
	// replay (requests of ReadMethods only); default
	// DefaultMaxRequestBodyBytes. Above it Traefik answers 413.
	MaxRequestBodyBytes int64
	// ForwardAuth attaches a forwardAuth middleware calling
	// WaitingroomURL+TouchPath to every router, as the last middleware, so
	// only requests the operator's middlewares let through count as
	// activity. It counts every request through the router, including
	// those answered by the waiting page.
	ForwardAuth bool
}

// Route is one registered host as the generated configuration needs it.
// NewRoute builds one from a controller.Host.
type Route struct {
	// Host is the normalised hostname (lower case, no port).
	Host string
	// BackendURL is where Traefik sends real traffic (scheme://host:port);
	// it may contain {internal_ip} or {external_ip}, which Generate's live
	// func fills, or else PlaceholderURL stands in.
	BackendURL string
	// HealthPath is the path (and query) Traefik's health check requests
	// on the backend; default "/".
	HealthPath string
	// HealthScheme and HealthPort, when set, replace the backend URL's
	// scheme and port for the health check (ready_url on another port).
	HealthScheme string
	HealthPort   int
	// EntryPoints, CertResolver: this host's own, replacing Options'.
	EntryPoints  []string
	CertResolver string
	// Middlewares are attached after Options.Middlewares.
	Middlewares []string
}

// NewRoute builds the Route of a registered host. backendURL is the host's
// `url` setting; empty means the origin of its ready_url. The health check
// requests ready_url's path on the backend server (and its port or scheme
// where they differ from the backend URL's); a ready_url on another host
// than the backend cannot be expressed in Traefik, so then only its path is
// used. Per-host entry points, cert resolver and middlewares are the
// caller's to set on the result.
func NewRoute(h controller.Host, backendURL string) (Route, error) {
	r := Route{Host: h.Name, BackendURL: backendURL, HealthPath: "/"}
	if err := checkHost(h.Name); err != nil {
		return Route{}, err
	}
	var ready endpoint
	if h.ReadyURL != "" {
		var err error
		if ready, err = splitURL(h.ReadyURL); err != nil {
			return Route{}, fmt.Errorf("host %q: ready_url: %w", h.Name, err)
		}
		r.HealthPath = ready.path
	}
	if r.BackendURL == "" {
		if h.ReadyURL == "" {
			return Route{}, fmt.Errorf("host %q: set url or ready_url, so Traefik knows where the backend is", h.Name)
		}
		r.BackendURL = ready.origin()
	}
	backend, err := splitURL(r.BackendURL)
	if err != nil {
		return Route{}, fmt.Errorf("host %q: url: %w", h.Name, err)
	}
	if h.ReadyURL != "" && ready.hostname == backend.hostname {
		if ready.scheme != backend.scheme {
			r.HealthScheme = ready.scheme
		}
		if rp, bp := ready.portOrDefault(), backend.portOrDefault(); rp != bp {
			p, err := strconv.Atoi(rp)
			if err != nil {
				return Route{}, fmt.Errorf("host %q: ready_url port %q: %w", h.Name, rp, err)
			}
			r.HealthPort = p
		}
	}
	return r, nil
}

// LiveURL fills the route's {internal_ip} and {external_ip} from a
// provider's live status: the usual body of Generate's live func. ok is
// false while the status lacks an address the URL needs.
func (r Route) LiveURL(st controller.Status) (url string, ok bool) {
	u, err := controller.ExpandReadyURL(r.BackendURL, st)
	if err != nil {
		return "", false
	}
	return u, true
}

// DefaultWaitingroomURL derives how Traefik reaches the public listener
// from its listen address: ":8080" and "0.0.0.0:8080" → http://127.0.0.1:8080.
func DefaultWaitingroomURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// Names are the Traefik object names generated for one host.
type Names struct {
	// Router is the router's name.
	Router string
	// Service is the failover service the router points at.
	Service string
	// Backend is the backend's loadBalancer service. Traefik's metrics
	// label its requests service="<Backend>@<provider>".
	Backend string
	// ReadRouter and ReadService (mode failover-errors only) take the
	// host's requests of ReadMethods, through a failover that replays
	// them to waitingroom after a 502 or 504; Router and Service take
	// every other method, with no replay.
	ReadRouter  string
	ReadService string
}

// NamesFor returns the names Generate gives each host. A name is the host
// with every character but [a-z0-9] turned into "-" (app.example.com →
// app-example-com); hosts whose names would collide (a-b.c and a.b-c, or a
// name used for waitingroom's shared objects) get a hash of the host
// appended. Names depend only on the set of hosts, never on their order.
func NamesFor(hosts []string) map[string]Names {
	hosts = slices.Clone(hosts)
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)

	shared := []string{fallbackService, untriedService, errorsMiddleware, touchMiddleware, backendTransport}
	suffixes := []string{"", backendNameSuffix, readNameSuffix}
	used := map[string]int{}
	taken := map[string]bool{}
	for _, n := range shared {
		used[n], taken[n] = 2, true
	}
	base := make(map[string]string, len(hosts))
	for _, h := range hosts {
		b := sanitize(h)
		base[h] = b
		for _, sfx := range suffixes {
			used[b+sfx]++
		}
	}
	anyOf := func(b string, f func(string) bool) bool {
		for _, sfx := range suffixes {
			if f(b + sfx) {
				return true
			}
		}
		return false
	}
	take := func(b string) {
		for _, sfx := range suffixes {
			taken[b+sfx] = true
		}
	}
	var clashing []string
	for _, h := range hosts {
		b := base[h]
		if anyOf(b, func(n string) bool { return used[n] > 1 }) {
			clashing = append(clashing, h)
			continue
		}
		take(b)
	}
	isTaken := func(n string) bool { return taken[n] }
	for _, h := range clashing {
		b := base[h] + "-" + hostHash(h)
		for n := 2; anyOf(b, isTaken); n++ {
			b = base[h] + "-" + hostHash(h) + "-" + strconv.Itoa(n)
		}
		base[h] = b
		take(b)
	}
	out := make(map[string]Names, len(hosts))
	for _, h := range hosts {
		b := base[h]
		out[h] = Names{Router: b, Service: b, Backend: b + backendNameSuffix, ReadRouter: b + readNameSuffix, ReadService: b + readNameSuffix}
	}
	return out
}

// BackendHostOf returns the lookup MetricsOptions.HostOf needs: from a
// service label of Traefik's metrics ("app-example-com-backend@http", with
// any provider suffix or none) to the host whose backend it is. Every other
// service, waitingroom's fallback included, is not found.
func BackendHostOf(hosts []string) func(service string) (host string, ok bool) {
	idx := make(map[string]string, len(hosts))
	for h, n := range NamesFor(hosts) {
		idx[n.Backend] = h
	}
	return func(service string) (string, bool) {
		if i := strings.LastIndexByte(service, '@'); i >= 0 {
			service = service[:i]
		}
		h, ok := idx[service]
		return h, ok
	}
}

// Generate builds the dynamic configuration for routes. live, when not nil,
// gives a host's current backend URL (a GCE VM's URL with its current IP);
// it wins over Route.BackendURL when it answers ok with a valid URL. A
// backend whose URL still has an unfilled {internal_ip}/{external_ip}
// placeholder gets PlaceholderURL, keeping its router and services present.
func Generate(opts Options, routes []Route, live func(host string) (url string, ok bool)) (Config, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Config{}, err
	}
	hosts := make([]string, 0, len(routes))
	seen := make(map[string]bool, len(routes))
	for _, r := range routes {
		if err := checkHost(r.Host); err != nil {
			return Config{}, err
		}
		if seen[r.Host] {
			return Config{}, fmt.Errorf("host %q: listed twice", r.Host)
		}
		seen[r.Host] = true
		hosts = append(hosts, r.Host)
	}
	names := NamesFor(hosts)

	cfg := Config{HTTP: HTTP{
		Routers:  make(map[string]Router, len(routes)),
		Services: make(map[string]Service, 2*len(routes)+1),
		ServersTransports: map[string]ServersTransport{
			backendTransport: {ForwardingTimeouts: &ForwardingTimeouts{DialTimeout: formatDuration(opts.DialTimeout)}},
		},
	}}
	cfg.HTTP.Services[fallbackService] = Service{LoadBalancer: &LoadBalancer{
		Servers: []Server{{URL: opts.WaitingroomURL}},
		// waitingroom finds the host by the original Host header.
		PassHostHeader: ptr(true),
	}}
	// The fallback of failovers that never replay: what reaches it was
	// never sent to the backend, and Traefik prefixes its path with
	// UntriedPath, so waitingroom may forward it whatever its method.
	cfg.HTTP.Services[untriedService] = Service{LoadBalancer: &LoadBalancer{
		Servers:        []Server{{URL: strings.TrimSuffix(opts.WaitingroomURL, "/") + UntriedPath, PreservePath: true}},
		PassHostHeader: ptr(true),
	}}
	if opts.Fallback == FallbackErrorsMiddleware || opts.ForwardAuth {
		cfg.HTTP.Middlewares = map[string]Middleware{}
	}
	if opts.Fallback == FallbackErrorsMiddleware {
		cfg.HTTP.Middlewares[errorsMiddleware] = Middleware{Errors: &ErrorsMiddleware{
			Status: []string{"502-504"}, Service: fallbackService, Query: "/",
		}}
	}
	if opts.ForwardAuth {
		cfg.HTTP.Middlewares[touchMiddleware] = Middleware{ForwardAuth: &ForwardAuthMiddleware{
			Address: strings.TrimSuffix(opts.WaitingroomURL, "/") + TouchPath,
		}}
	}

	for _, r := range routes {
		n := names[r.Host]
		serverURL, err := backendServerURL(r, live)
		if err != nil {
			return Config{}, err
		}
		healthPath := r.HealthPath
		if healthPath == "" {
			healthPath = "/"
		}
		cfg.HTTP.Services[n.Backend] = Service{LoadBalancer: &LoadBalancer{
			Servers: []Server{{URL: serverURL}},
			HealthCheck: &HealthCheck{
				Scheme:            r.HealthScheme,
				Path:              healthPath,
				Port:              r.HealthPort,
				Interval:          formatDuration(opts.HealthCheckInterval),
				UnhealthyInterval: formatDuration(opts.UnhealthyInterval),
				Timeout:           formatDuration(opts.HealthCheckTimeout),
			},
			PassHostHeader:   ptr(true),
			ServersTransport: backendTransport,
		}}
		// Every method: a failover without replay. Its fallback gets only
		// requests Traefik sent nowhere else.
		cfg.HTTP.Services[n.Service] = Service{Failover: &Failover{Service: n.Backend, Fallback: untriedService}}
		router := Router{
			Rule:        "Host(`" + r.Host + "`)",
			EntryPoints: slices.Clone(opts.EntryPoints),
			Service:     n.Service,
		}
		if len(r.EntryPoints) > 0 {
			router.EntryPoints = slices.Clone(r.EntryPoints)
		}
		if opts.Fallback == FallbackErrorsMiddleware {
			// Outermost, so it sees the backend's 502–504 whatever the
			// operator's middlewares do.
			router.Middlewares = append(router.Middlewares, errorsMiddleware)
		}
		for _, m := range slices.Concat(opts.Middlewares, r.Middlewares) {
			if m != "" && !slices.Contains(router.Middlewares, m) {
				router.Middlewares = append(router.Middlewares, m)
			}
		}
		if opts.ForwardAuth {
			router.Middlewares = append(router.Middlewares, touchMiddleware)
		}
		resolver := opts.CertResolver
		if r.CertResolver != "" {
			resolver = r.CertResolver
		}
		if resolver != "" {
			router.TLS = &RouterTLS{CertResolver: resolver}
		}
		cfg.HTTP.Routers[n.Router] = router
		if opts.Fallback == FallbackFailoverErrors {
			// Requests that may be sent twice: a failover that replays
			// them to waitingroom when the backend answers 502 (connection
			// refused) or 504 (dial timeout). Not 503: an app's own
			// maintenance page reaches the user as it is. The longer rule
			// wins over the host's other router.
			cfg.HTTP.Services[n.ReadService] = Service{Failover: &Failover{
				Service: n.Backend, Fallback: fallbackService,
				Errors: &FailoverErrors{Status: []string{"502", "504"}, MaxRequestBodyBytes: opts.MaxRequestBodyBytes},
			}}
			read := router
			read.Rule = router.Rule + " && (" + methodsRule(ReadMethods) + ")"
			read.Service = n.ReadService
			read.EntryPoints = slices.Clone(router.EntryPoints)
			read.Middlewares = slices.Clone(router.Middlewares)
			cfg.HTTP.Routers[n.ReadRouter] = read
		}
	}
	return cfg, nil
}

// methodsRule is a Traefik rule matching any of methods.
func methodsRule(methods []string) string {
	parts := make([]string, len(methods))
	for i, m := range methods {
		parts[i] = "Method(`" + m + "`)"
	}
	return strings.Join(parts, " || ")
}

func (o Options) withDefaults() (Options, error) {
	if o.Fallback == "" {
		o.Fallback = FallbackFailoverErrors
	}
	if o.HealthCheckInterval == 0 {
		o.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if o.HealthCheckTimeout == 0 {
		o.HealthCheckTimeout = DefaultHealthCheckTimeout
	}
	if o.UnhealthyInterval == 0 {
		o.UnhealthyInterval = DefaultUnhealthyInterval
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.MaxRequestBodyBytes == 0 {
		o.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	var errs []error
	switch o.Fallback {
	case FallbackFailoverErrors, FallbackErrorsMiddleware, FallbackHealthCheckOnly:
	default:
		errs = append(errs, fmt.Errorf("traefik fallback %q is not one of %s, %s, %s",
			o.Fallback, FallbackFailoverErrors, FallbackErrorsMiddleware, FallbackHealthCheckOnly))
	}
	if o.WaitingroomURL == "" {
		errs = append(errs, errors.New("traefik waitingroom_url is empty: set it to how Traefik reaches waitingroom's public listener"))
	} else if err := checkServerURL(o.WaitingroomURL); err != nil {
		errs = append(errs, fmt.Errorf("traefik waitingroom_url: %w", err))
	}
	for name, d := range map[string]time.Duration{
		"health_check_interval": o.HealthCheckInterval, "health_check_timeout": o.HealthCheckTimeout,
		"unhealthy_interval": o.UnhealthyInterval, "dial_timeout": o.DialTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("traefik %s %s is negative", name, d))
		}
	}
	if o.HealthCheckTimeout >= o.HealthCheckInterval {
		// Traefik would silently stretch the interval to timeout+1s.
		errs = append(errs, fmt.Errorf("traefik health_check_timeout %s must be shorter than health_check_interval %s",
			o.HealthCheckTimeout, o.HealthCheckInterval))
	}
	if o.MaxRequestBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("traefik max request body bytes %d is negative", o.MaxRequestBodyBytes))
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return o, errors.Join(errs...)
	}
	return o, nil
}

// backendServerURL picks the server URL of r's backend: the live URL, else
// the configured one, else (an unfilled placeholder) PlaceholderURL.
func backendServerURL(r Route, live func(string) (string, bool)) (string, error) {
	if live != nil {
		if u, ok := live(r.Host); ok && u != "" && !hasPlaceholder(u) && checkServerURL(u) == nil {
			return u, nil
		}
	}
	if hasPlaceholder(r.BackendURL) {
		return PlaceholderURL, nil
	}
	if err := checkServerURL(r.BackendURL); err != nil {
		return "", fmt.Errorf("host %q: backend url: %w", r.Host, err)
	}
	return r.BackendURL, nil
}

func hasPlaceholder(u string) bool {
	return strings.Contains(u, "{internal_ip}") || strings.Contains(u, "{external_ip}")
}

func checkServerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", raw)
	}
	return nil
}

// checkHost refuses names that would break out of the Host(`…`) rule or
// are not normalised.
func checkHost(h string) error {
	if h == "" {
		return errors.New("route with an empty host")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("host %q: only lower-case letters, digits, '.', '-' and '_' may appear in a Traefik Host rule here", h)
		}
	}
	return nil
}

func sanitize(h string) string {
	b := []byte(h)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

func hostHash(h string) string {
	f := fnv.New32a()
	f.Write([]byte(h))
	return fmt.Sprintf("%08x", f.Sum32())
}

// endpoint is a URL split by hand: ready_url may hold {internal_ip}, which
// net/url rejects in a host.
type endpoint struct {
	scheme, hostname, port, path string
}

func splitURL(raw string) (endpoint, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return endpoint{}, fmt.Errorf("%q: must start with http:// or https://", raw)
	}
	authority, path := rest, "/"
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path = path[:i]
	}
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	if authority == "" {
		return endpoint{}, fmt.Errorf("%q: no host", raw)
	}
	if strings.Contains(authority, "@") {
		return endpoint{}, fmt.Errorf("%q: user information is not supported", raw)
	}
	e := endpoint{scheme: scheme, hostname: authority, path: path}
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		e.hostname, e.port = authority[:i], authority[i+1:]
	}
	if e.hostname == "" {
		return endpoint{}, fmt.Errorf("%q: no host", raw)
	}
	return e, nil
}

func (e endpoint) origin() string {
	if e.port == "" {
		return e.scheme + "://" + e.hostname
	}
	return e.scheme + "://" + e.hostname + ":" + e.port
}

func (e endpoint) portOrDefault() string {
	switch {
	case e.port != "":
		return e.port
	case e.scheme == "https":
		return "443"
	default:
		return "80"
	}
}

// formatDuration writes d the way an operator would: 5s, 1m, 1m30s, 500ms.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func ptr[T any](v T) *T { return &v }
