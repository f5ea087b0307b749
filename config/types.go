package config

import (
	"time"

	"github.com/waitingroom/waitingroom/providers"
)

// File is the YAML configuration file as written by the operator. Every
// key is known: decoding is strict, so a typo is an error, not a silently
// ignored setting.
type File struct {
	Listen         string              `yaml:"listen"`
	Admin          Admin               `yaml:"admin"`
	Store          Store               `yaml:"store"`
	Defaults       Defaults            `yaml:"defaults"`
	Scheduler      Scheduler           `yaml:"scheduler"`
	Page           Page                `yaml:"page"`
	Traefik        Traefik             `yaml:"traefik"`
	TrustedProxies []string            `yaml:"trusted_proxies"`
	Limits         Limits              `yaml:"limits"`
	Budgets        Budgets             `yaml:"budgets"`
	Bots           Bots                `yaml:"bots"`
	Monitors       Monitors            `yaml:"monitors"`
	Hold           Hold                `yaml:"hold"`
	Privacy        Privacy             `yaml:"privacy"`
	Webhooks       []Webhook           `yaml:"webhooks"`
	Providers      map[string]Provider `yaml:"providers"`
	Hosts          []Host              `yaml:"hosts"`
}

// Duration is a time.Duration written as "30m", "5s", "1h30m".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Admin is the admin listener: dashboard, JSON API, metrics, health.
type Admin struct {
	Listen string `yaml:"listen"`
	// Hosts are the names the admin listener answers to besides IP
	// addresses and localhost (how a proxy, Traefik or a person reaches
	// it); requests for any other name are refused, against DNS rebinding.
	Hosts []string `yaml:"hosts"`
	// Users may log in to the dashboard; passwords are bcrypt hashes made
	// by `waitingroom hash-password`.
	Users []User `yaml:"users"`
	// Tokens authorise API calls (Authorization: Bearer). Each is read from
	// a file or an environment variable, never written in this file.
	Tokens []Token `yaml:"tokens"`
	// SessionKeyFile holds the key that signs session cookies; empty: a
	// random key per process (sessions end on restart).
	SessionKeyFile string `yaml:"session_key_file"`
	// MetricsPublic serves /metrics without a token.
	MetricsPublic *bool `yaml:"metrics_public"`
}

// User is a dashboard login.
type User struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
}

// Token is an API bearer token, read from File or Env.
type Token struct {
	Name string `yaml:"name"`
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

// Store selects the state store.
type Store struct {
	// RedisURL, e.g. redis://127.0.0.1:6379/0; empty: embedded memory store.
	// With Sentinel it gives the scheme, the data nodes' credentials and
	// the database, and its host is the master's name.
	RedisURL string `yaml:"redis_url"`
	// Sentinel finds the Redis primary through Redis Sentinel and follows
	// its failovers.
	Sentinel Sentinel `yaml:"sentinel"`
}

// Sentinel locates the Redis primary through Redis Sentinel.
type Sentinel struct {
	Master string   `yaml:"master"` // the name the sentinels monitor the primary under
	Addrs  []string `yaml:"addrs"`  // host:port of the sentinels
	// Username and the password (from PasswordFile or PasswordEnv, never
	// written here) authenticate to the sentinels themselves.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// Defaults apply to every host that does not set its own value.
type Defaults struct {
	IdleTimeout  Duration `yaml:"idle_timeout"`  // default 30m
	StartTimeout Duration `yaml:"start_timeout"` // default 5m
	HoldTimeout  Duration `yaml:"hold_timeout"`  // default 60s
	Wait         string   `yaml:"wait"`          // page | hold | auto (default auto)
}

// Scheduler sets how often the periodic jobs run.
type Scheduler struct {
	SweepInterval     Duration `yaml:"sweep_interval"`     // default 1m
	ReconcileInterval Duration `yaml:"reconcile_interval"` // default 1m
}

// Page customises the waiting page.
type Page struct {
	// Template is an html/template file replacing the built-in page.
	Template string `yaml:"template"`
	// ShowFailureReason shows visitors why a wake failed (the provider's
	// words, secrets hidden); default false: only operators see them
	// (dashboard, logs), since they name internal URLs and addresses.
	ShowFailureReason bool `yaml:"show_failure_reason"`
	// Status is the HTTP status of the waiting page (and its JSON and
	// HEAD answers) while a host sleeps or wakes: 503 (default), 200 or
	// 202, for monitors and CDNs that treat 503 as an outage. Over a
	// budget stays 429; waitingroom's own problems stay 503.
	Status int `yaml:"status"`
}

// Traefik configures the generated Traefik dynamic configuration and the
// activity sources that read Traefik.
type Traefik struct {
	// WaitingroomURL is how Traefik reaches the public listener; default
	// derived from Listen (":8080" → "http://127.0.0.1:8080").
	WaitingroomURL string   `yaml:"waitingroom_url"`
	EntryPoints    []string `yaml:"entry_points"`
	// Fallback chooses how failures reach waitingroom: "failover-errors"
	// (Traefik ≥ 3.7, default), "errors-middleware", or "health-check-only".
	Fallback            string   `yaml:"fallback"`
	HealthCheckInterval Duration `yaml:"health_check_interval"` // default 3s: also how long a reload leaves sleeping backends UP
	HealthCheckTimeout  Duration `yaml:"health_check_timeout"`  // default 2s
	// UnhealthyInterval is how often Traefik checks a sleeping backend
	// (one "Health check failed" log line each); default 10s.
	UnhealthyInterval Duration `yaml:"unhealthy_interval"`
	DialTimeout       Duration `yaml:"dial_timeout"` // default 2s
	// MaxRequestBodyBytes caps the body Traefik buffers to replay a
	// GET/HEAD/OPTIONS request (failover.errors); default 1 MiB. Other
	// methods are never buffered.
	MaxRequestBodyBytes int      `yaml:"max_request_body_bytes"`
	CertResolver        string   `yaml:"cert_resolver"`
	Middlewares         []string `yaml:"middlewares"`
	// MetricsURL is Traefik's Prometheus endpoint, polled for activity.
	MetricsURL      string   `yaml:"metrics_url"`
	MetricsInterval Duration `yaml:"metrics_interval"` // default 15s
	// ForwardAuth enables the /.waitingroom/touch activity endpoint.
	ForwardAuth bool `yaml:"forward_auth"`
}

// Limits cap what a request may carry.
type Limits struct {
	MaxHeaderBytes int `yaml:"max_header_bytes"` // default 16 KiB
	MaxHostLength  int `yaml:"max_host_length"`  // default 253
	MaxURLLength   int `yaml:"max_url_length"`   // default 8 KiB
	// MaxStreamsPerClient caps open event streams per client address (an
	// IPv6 /64); MaxStreams in total. 0: the defaults (32; the open-file
	// limit less a reserve, at most 10,000).
	MaxStreamsPerClient int `yaml:"max_streams_per_client"`
	MaxStreams          int `yaml:"max_streams"`
}

// Budgets cap wakes; they cost money.
// Absent, each takes its DefaultBudgets value; 0 turns it off.
type Budgets struct {
	MaxWakesPerDay      int      `yaml:"max_wakes_per_day"`     // per host default; 0: none
	MaxWakesPerHour     int      `yaml:"max_wakes_per_hour"`    // per host default; 0: none
	ClientWakesPerHour  int      `yaml:"client_wakes_per_hour"` // per client IP, all hosts
	PrefixWakesPerHour  int      `yaml:"prefix_wakes_per_hour"` // per /24 or /64
	MaxConcurrentStarts int      `yaml:"max_concurrent_starts"` // cluster-wide
	HoneypotBlock       Duration `yaml:"honeypot_block"`        // default 24h
}

// Bots decides which requests get the page without waking anything.
type Bots struct {
	WakeOnHead     bool     `yaml:"wake_on_head"`
	WakeOnPrefetch bool     `yaml:"wake_on_prefetch"`
	UserAgents     []string `yaml:"user_agents"` // extra substrings, case-insensitive
}

// Monitors are uptime checkers: no wake, no activity, a fixed answer.
type Monitors struct {
	UserAgents []string `yaml:"user_agents"`
	Paths      []string `yaml:"paths"`
	Status     int      `yaml:"status"` // default 200
	Body       string   `yaml:"body"`   // default "sleeping"
}

// Hold bounds held requests (wait: hold).
type Hold struct {
	MaxPerHost        int `yaml:"max_per_host"`         // default 64
	MaxTotal          int `yaml:"max_total"`            // default 256
	MaxBodyBytes      int `yaml:"max_body_bytes"`       // default 256 KiB
	MaxForwardPerHost int `yaml:"max_forward_per_host"` // default 64
}

// Privacy governs client addresses.
type Privacy struct {
	// FullAddresses shows whole client IPs in logs and the dashboard.
	FullAddresses bool `yaml:"full_addresses"`
	// HashKeyFile keys the hash of client addresses used by budgets;
	// empty: a random key per process (budgets then reset on restart).
	HashKeyFile string `yaml:"hash_key_file"`
}

// Webhook receives state change events.
type Webhook struct {
	URL        string   `yaml:"url"`
	SecretFile string   `yaml:"secret_file"`
	SecretEnv  string   `yaml:"secret_env"`
	Events     []string `yaml:"events"` // empty: all
	Timeout    Duration `yaml:"timeout"`
	Retries    int      `yaml:"retries"`
}

// Provider is one provider's settings; `type` defaults to its name. The
// keys besides type, sleep and adopt belong to its kind (providers.Kind),
// which owns their types, defaults and checks; a key of another kind is
// refused by name.
type Provider struct {
	Type string `yaml:"type"`
	// Sleep is the default way hosts of this provider sleep.
	Sleep string `yaml:"sleep"`
	// Adopt: a backend found running without a wake is stopped when idle
	// (true, default) or left alone (false).
	Adopt *bool `yaml:"adopt"`
	// Settings are the kind's own settings (docker.Settings,
	// gce.Settings, exec.Settings), decoded from the other keys.
	Settings providers.ProviderSettings `yaml:"-"`
}

// Host is one registered hostname.
type Host struct {
	Host     string `yaml:"host"`
	Provider string `yaml:"provider"`
	// Target are the settings that locate the backend, in the terms of
	// the provider's kind (docker.Target: container; gce.Target:
	// instance, zone, project; exec.Target: start, stop, status),
	// decoded from the host's keys that are not listed here.
	Target providers.TargetSettings `yaml:"-"`

	ReadyURL string `yaml:"ready_url"`
	// URL is where Traefik sends real traffic; default: the origin of
	// ready_url.
	URL          string   `yaml:"url"`
	IdleTimeout  Duration `yaml:"idle_timeout"`
	StartTimeout Duration `yaml:"start_timeout"`
	Sleep        string   `yaml:"sleep"` // stop | suspend | pause
	Wait         string   `yaml:"wait"`  // page | hold | auto
	HoldTimeout  Duration `yaml:"hold_timeout"`
	Wake         string   `yaml:"wake"` // auto | click

	MaxWakesPerDay  int `yaml:"max_wakes_per_day"`
	MaxWakesPerHour int `yaml:"max_wakes_per_hour"`

	// Price is what the backend costs, for the dashboard's savings.
	Price Price `yaml:"price,omitempty"` // omitted when empty, so RedactedYAML parses back

	// Page is how the host's waiting page looks (web.BrandOptions).
	Page HostPage `yaml:"page,omitempty"` // omitted when empty, so RedactedYAML parses back

	// Traefik per host
	EntryPoints  []string `yaml:"entry_points"`
	CertResolver string   `yaml:"cert_resolver"`
	Middlewares  []string `yaml:"middlewares"`

	// Activity and planning
	Warm           []string `yaml:"warm"`     // "CRON for DURATION"
	TimeZone       string   `yaml:"timezone"` // IANA name, default UTC
	KeepAwakeWhile string   `yaml:"keep_awake_while"`
	TouchTokenFile string   `yaml:"touch_token_file"`
	TouchTokenEnv  string   `yaml:"touch_token_env"`
}

// HostPage is one host's waiting page: its name, logo, colours, template
// and status (web.BrandOptions). Left out: the global page.
type HostPage struct {
	Name       string `yaml:"name,omitempty"`       // shown instead of the host name
	LogoURL    string `yaml:"logo_url,omitempty"`   // a path on the host: /assets/logo.svg
	LogoFile   string `yaml:"logo_file,omitempty"`  // an image file waitingroom serves
	Accent     string `yaml:"accent,omitempty"`     // #rgb or #rrggbb
	Background string `yaml:"background,omitempty"` // #rgb or #rrggbb (light scheme)
	Template   string `yaml:"template,omitempty"`   // replaces page.template for this host
	Status     int    `yaml:"status,omitempty"`     // 503, 200 or 202; default page.status
}

// Price is what a host's backend costs per hour, in one currency: the
// dashboard, /api/hosts and /metrics show what sleeping saved and what the
// host spent from it (controller.Account). Leave it out: not priced.
type Price struct {
	Running float64 `yaml:"running"` // per hour while it runs (starting and stopping too)
	// Suspended is per hour while asleep by sleep: suspend (a suspended
	// VM keeps paying for its memory and disks); 0 by default.
	Suspended float64 `yaml:"suspended"`
	Currency  string  `yaml:"currency"` // ISO 4217 code, e.g. EUR; empty: plain numbers
}
