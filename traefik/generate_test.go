package traefik

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

func TestNewRouteDerivesBackendAndHealthCheck(t *testing.T) {
	cases := []struct {
		name, ready, url string
		want             Route
	}{
		{"backend is the origin of ready_url", "http://app:80/healthz", "",
			Route{BackendURL: "http://app:80", HealthPath: "/healthz"}},
		{"query kept, fragment dropped", "http://app/ready?deep=1#x", "",
			Route{BackendURL: "http://app", HealthPath: "/ready?deep=1"}},
		{"no path means /", "http://app:8080", "",
			Route{BackendURL: "http://app:8080", HealthPath: "/"}},
		{"placeholder address survives", "http://{internal_ip}:8080/healthz", "",
			Route{BackendURL: "http://{internal_ip}:8080", HealthPath: "/healthz"}},
		{"url set, same server", "http://app:80/up", "http://app",
			Route{BackendURL: "http://app", HealthPath: "/up"}},
		{"ready_url on another port", "http://app:9090/metrics", "http://app:80",
			Route{BackendURL: "http://app:80", HealthPath: "/metrics", HealthPort: 9090}},
		{"ready_url over https", "https://app/ready", "http://app:443",
			Route{BackendURL: "http://app:443", HealthPath: "/ready", HealthScheme: "https"}},
		{"ready_url on another host: path only", "http://sidecar:9000/ready", "http://app:80",
			Route{BackendURL: "http://app:80", HealthPath: "/ready"}},
		{"no ready_url", "", "http://app:3000",
			Route{BackendURL: "http://app:3000", HealthPath: "/"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NewRoute(controller.Host{Name: "app.example.com", ReadyURL: c.ready}, c.url)
			if err != nil {
				t.Fatal(err)
			}
			c.want.Host = "app.example.com"
			if !routesEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestNewRouteRejects(t *testing.T) {
	cases := []struct{ name, host, ready, url, want string }{
		{"nothing to reach", "app.example.com", "", "", "set url or ready_url"},
		{"bad scheme", "app.example.com", "ftp://app/", "", "http:// or https://"},
		{"bad url", "app.example.com", "", "app:80", "http:// or https://"},
		{"host breaking the rule", "app`) || Host(`x", "http://app/", "", "Host rule"},
		{"upper case host", "App.example.com", "http://app/", "", "Host rule"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewRoute(controller.Host{Name: c.host, ReadyURL: c.ready}, c.url)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestNamesAreSafeUniqueAndOrderFree(t *testing.T) {
	hosts := []string{"app.example.com", "a-b.example.com", "a.b-example.com", "waitingroom", "x", "x-backend", "x-read",
		"waitingroom-transport", "waitingroom-untried"}
	names := NamesFor(hosts)
	if got := names["app.example.com"]; got != (Names{Router: "app-example-com", Service: "app-example-com", Backend: "app-example-com-backend",
		ReadRouter: "app-example-com-read", ReadService: "app-example-com-read"}) {
		t.Errorf("app.example.com: %+v", got)
	}
	seen := map[string]string{fallbackService: "", untriedService: "", errorsMiddleware: "", touchMiddleware: "", backendTransport: ""}
	for h, n := range names {
		if n.ReadRouter != n.ReadService || n.Router != n.Service {
			t.Errorf("%s: routers and services named apart: %+v", h, n)
		}
		for _, name := range []string{n.Service, n.Backend, n.ReadService} {
			if other, dup := seen[name]; dup {
				t.Errorf("%s: name %q also used by %q", h, name, other)
			}
			seen[name] = h
			for _, c := range name {
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
					t.Errorf("%s: name %q has %q", h, name, c)
				}
			}
		}
	}
	reversed := slices.Clone(hosts)
	slices.Reverse(reversed)
	if !maps.Equal(NamesFor(reversed), names) {
		t.Error("names depend on the order of hosts")
	}
}

func TestBackendHostOfKnowsOnlyBackends(t *testing.T) {
	hostOf := BackendHostOf([]string{"app.example.com", "vm.example.com"})
	cases := []struct {
		service, host string
		ok            bool
	}{
		{"app-example-com-backend@http", "app.example.com", true},
		{"app-example-com-backend@file", "app.example.com", true},
		{"vm-example-com-backend", "vm.example.com", true},
		{"waitingroom@http", "", false},
		{"app-example-com@http", "", false}, // the failover parent
		{"api@internal", "", false},
	}
	for _, c := range cases {
		h, ok := hostOf(c.service)
		if h != c.host || ok != c.ok {
			t.Errorf("%s: got (%q, %v), want (%q, %v)", c.service, h, ok, c.host, c.ok)
		}
	}
}

func TestGenerateUsesLiveAddressOrFailFastPlaceholder(t *testing.T) {
	routes := []Route{{Host: "vm.example.com", BackendURL: "http://{internal_ip}:8080", HealthPath: "/healthz"}}
	cases := []struct {
		name string
		live func(string) (string, bool)
		want string
	}{
		{"no live func", nil, PlaceholderURL},
		{"address unknown", func(string) (string, bool) { return "", false }, PlaceholderURL},
		{"address known", func(string) (string, bool) { return "http://10.1.2.3:8080", true }, "http://10.1.2.3:8080"},
		{"live url still a template", func(string) (string, bool) { return "http://{internal_ip}:8080", true }, PlaceholderURL},
		{"live url broken", func(string) (string, bool) { return "10.1.2.3:8080", true }, PlaceholderURL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Generate(Options{WaitingroomURL: "http://127.0.0.1:8080"}, routes, c.live)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := cfg.HTTP.Routers["vm-example-com"]; !ok {
				t.Error("router missing: a sleeping host must keep its route")
			}
			lb := cfg.HTTP.Services["vm-example-com-backend"].LoadBalancer
			if lb == nil || lb.Servers[0].URL != c.want {
				t.Errorf("backend %+v, want server %s", lb, c.want)
			}
		})
	}
}

func TestGenerateFallbackModes(t *testing.T) {
	routes := []Route{{Host: "app.example.com", BackendURL: "http://app:80", HealthPath: "/"}}
	cases := []struct {
		fallback         string
		readRouter       bool // a second router for GET/HEAD/OPTIONS whose failover replays
		errorsMiddleware bool
	}{
		{"", true, false},
		{FallbackFailoverErrors, true, false},
		{FallbackErrorsMiddleware, false, true},
		{FallbackHealthCheckOnly, false, false},
	}
	for _, c := range cases {
		t.Run("mode="+c.fallback, func(t *testing.T) {
			cfg, err := Generate(Options{WaitingroomURL: "http://127.0.0.1:8080", Fallback: c.fallback}, routes, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Every method: a failover that never replays, whose fallback
			// knows its requests were never sent to the backend.
			fo := cfg.HTTP.Services["app-example-com"].Failover
			if fo == nil || fo.Service != "app-example-com-backend" || fo.Fallback != "waitingroom-untried" || fo.Errors != nil {
				t.Fatalf("failover %+v, want one without errors falling back to waitingroom-untried", fo)
			}
			untried := cfg.HTTP.Services["waitingroom-untried"].LoadBalancer
			if untried == nil || untried.Servers[0].URL != "http://127.0.0.1:8080"+UntriedPath || !untried.Servers[0].PreservePath {
				t.Errorf("waitingroom-untried %+v, want the waitingroom URL with %s", untried, UntriedPath)
			}
			r := cfg.HTTP.Routers["app-example-com"]
			if r.Rule != "Host(`app.example.com`)" || r.Service != "app-example-com" {
				t.Errorf("router %+v", r)
			}
			read, ok := cfg.HTTP.Routers["app-example-com-read"]
			if ok != c.readRouter {
				t.Fatalf("read router present = %v, want %v", ok, c.readRouter)
			}
			if c.readRouter {
				if read.Rule != "Host(`app.example.com`) && (Method(`GET`) || Method(`HEAD`) || Method(`OPTIONS`))" || read.Service != "app-example-com-read" {
					t.Errorf("read router %+v", read)
				}
				rfo := cfg.HTTP.Services["app-example-com-read"].Failover
				if rfo == nil || rfo.Fallback != "waitingroom" || rfo.Errors == nil ||
					!slices.Equal(rfo.Errors.Status, []string{"502", "504"}) || rfo.Errors.MaxRequestBodyBytes != DefaultMaxRequestBodyBytes {
					t.Errorf("read failover %+v (errors %+v): want errors 502 and 504 (not 503: the app's own page), a bounded body, fallback waitingroom",
						rfo, rfo.Errors)
				}
			}
			if got := slices.Contains(r.Middlewares, errorsMiddleware); got != c.errorsMiddleware {
				t.Errorf("errors middleware attached = %v, want %v", got, c.errorsMiddleware)
			}
			if _, got := cfg.HTTP.Middlewares[errorsMiddleware]; got != c.errorsMiddleware {
				t.Errorf("errors middleware defined = %v, want %v", got, c.errorsMiddleware)
			}
		})
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	ok := Options{WaitingroomURL: "http://127.0.0.1:8080"}
	cases := []struct {
		name   string
		mutate func(*Options)
		routes []Route
		want   string
	}{
		{"no waitingroom url", func(o *Options) { o.WaitingroomURL = "" }, nil, "waitingroom_url is empty"},
		{"relative waitingroom url", func(o *Options) { o.WaitingroomURL = "127.0.0.1:8080" }, nil, "waitingroom_url"},
		{"unknown fallback", func(o *Options) { o.Fallback = "retry" }, nil, `fallback "retry"`},
		{"timeout not below interval", func(o *Options) { o.HealthCheckTimeout = 5 * time.Second }, nil, "must be shorter"},
		{"negative dial timeout", func(o *Options) { o.DialTimeout = -time.Second }, nil, "dial_timeout"},
		{"duplicate host", func(*Options) {}, []Route{{Host: "a.com", BackendURL: "http://a"}, {Host: "a.com", BackendURL: "http://a"}}, "listed twice"},
		{"bad backend", func(*Options) {}, []Route{{Host: "a.com", BackendURL: "a:80"}}, "backend url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := ok
			c.mutate(&o)
			_, err := Generate(o, c.routes, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestDefaultWaitingroomURL(t *testing.T) {
	for listen, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080",
		"0.0.0.0:8080":   "http://127.0.0.1:8080",
		"10.0.0.5:80":    "http://10.0.0.5:80",
		"[::]:8080":      "http://[::1]:8080",
		"waitingroom:80": "http://waitingroom:80",
	} {
		got, err := DefaultWaitingroomURL(listen)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", listen, got, err, want)
		}
	}
	if _, err := DefaultWaitingroomURL("8080"); err == nil {
		t.Error("a listen address without a colon was accepted")
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5s", time.Minute: "1m", 90 * time.Second: "1m30s",
		time.Hour: "1h", 500 * time.Millisecond: "500ms", time.Hour + time.Second: "1h0m1s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("%v: got %q, want %q", d, got, want)
		}
	}
}

func routesEqual(a, b Route) bool {
	return a.Host == b.Host && a.BackendURL == b.BackendURL && a.HealthPath == b.HealthPath &&
		a.HealthScheme == b.HealthScheme && a.HealthPort == b.HealthPort &&
		slices.Equal(a.EntryPoints, b.EntryPoints) && a.CertResolver == b.CertResolver &&
		slices.Equal(a.Middlewares, b.Middlewares)
}

func TestRouteLiveURLFillsAddresses(t *testing.T) {
	r := Route{Host: "vm.example.com", BackendURL: "http://{internal_ip}:8080"}
	if u, ok := r.LiveURL(controller.Status{InternalIP: "10.0.0.7"}); !ok || u != "http://10.0.0.7:8080" {
		t.Errorf("with an address: %q, %v", u, ok)
	}
	if u, ok := r.LiveURL(controller.Status{ExternalIP: "34.1.2.3"}); ok {
		t.Errorf("without the internal address: %q, %v; want not ok", u, ok)
	}
	static := Route{Host: "app.example.com", BackendURL: "http://app:80"}
	if u, ok := static.LiveURL(controller.Status{}); !ok || u != "http://app:80" {
		t.Errorf("a URL without placeholders: %q, %v", u, ok)
	}
}
