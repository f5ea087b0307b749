package config

import (
	"errors"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers/docker"
	"github.com/waitingroom/waitingroom/providers/exec"
	"github.com/waitingroom/waitingroom/providers/gce"
	"github.com/waitingroom/waitingroom/providers/kinds"
	"github.com/waitingroom/waitingroom/web"
)

func mustParse(t *testing.T, data string) *Config {
	t.Helper()
	cfg, err := Parse("config.yaml", []byte(data), kinds.All())
	if err != nil {
		t.Fatalf("Parse: %v\nfile:\n%s", err, data)
	}
	return cfg
}

// TestExampleConfig: the example of DESIGN.md (testdata/example.yaml) is
// valid and means what it says.
func TestExampleConfig(t *testing.T) {
	cfg, err := Load("testdata/example.yaml", kinds.All())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	f := cfg.File
	if f.Listen != ":8080" || f.Admin.Listen != "127.0.0.1:8081" || f.Store.RedisURL != "" {
		t.Errorf("listeners/store: %q %q %q", f.Listen, f.Admin.Listen, f.Store.RedisURL)
	}
	if !reflect.DeepEqual(f.TrustedProxies, []string{"127.0.0.1/32"}) {
		t.Errorf("trusted_proxies = %v, want the file's list, not the default", f.TrustedProxies)
	}
	if got := slices.Sorted(maps.Keys(f.Providers)); !reflect.DeepEqual(got, []string{"docker", "exec", "gce"}) {
		t.Errorf("providers = %v", got)
	}
	hosts := cfg.Hosts()
	if len(hosts) != 3 {
		t.Fatalf("%d hosts, want 3", len(hosts))
	}
	legacy := hosts[2]
	if legacy.Name != "legacy.example.com" || legacy.IdleTimeout != 10*time.Minute || legacy.MaxWakesPerDay != 20 {
		t.Errorf("legacy host: %+v", legacy)
	}
	if cfg.Path != "testdata/example.yaml" || cfg.LoadedAt.IsZero() || len(cfg.Digest) != 64 {
		t.Errorf("Path %q LoadedAt %v Digest %q", cfg.Path, cfg.LoadedAt, cfg.Digest)
	}
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, lines(
		"providers:",
		"  gce: {project: proj}",
		"  docker: {}",
		"  exec: {}",
		"budgets: {max_wakes_per_day: 7}",
		"hosts:",
		"  - {host: vm.example.com, provider: gce, instance: i, zone: z, ready_url: 'http://user:pw@{internal_ip}:8080/healthz'}",
		"  - {host: c.example.com, provider: docker, container: c, max_wakes_per_day: 0}",
		"  - {host: x.example.com, provider: exec, start: [a], stop: [b]}",
	))
	f := cfg.File
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", f.Listen, ":8080"},
		{"admin.listen", f.Admin.Listen, "127.0.0.1:8081"},
		{"defaults.idle_timeout", f.Defaults.IdleTimeout.D(), 30 * time.Minute},
		{"defaults.start_timeout", f.Defaults.StartTimeout.D(), 5 * time.Minute},
		{"defaults.hold_timeout", f.Defaults.HoldTimeout.D(), 60 * time.Second},
		{"defaults.wait", f.Defaults.Wait, "auto"},
		{"scheduler.sweep_interval", f.Scheduler.SweepInterval.D(), time.Minute},
		{"scheduler.reconcile_interval", f.Scheduler.ReconcileInterval.D(), time.Minute},
		{"trusted_proxies", f.TrustedProxies, []string{"127.0.0.1/32", "::1/128"}},
		{"traefik.waitingroom_url", f.Traefik.WaitingroomURL, "http://127.0.0.1:8080"},
		{"traefik.fallback", f.Traefik.Fallback, "failover-errors"},
		{"traefik.health_check_interval", f.Traefik.HealthCheckInterval.D(), 3 * time.Second},
		{"traefik.health_check_timeout", f.Traefik.HealthCheckTimeout.D(), 2 * time.Second},
		{"traefik.dial_timeout", f.Traefik.DialTimeout.D(), 2 * time.Second},
		{"traefik.unhealthy_interval", f.Traefik.UnhealthyInterval.D(), 10 * time.Second},
		{"traefik.max_request_body_bytes", f.Traefik.MaxRequestBodyBytes, 1 << 20},
		{"traefik.metrics_interval", f.Traefik.MetricsInterval.D(), 15 * time.Second},
		{"limits", f.Limits, Limits{MaxHeaderBytes: 16 << 10, MaxHostLength: 253, MaxURLLength: 8 << 10}},
		{"budgets.honeypot_block", f.Budgets.HoneypotBlock.D(), 24 * time.Hour},
		{"monitors.status", f.Monitors.Status, 200},
		{"monitors.body", f.Monitors.Body, "sleeping"},
		{"hold: 64 MiB of bodies at most", f.Hold, Hold{MaxPerHost: 64, MaxTotal: 256, MaxBodyBytes: 256 << 10, MaxForwardPerHost: 64}},
		{"budgets on by default (the file sets the daily one)", f.Budgets, Budgets{MaxWakesPerDay: 7, MaxWakesPerHour: 6, ClientWakesPerHour: 30, PrefixWakesPerHour: 120,
			MaxConcurrentStarts: 10, HoneypotBlock: Duration(24 * time.Hour)}},
		{"provider type from name", f.Providers["gce"].Type, "gce"},
		{"provider sleep", f.Providers["docker"].Sleep, "stop"},
		{"provider adopt", *f.Providers["exec"].Adopt, true},
		{"docker stop_timeout", f.Providers["docker"].Settings.(*docker.Settings).StopTimeout, 10 * time.Second},
		{"exec timeout", f.Providers["exec"].Settings.(*exec.Settings).Timeout, time.Minute},
		{"host idle_timeout", f.Hosts[0].IdleTimeout.D(), 30 * time.Minute},
		{"host start_timeout", f.Hosts[0].StartTimeout.D(), 5 * time.Minute},
		{"host hold_timeout", f.Hosts[0].HoldTimeout.D(), time.Minute},
		{"host wait", f.Hosts[0].Wait, "auto"},
		{"host wake", f.Hosts[0].Wake, "auto"},
		{"host sleep from provider", f.Hosts[0].Sleep, "stop"},
		{"host project from provider", f.Hosts[0].Target.(*gce.Target).Project, "proj"},
		{"host url from ready_url, without credentials", f.Hosts[0].URL, "http://{internal_ip}:8080"},
		{"host timezone", f.Hosts[0].TimeZone, "UTC"},
		{"host budget from budgets", f.Hosts[0].MaxWakesPerDay, 7},
		{"explicit 0 lifts the budget", f.Hosts[1].MaxWakesPerDay, 0},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestDefaultsRespectExplicitValues(t *testing.T) {
	cfg := mustParse(t, lines(
		"listen: '0.0.0.0:9000'",
		"trusted_proxies: []",
		"defaults: {idle_timeout: 10m, wait: page}",
		"monitors: {body: ''}",
		"providers:",
		"  box: {type: docker, sleep: pause, adopt: false, stop_timeout: 0s}",
		"hosts:",
		"  - {host: a.example.com, provider: box, container: a, sleep: stop, wait: hold, wake: click, url: 'https://a.internal/'}",
		"  - {host: b.example.com, provider: box, container: b}",
	))
	f := cfg.File
	if len(f.TrustedProxies) != 0 {
		t.Errorf("trusted_proxies: [] became %v; an explicit empty list trusts nobody", f.TrustedProxies)
	}
	if f.Traefik.WaitingroomURL != "http://127.0.0.1:9000" {
		t.Errorf("waitingroom_url = %q", f.Traefik.WaitingroomURL)
	}
	if f.Monitors.Body != "" {
		t.Errorf("monitors.body = %q, want the explicit empty body", f.Monitors.Body)
	}
	p := f.Providers["box"]
	if p.Type != "docker" || p.Sleep != "pause" || *p.Adopt || p.Settings.(*docker.Settings).StopTimeout != 0 {
		t.Errorf("provider box = %+v", p)
	}
	a, b := f.Hosts[0], f.Hosts[1]
	if a.Sleep != "stop" || a.Wait != "hold" || a.Wake != "click" || a.URL != "https://a.internal/" || a.IdleTimeout.D() != 10*time.Minute {
		t.Errorf("host a = %+v", a)
	}
	if b.Sleep != "pause" || b.Wait != "page" {
		t.Errorf("host b: sleep %q wait %q, want the provider's pause and the defaults' page", b.Sleep, b.Wait)
	}
}

func TestHosts(t *testing.T) {
	cfg := mustParse(t, lines(
		"defaults: {hold_timeout: 20s}",
		"providers:",
		"  docker: {sleep: pause}",
		"  cloud: {type: gce, project: default-proj, sleep: suspend}",
		"  exec: {}",
		"hosts:",
		"  - host: App.Example.com.",
		"    provider: docker",
		"    container: app",
		"    ready_url: http://app:80/",
		"    entry_points: [websecure]",
		"    cert_resolver: le",
		"    middlewares: [auth@file]",
		"    warm: ['0 9 * * 1-5 for 9h']",
		"    timezone: Europe/Berlin",
		"    keep_awake_while: http://app:80/busy",
		"    touch_token_env: APP_TOUCH",
		"  - host: vm.example.com",
		"    provider: cloud",
		"    instance: web-1",
		"    zone: europe-west1-b",
		"    sleep: stop",
		"    hold_timeout: 90s",
		"  - host: other.example.com",
		"    provider: cloud",
		"    instance: web-2",
		"    zone: z",
		"    project: own-proj",
		"    price: {running: 0.19, suspended: 0.02, currency: EUR}",
		"  - host: legacy.example.com",
		"    provider: exec",
		"    start: [systemctl, start, legacy]",
		"    stop: [systemctl, stop, legacy]",
		"    status: [systemctl, is-active, legacy]",
		"    idle_timeout: 10m",
		"    start_timeout: 1m",
		"    wait: hold",
		"    wake: click",
		"    max_wakes_per_day: 20",
		"    max_wakes_per_hour: 3",
	))
	hosts := cfg.Hosts()
	want := []controller.Host{
		{
			Name: "app.example.com", Provider: "docker",
			Target: controller.Target{Host: "app.example.com", Provider: "docker", Sleep: "pause",
				Backend: docker.Target{Container: "app"}},
			ReadyURL: "http://app:80/", IdleTimeout: 30 * time.Minute, StartTimeout: 5 * time.Minute,
			Wait: "auto", WakeMode: "auto", Origin: "file", MaxWakesPerDay: 48, MaxWakesPerHour: 6,
			Extra: map[string]any{
				ExtraTraefik: TraefikOptions{URL: "http://app:80", EntryPoints: []string{"websecure"}, CertResolver: "le", Middlewares: []string{"auth@file"}},
				ExtraActivity: ActivityOptions{Warm: []string{"0 9 * * 1-5 for 9h"}, TimeZone: "Europe/Berlin",
					KeepAwakeWhile: "http://app:80/busy", TouchTokenEnv: "APP_TOUCH"},
				ExtraHoldTimeout: 20 * time.Second,
			},
		},
		{
			Name: "vm.example.com", Provider: "cloud",
			Target: controller.Target{Host: "vm.example.com", Provider: "cloud", Sleep: "stop",
				Backend: gce.Target{Instance: "web-1", Zone: "europe-west1-b", Project: "default-proj"}},
			IdleTimeout: 30 * time.Minute, StartTimeout: 5 * time.Minute, Wait: "auto", WakeMode: "auto", Origin: "file",
			MaxWakesPerDay: 48, MaxWakesPerHour: 6,
			Extra: map[string]any{
				ExtraTraefik:     TraefikOptions{},
				ExtraActivity:    ActivityOptions{TimeZone: "UTC"},
				ExtraHoldTimeout: 90 * time.Second,
			},
		},
		{
			Name: "other.example.com", Provider: "cloud",
			Target: controller.Target{Host: "other.example.com", Provider: "cloud", Sleep: "suspend",
				Backend: gce.Target{Instance: "web-2", Zone: "z", Project: "own-proj"}},
			IdleTimeout: 30 * time.Minute, StartTimeout: 5 * time.Minute, Wait: "auto", WakeMode: "auto", Origin: "file",
			MaxWakesPerDay: 48, MaxWakesPerHour: 6, Price: controller.Price{Running: 0.19, Suspended: 0.02, Currency: "EUR"},
			Extra: map[string]any{
				ExtraTraefik:     TraefikOptions{},
				ExtraActivity:    ActivityOptions{TimeZone: "UTC"},
				ExtraHoldTimeout: 20 * time.Second,
			},
		},
		{
			Name: "legacy.example.com", Provider: "exec",
			Target: controller.Target{Host: "legacy.example.com", Provider: "exec", Sleep: "stop",
				Backend: exec.Target{
					Start:  []string{"systemctl", "start", "legacy"},
					Stop:   []string{"systemctl", "stop", "legacy"},
					Status: []string{"systemctl", "is-active", "legacy"},
				}},
			IdleTimeout: 10 * time.Minute, StartTimeout: time.Minute, Wait: "hold", WakeMode: "click",
			MaxWakesPerDay: 20, MaxWakesPerHour: 3, Origin: "file",
			Extra: map[string]any{
				ExtraTraefik:     TraefikOptions{},
				ExtraActivity:    ActivityOptions{TimeZone: "UTC"},
				ExtraHoldTimeout: 20 * time.Second,
			},
		},
	}
	if len(hosts) != len(want) {
		t.Fatalf("%d hosts, want %d", len(hosts), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(hosts[i], want[i]) {
			t.Errorf("host %d:\n got %#v\nwant %#v", i, hosts[i], want[i])
		}
	}
	if got := TraefikOf(hosts[0]).CertResolver; got != "le" {
		t.Errorf("TraefikOf: cert resolver %q", got)
	}
	if got := ActivityOf(hosts[0]).TimeZone; got != "Europe/Berlin" {
		t.Errorf("ActivityOf: timezone %q", got)
	}
	if got := HoldTimeoutOf(hosts[1]); got != 90*time.Second {
		t.Errorf("HoldTimeoutOf = %s", got)
	}
	if got := HoldTimeoutOf(controller.Host{}); got != DefaultHoldTimeout {
		t.Errorf("HoldTimeoutOf a host without it = %s, want the default", got)
	}

	// The hosts are copies: changing them leaves the configuration alone.
	hosts[3].Target.Backend.(exec.Target).Start[0] = "rm"
	if cfg.Hosts()[3].Target.Backend.(exec.Target).Start[0] != "systemctl" {
		t.Error("changing a returned host's argv changed the configuration")
	}
}

func TestRedacted(t *testing.T) {
	const hash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	cfg := mustParse(t, lines(
		"admin:",
		"  users: [{name: alice, password_hash: '"+hash+"'}]",
		"  tokens: [{name: ci, env: CI_TOKEN}, {name: deploy, file: /run/secrets/deploy}]",
		"store: {redis_url: 'redis://default:s3cret@redis:6379/0'}",
		"webhooks:",
		"  - url: https://hooks.slack.com/services/T000/B000/XXXXSECRET",
		"  - url: https://example.com/",
		"providers: {exec: {}}",
		"hosts:",
		"  - {host: a.example.com, provider: exec, start: [a], stop: [b], ready_url: 'http://probe:pw@a:80/'}",
		"  - {host: b.example.com, provider: exec, start: [backup, --password, hunter2, '--key=k3y'], stop: [b], ready_url: 'http://b:80/ready?token=t0ken'}",
	))
	r := cfg.Redacted()
	if r.Admin.Users[0].PasswordHash != RedactedValue {
		t.Errorf("password hash shown: %q", r.Admin.Users[0].PasswordHash)
	}
	if r.Admin.Tokens[0].Env != "CI_TOKEN" || r.Admin.Tokens[1].File != "/run/secrets/deploy" {
		t.Errorf("token sources should be shown: %+v", r.Admin.Tokens)
	}
	if r.Store.RedisURL != "redis://default:REDACTED@redis:6379/0" {
		t.Errorf("redis url = %q", r.Store.RedisURL)
	}
	if r.Webhooks[0].URL != "https://hooks.slack.com/REDACTED" || r.Webhooks[1].URL != "https://example.com/" {
		t.Errorf("webhooks = %q, %q", r.Webhooks[0].URL, r.Webhooks[1].URL)
	}
	if r.Hosts[0].ReadyURL != "http://probe:REDACTED@a:80/" {
		t.Errorf("ready_url = %q", r.Hosts[0].ReadyURL)
	}
	if cfg.File.Admin.Users[0].PasswordHash != hash || !strings.Contains(cfg.File.Store.RedisURL, "s3cret") {
		t.Error("Redacted changed the configuration itself")
	}
	out, err := cfg.RedactedYAML()
	if err != nil {
		t.Fatal(err)
	}
	if r.Hosts[1].ReadyURL != "http://b:80/ready?token=REDACTED" || strings.Join(r.Hosts[1].Target.(*exec.Target).Start, " ") != "backup --password REDACTED --key=REDACTED" {
		t.Errorf("host b: ready_url %q, start %q", r.Hosts[1].ReadyURL, r.Hosts[1].Target.(*exec.Target).Start)
	}
	for _, secret := range []string{hash, "s3cret", "XXXXSECRET", ":pw@", "hunter2", "k3y", "t0ken"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("RedactedYAML shows %q:\n%s", secret, out)
		}
	}
}

// TestRedactedYAMLParsesBack: the displayed configuration is a valid file
// meaning the same thing, so an operator can copy it.
func TestRedactedYAMLParsesBack(t *testing.T) {
	for _, data := range []string{
		mustRead(t, "testdata/example.yaml"),
		lines(
			"trusted_proxies: []",
			"providers:",
			"  box: {type: docker, sleep: pause, stop_timeout: 0s, labels: true}",
			"  g: {type: gce, project: p, endpoint: 'http://127.0.0.1:1/'}",
			"hosts:",
			"  - {host: a.example.com, provider: box, container: a, warm: ['0 9 * * * for 1h'], max_wakes_per_day: 0}",
			"  - {host: b.example.com, provider: g, instance: i, zone: z, sleep: suspend}",
			"budgets: {max_wakes_per_day: 5}",
			"webhooks: [{url: 'https://example.com/', events: [running]}]"),
	} {
		cfg := mustParse(t, data)
		out, err := cfg.RedactedYAML()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse("redacted.yaml", out, kinds.All())
		if err != nil {
			t.Fatalf("RedactedYAML does not parse back: %v\n%s", err, out)
		}
		if !sameFile(again.File, cfg.File) {
			t.Errorf("RedactedYAML parses back to a different configuration:\n%s\n got %+v\nwant %+v", out, again.File, cfg.File)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
	}
	for in, want := range map[string]time.Duration{"30m": 30 * time.Minute, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond, "0": 0, "~": 0} {
		if err := yaml.Unmarshal([]byte("d: "+in), &v); err != nil || v.D.D() != want {
			t.Errorf("unmarshal %q = %s, %v; want %s", in, v.D.D(), err, want)
		}
	}
	for _, in := range []string{"30", "5x", "-1m", "[1m]", "1d"} {
		err := yaml.Unmarshal([]byte("\n\nd: "+in), &v)
		if err == nil || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("unmarshal %q: %v, want an error naming line 3", in, err)
		}
	}
	for d, want := range map[time.Duration]string{30 * time.Minute: "30m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 0: "0s", 250 * time.Millisecond: "250ms"} {
		out, err := yaml.Marshal(Duration(d))
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("marshal %s = %q, %v; want %q", d, out, err, want)
		}
	}
}

func TestErrorsFormat(t *testing.T) {
	errs := &Errors{List: []Error{
		{File: "c.yaml", Line: 3, Msg: "a"},
		{File: "c.yaml", Msg: "b"},
	}}
	if got, want := errs.Error(), "c.yaml:3: a\nc.yaml: b"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var one Error
	if !errors.As(error(errs), &one) || one.Msg != "a" {
		t.Errorf("errors.As(Error) = %+v", one)
	}
}

// TestTooManyProblems: a file of nothing but mistakes gets a bounded
// report, ending with how many more there are.
func TestTooManyProblems(t *testing.T) {
	var b strings.Builder
	for i := range 500 {
		b.WriteString("unknown_" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "_" + strconv.Itoa(i) + ": 1\n")
	}
	got := problemsOf(t, b.String())
	if len(got) != maxErrors+1 {
		t.Fatalf("%d problems reported, want %d and a summary", len(got), maxErrors)
	}
	if last := got[len(got)-1]; last != "config.yaml: 300 more problems not shown; fix the ones above first" {
		t.Errorf("last line %q", last)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Each budget is on by default; 0 in the file turns it off.
func TestBudgetsOnByDefaultOffWithZero(t *testing.T) {
	cfg := mustParse(t, lines("budgets: {max_wakes_per_hour: 0, client_wakes_per_hour: 5}"))
	want := Budgets{MaxWakesPerDay: 48, MaxWakesPerHour: 0, ClientWakesPerHour: 5, PrefixWakesPerHour: 120, MaxConcurrentStarts: 10,
		HoneypotBlock: Duration(24 * time.Hour)}
	if cfg.File.Budgets != want {
		t.Errorf("budgets = %+v, want %+v", cfg.File.Budgets, want)
	}
}

// The sentinel section is shown (where the password is read from, not the
// password), the data password in redis_url is not, and the redacted YAML
// parses back to the same store settings.
func TestRedactedSentinel(t *testing.T) {
	cfg := mustParse(t, lines(
		"store:",
		"  redis_url: 'rediss://app:s3cret@mymaster/2'",
		"  sentinel: {master: mymaster, addrs: ['10.0.0.1:26379', '10.0.0.2:26379'], username: app, password_file: /run/secrets/sentinel}",
	))
	r := cfg.Redacted()
	if r.Store.RedisURL != "rediss://app:REDACTED@mymaster/2" {
		t.Errorf("redis url = %q", r.Store.RedisURL)
	}
	r.Store.Sentinel.Addrs[0] = "changed"
	if cfg.File.Store.Sentinel.Addrs[0] != "10.0.0.1:26379" {
		t.Error("Redacted shares the sentinel addresses with the configuration")
	}
	out, err := cfg.RedactedYAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cret") {
		t.Errorf("RedactedYAML shows the password:\n%s", out)
	}
	back := mustParse(t, string(out))
	if got, want := back.File.Store.Sentinel, cfg.File.Store.Sentinel; got.Master != want.Master || strings.Join(got.Addrs, ",") != strings.Join(want.Addrs, ",") || got.PasswordFile != want.PasswordFile || got.Username != want.Username {
		t.Errorf("round trip: %+v; want %+v\n%s", got, want, out)
	}
}

func TestBrandsAreTheHostsPages(t *testing.T) {
	cfg, err := Parse("config.yaml", []byte(providersBlock+lines(
		"  - host: shop.example.com",
		"    provider: docker",
		"    container: shop",
		"    page: {name: Example Shop, logo_url: /logo.svg, accent: '#c0ffee', background: '#fff', template: shop.html, status: 200}",
		"  - host: plain.example.com",
		"    provider: docker",
		"    container: plain")), kinds.All())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]web.BrandOptions{"shop.example.com": {
		Name: "Example Shop", LogoURL: "/logo.svg", Accent: "#c0ffee", Background: "#fff", Template: "shop.html", Status: 200,
	}}
	if got := cfg.Brands(); !reflect.DeepEqual(got, want) {
		t.Errorf("Brands() = %+v, want %+v (a host without page: has none)", got, want)
	}
}
