package traefik

import (
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// registry is a set of hosts exercising every per-host option: a backend
// derived from ready_url, a VM whose address comes from live status, a
// ready_url on another port and scheme, per-host entry points, resolver and
// middlewares, and names that collide once sanitised.
func registry(t testing.TB) []Route {
	t.Helper()
	type spec struct {
		host  controller.Host
		url   string
		tweak func(*Route)
	}
	specs := []spec{
		{host: controller.Host{Name: "app.example.com", ReadyURL: "http://app:80/healthz"}},
		{host: controller.Host{Name: "vm.example.com", ReadyURL: "http://{internal_ip}:8080/healthz?full=1&x=2"}},
		{host: controller.Host{Name: "asleep.example.com", ReadyURL: "http://{internal_ip}:8080/"}},
		{host: controller.Host{Name: "legacy.example.com", ReadyURL: "https://127.0.0.1:9443/ready"}, url: "http://127.0.0.1:9000"},
		{host: controller.Host{Name: "noready.example.com"}, url: "http://noready:3000"},
		{host: controller.Host{Name: "secure.example.com", ReadyURL: "http://secure:80/"}, tweak: func(r *Route) {
			r.EntryPoints = []string{"websecure"}
			r.CertResolver = "letsencrypt"
			r.Middlewares = []string{"auth@file", "compress"}
		}},
		{host: controller.Host{Name: "a-b.example.com", ReadyURL: "http://ab1:80/"}},
		{host: controller.Host{Name: "a.b-example.com", ReadyURL: "http://ab2:80/"}},
		{host: controller.Host{Name: "waitingroom", ReadyURL: "http://wr:80/"}},
	}
	routes := make([]Route, 0, len(specs))
	for _, s := range specs {
		r, err := NewRoute(s.host, s.url)
		if err != nil {
			t.Fatalf("NewRoute(%s): %v", s.host.Name, err)
		}
		if s.tweak != nil {
			s.tweak(&r)
		}
		routes = append(routes, r)
	}
	return routes
}

// liveVM fills vm.example.com's address, as a GCE provider's status would;
// asleep.example.com has none yet.
func liveVM(host string) (string, bool) {
	if host == "vm.example.com" {
		return "http://10.0.0.7:8080", true
	}
	return "", false
}

type scenario struct {
	name string
	opts Options
}

// scenarios exercise every option and every fallback mode; each has a
// golden file testdata/<name>.golden.
func scenarios() []scenario {
	return []scenario{
		{"defaults", Options{WaitingroomURL: "http://127.0.0.1:8080"}},
		{"failover-errors-all-options", Options{
			WaitingroomURL:      "http://waitingroom:8080",
			EntryPoints:         []string{"web", "websecure"},
			Fallback:            FallbackFailoverErrors,
			HealthCheckInterval: 10 * time.Second,
			HealthCheckTimeout:  2 * time.Second,
			UnhealthyInterval:   500 * time.Millisecond,
			DialTimeout:         1500 * time.Millisecond,
			CertResolver:        "default-resolver",
			Middlewares:         []string{"secure-headers@file", "auth@file"},
			MaxRequestBodyBytes: 1 << 20,
			ForwardAuth:         true,
		}},
		{"errors-middleware", Options{
			WaitingroomURL: "http://waitingroom:8080/",
			EntryPoints:    []string{"web"},
			Fallback:       FallbackErrorsMiddleware,
			Middlewares:    []string{"compress"},
			ForwardAuth:    true,
		}},
		{"health-check-only", Options{
			WaitingroomURL:      "http://127.0.0.1:8080",
			Fallback:            FallbackHealthCheckOnly,
			HealthCheckInterval: time.Minute + 30*time.Second,
			HealthCheckTimeout:  time.Minute,
		}},
	}
}

func generate(t testing.TB, s scenario) Config {
	t.Helper()
	cfg, err := Generate(s.opts, registry(t), liveVM)
	if err != nil {
		t.Fatalf("Generate(%s): %v", s.name, err)
	}
	return cfg
}
