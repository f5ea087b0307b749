package traefik

// The types below mirror the part of Traefik v3's dynamic configuration
// (pkg/config/dynamic) that waitingroom generates. Traefik's own Go module is
// not usable here, so these are our own, kept to the keys we emit; the tests
// validate every generated configuration against Traefik's JSON schema.
//
// Field order is the order of the rendered keys (YAML and JSON alike); maps
// render sorted by key. That makes the output byte-identical for the same
// input, which matters: Traefik's HTTP provider reloads, and resets every
// health check to UP, whenever the body's bytes change.

// Config is a Traefik dynamic configuration (file provider / HTTP provider).
type Config struct {
	HTTP HTTP `json:"http" yaml:"http"`
}

// HTTP is the `http` section.
type HTTP struct {
	Routers           map[string]Router           `json:"routers,omitempty" yaml:"routers,omitempty"`
	Services          map[string]Service          `json:"services,omitempty" yaml:"services,omitempty"`
	Middlewares       map[string]Middleware       `json:"middlewares,omitempty" yaml:"middlewares,omitempty"`
	ServersTransports map[string]ServersTransport `json:"serversTransports,omitempty" yaml:"serversTransports,omitempty"`
}

// Router matches requests for one host.
type Router struct {
	Rule        string     `json:"rule" yaml:"rule"`
	EntryPoints []string   `json:"entryPoints,omitempty" yaml:"entryPoints,omitempty"`
	Middlewares []string   `json:"middlewares,omitempty" yaml:"middlewares,omitempty"`
	Service     string     `json:"service" yaml:"service"`
	TLS         *RouterTLS `json:"tls,omitempty" yaml:"tls,omitempty"`
}

// RouterTLS turns TLS on for a router, optionally with a certificate resolver.
type RouterTLS struct {
	CertResolver string `json:"certResolver,omitempty" yaml:"certResolver,omitempty"`
}

// Service is one of the service kinds; exactly one field is set.
type Service struct {
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty" yaml:"loadBalancer,omitempty"`
	Failover     *Failover     `json:"failover,omitempty" yaml:"failover,omitempty"`
}

// LoadBalancer is a `loadBalancer` service.
type LoadBalancer struct {
	Servers          []Server     `json:"servers" yaml:"servers"`
	HealthCheck      *HealthCheck `json:"healthCheck,omitempty" yaml:"healthCheck,omitempty"`
	PassHostHeader   *bool        `json:"passHostHeader,omitempty" yaml:"passHostHeader,omitempty"`
	ServersTransport string       `json:"serversTransport,omitempty" yaml:"serversTransport,omitempty"`
}

// Server is one backend address.
type Server struct {
	URL string `json:"url" yaml:"url"`
	// PreservePath sends requests to URL's path followed by theirs;
	// without it Traefik ignores the path of a server's URL.
	PreservePath bool `json:"preservePath,omitempty" yaml:"preservePath,omitempty"`
}

// HealthCheck is a load balancer's active health check. Durations are
// strings in Go's time.ParseDuration syntax, as Traefik reads them.
type HealthCheck struct {
	Scheme            string `json:"scheme,omitempty" yaml:"scheme,omitempty"`
	Path              string `json:"path" yaml:"path"`
	Port              int    `json:"port,omitempty" yaml:"port,omitempty"`
	Interval          string `json:"interval,omitempty" yaml:"interval,omitempty"`
	UnhealthyInterval string `json:"unhealthyInterval,omitempty" yaml:"unhealthyInterval,omitempty"`
	Timeout           string `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// Failover sends requests to Service while it is up, to Fallback otherwise.
type Failover struct {
	Service  string          `json:"service" yaml:"service"`
	Fallback string          `json:"fallback" yaml:"fallback"`
	Errors   *FailoverErrors `json:"errors,omitempty" yaml:"errors,omitempty"`
}

// FailoverErrors (Traefik ≥ 3.7) replays a request to the fallback when the
// main service answers one of Status.
type FailoverErrors struct {
	Status              []string `json:"status" yaml:"status"`
	MaxRequestBodyBytes int64    `json:"maxRequestBodyBytes,omitempty" yaml:"maxRequestBodyBytes,omitempty"`
}

// Middleware is one of the middleware kinds; exactly one field is set.
type Middleware struct {
	Errors      *ErrorsMiddleware      `json:"errors,omitempty" yaml:"errors,omitempty"`
	ForwardAuth *ForwardAuthMiddleware `json:"forwardAuth,omitempty" yaml:"forwardAuth,omitempty"`
}

// ErrorsMiddleware serves Query from Service when the response has one of
// Status.
type ErrorsMiddleware struct {
	Status  []string `json:"status" yaml:"status"`
	Service string   `json:"service" yaml:"service"`
	Query   string   `json:"query" yaml:"query"`
}

// ForwardAuthMiddleware asks Address before every request.
type ForwardAuthMiddleware struct {
	Address string `json:"address" yaml:"address"`
}

// ServersTransport configures how Traefik connects to a service's servers.
type ServersTransport struct {
	ForwardingTimeouts *ForwardingTimeouts `json:"forwardingTimeouts,omitempty" yaml:"forwardingTimeouts,omitempty"`
}

// ForwardingTimeouts bounds the connection to a server.
type ForwardingTimeouts struct {
	DialTimeout string `json:"dialTimeout,omitempty" yaml:"dialTimeout,omitempty"`
}
