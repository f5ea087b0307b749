package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/waitingroom/waitingroom/internal/testutil/browser"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/traefiktest"
	"github.com/waitingroom/waitingroom/traefik"
)

// traefikToken is the bearer token Traefik's HTTP provider sends to
// waitingroom's /api/traefik in these tests.
const traefikToken = "e2e-traefik-provider-token-0123456789"

// traefikFront is waitingroom behind a real Traefik v3.7, configured by
// waitingroom's own generated configuration.
type traefikFront struct {
	w  *proc.Waitingroom
	tr *traefiktest.Traefik
	// backends names each host router's backend service (without the
	// provider's "@…"), as the generated configuration does.
	backends map[string]string
}

// frontOptions shape startTraefikFront.
type frontOptions struct {
	provider string // "file" (waitingroom traefik > file) or "http" (/api/traefik with the token)
	extra    string // more YAML for waitingroom's top level
	hosts    []*demoHost
	// forwardAuth makes Traefik's forwardAuth touch of every request the
	// activity source, instead of Traefik's metrics.
	forwardAuth bool
}

// startTraefikFront starts waitingroom with the hosts, then Traefik in
// front of it, reading the generated configuration through the file
// provider or the HTTP provider with a bearer token, and waits until
// Traefik runs every host's routers. Traefik's metrics (polled every
// second) are waitingroom's activity source.
func startTraefikFront(t testing.TB, o frontOptions) *traefikFront {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "traefik-token")
	if err := os.WriteFile(tokenFile, []byte(traefikToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiPort := proc.FreePort(t)
	cfg := fmt.Sprintf(`listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
  tokens: [{name: traefik, file: %q}]
scheduler:
  sweep_interval: 500ms
  reconcile_interval: 2s
providers:
  exec: {}
traefik:
`, tokenFile)
	if o.forwardAuth {
		cfg += "  forward_auth: true\n"
	} else {
		cfg += fmt.Sprintf("  metrics_url: http://127.0.0.1:%d/metrics\n  metrics_interval: 1s\n", apiPort)
	}
	cfg += o.extra + "hosts:"
	var hosts []string
	for _, d := range o.hosts {
		cfg += d.yaml()
		hosts = append(hosts, d.name)
	}
	var routers []string
	backends := map[string]string{}
	for _, n := range traefik.NamesFor(hosts) {
		routers = append(routers, n.Router, n.ReadRouter)
		backends[n.Router], backends[n.ReadRouter] = n.Backend, n.Backend
	}
	w := proc.StartWaitingroom(t, bins, dir, cfg)
	to := traefiktest.Options{APIPort: apiPort}
	switch o.provider {
	case "file":
		out, err := exec.Command(bins.Waitingroom, "traefik", "--config", w.Config).CombinedOutput()
		if err != nil {
			t.Fatalf("waitingroom traefik: %v\n%s", err, out)
		}
		to.File = string(out)
	case "http":
		to.HTTPEndpoint, to.HTTPToken = w.Admin+"/api/traefik", traefikToken
	default:
		t.Fatalf("provider %q", o.provider)
	}
	tr := traefiktest.Start(t, to)
	tr.WaitRouters(t, 20*time.Second, routers...)
	for _, d := range o.hosts {
		proc.Eventually(t, 10*time.Second, func() bool { return status(t, w, d.name) == "stopped" },
			"reconcile never found %s stopped", d.name)
	}
	return &traefikFront{w: w, tr: tr, backends: backends}
}

// get sends one request for host through Traefik.
func (f *traefikFront) do(ctx context.Context, method, host, path string, body io.Reader, header ...string) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+f.tr.Addr+path, body)
	if err != nil {
		return 0, nil, "", err
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// checkStatuses reads Traefik's access log — every answer a client got —
// and fails the test for any 5xx waitingroom did not send on purpose: the
// only 5xx allowed is waitingroom's own 503 (its waiting page or state),
// and, where allowed lists them, answers the test provoked. It returns the
// count of each status.
func (f *traefikFront) checkStatuses(t testing.TB, allowed func(traefiktest.Access) bool) map[int]int {
	t.Helper()
	log, err := f.tr.AccessLog()
	if err != nil {
		t.Fatalf("traefik access log: %v", err)
	}
	counts := map[int]int{}
	failures, used := f.tr.HealthCheckFailures(), map[int]bool{}
	for _, a := range log {
		counts[a.Status]++
		if a.Status < 500 {
			continue
		}
		fromWaitingroom := strings.HasPrefix(a.Service, "waitingroom@") || strings.HasPrefix(a.Service, "waitingroom-untried@")
		if a.Status == http.StatusServiceUnavailable && fromWaitingroom {
			continue
		}
		if markedDown(a, failures, used, f.backends) {
			t.Logf("Traefik's own 503 for %s %s%s (router %s), as its health check marked the backend down: Traefik's race, see traefik/README.md",
				a.Method, a.Host, a.Path, a.Router)
			continue
		}
		if allowed != nil && allowed(a) {
			continue
		}
		t.Errorf("a client got %d for %s %s%s from %s (router %s): a 5xx waitingroom did not send",
			a.Status, a.Method, a.Host, a.Path, a.Service, a.Router)
	}
	t.Logf("statuses clients got through Traefik: %v (%d requests)", counts, len(log))
	return counts
}

// markedDown tells whether a is Traefik's own 503 from a host's failover
// in the moment its health check marks the backend down. The failover reads
// its backend's status, then asks the backend's load balancer for a server;
// a check that fails in between leaves the balancer no server, and it
// answers 503 "no available server" itself (no service in the access log),
// a status the failover does not replay (503 is an app's own answer).
// Traefik logs failed checks to the second, so a 503 counts as this race
// only from a second before to two seconds after the logged second of a
// failed check of that router's backend, and each failed check excuses one
// 503 at most (used records which were taken). backends maps router names
// to their backend services (traefikFront.backends).
func markedDown(a traefiktest.Access, failures []traefiktest.HealthCheckFailure, used map[int]bool, backends map[string]string) bool {
	if a.Status != http.StatusServiceUnavailable || a.Service != "" || a.ServiceURL != "" {
		return false
	}
	name, provider, ok := strings.Cut(a.Router, "@")
	if !ok || backends[name] == "" {
		return false
	}
	backend := backends[name] + "@" + provider
	for i, hc := range failures {
		if !used[i] && hc.Service == backend && !a.Start.Before(hc.At.Add(-time.Second)) && a.Start.Before(hc.At.Add(2*time.Second)) {
			used[i] = true
			return true
		}
	}
	return false
}

// The journey of issue 14 through a real Traefik v3.7 and real Chromium:
// the waiting page, the wake, and the real site within moments of the
// backend being ready (the handoff: Traefik still holds the backend down
// until its next health check, and waitingroom forwards the page's reload);
// then traffic that keeps the backend awake, an idle stop, and a second
// wake. Every status any client got is counted from Traefik's access log.
func TestJourneyThroughTraefikAndBrowser(t *testing.T) {
	for _, provider := range []string{"file", "http"} {
		t.Run(provider, func(t *testing.T) {
			const (
				host = "app.test"
				// The ForwardAuth touch writes at most once per host per
				// 5 s: the idle timeout leaves room for that and a sweep.
				idle = 8 * time.Second
			)
			d := newDemoHost(t, host, 1500*time.Millisecond, idle.String())
			// Activity from Traefik's metrics (http) or its forwardAuth
			// touch of every request (file).
			f := startTraefikFront(t, frontOptions{provider: provider, hosts: []*demoHost{d}, forwardAuth: provider == "file"})
			b := browser.Start(t, browser.MapHosts(host))
			tab := b.NewTab(t)
			site := f.tr.URL(host) + "/"

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()

			first := visit(ctx, t, f.w, d, tab, site)
			if n := d.starts(); n != 1 {
				t.Fatalf("start command ran %d times, want 1", n)
			}
			t.Logf("first visit: backend ready → real site in the browser after %s", first.shown.Round(time.Millisecond))

			// Traffic through Traefik for longer than the idle timeout:
			// at first still handed over by waitingroom (Traefik marks the
			// backend up at its next check), then straight to the backend,
			// for long enough that the activity source sees it (a forwardAuth
			// touch is written at most every 5 s, metrics scraped every 1 s).
			backendSvc := strings.ReplaceAll(host, ".", "-") + "-backend@" + provider
			trafficFrom := time.Now()
			var upAt time.Time
			requests := 0
			for requests < 300 && time.Since(trafficFrom) < 45*time.Second &&
				(time.Since(trafficFrom) < idle+3*time.Second || upAt.IsZero() || time.Since(upAt) < 7*time.Second) {
				code, _, body, err := f.do(ctx, http.MethodGet, host, "/shop", nil, "Accept", "text/html")
				if err != nil {
					t.Fatalf("request %d through Traefik: %v", requests, err)
				}
				requests++
				if code != http.StatusOK || !strings.Contains(body, "Hello from "+host) {
					t.Fatalf("request %d after %s of traffic: %d %q; want the backend's page",
						requests, time.Since(trafficFrom).Round(time.Millisecond), code, body)
				}
				if s := status(t, f.w, host); s != "running" {
					t.Fatalf("host %s after %s of steady traffic, want running", s, time.Since(trafficFrom).Round(time.Millisecond))
				}
				if upAt.IsZero() {
					if st, err := f.tr.ServerStatus(backendSvc); err == nil && st[d.url()] == "UP" {
						upAt = time.Now()
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			if upAt.IsZero() {
				t.Fatalf("Traefik never marked the backend up during %s of traffic", time.Since(trafficFrom).Round(time.Millisecond))
			}
			t.Logf("%d requests over %s; Traefik marked the backend up %s into the traffic (waitingroom handed the requests over until then)",
				requests, time.Since(trafficFrom).Round(time.Millisecond), upAt.Sub(trafficFrom).Round(time.Millisecond))
			if n := d.starts(); n != 1 {
				t.Fatalf("start command ran %d times under traffic, want 1", n)
			}
			h := adminHost(t, f.w, host)
			wantSource := map[string]string{"file": "traefik-forwardauth", "http": "traefik-metrics"}[provider]
			if h.ActivitySource != wantSource || h.LastActivity.Before(upAt) {
				t.Errorf("after the traffic: activity %q at %s (Traefik routed to the backend from %s); want %s, since then",
					h.ActivitySource, h.LastActivity.Format(time.StampMilli), upAt.Format(time.StampMilli), wantSource)
			}

			// Quiet: the idle sweep stops the backend.
			proc.Eventually(t, idle+20*time.Second, func() bool { return status(t, f.w, host) == "stopped" },
				"host not stopped after its idle timeout")
			proc.Eventually(t, 10*time.Second, func() bool { return !d.processAlive() && !d.answering() },
				"backend process still alive after the idle stop")

			// Wake again, in the same browser.
			again := visit(ctx, t, f.w, d, tab, site)
			if n := d.starts(); n != 2 {
				t.Fatalf("start command ran %d times, want 2", n)
			}
			t.Logf("second visit: backend ready → real site after %s", again.shown.Round(time.Millisecond))
			f.checkStatuses(t, nil)
			if f.w.Exited() {
				t.Fatal("waitingroom exited")
			}
		})
	}
}

// BenchmarkJourneyThroughTraefik measures what a visitor waits for at the
// last step: from the backend answering its readiness check to Chromium
// showing the real site, through a real Traefik (HTTP provider, with its
// token) in front of waitingroom. Each iteration is one full wake of a
// sleeping backend (stopped through the admin API before the next).
// Reports p50, p95 and max in ms; run at least ten:
//
//	go test ./e2e -run '^$' -bench JourneyThroughTraefik -benchtime 10x
func BenchmarkJourneyThroughTraefik(b *testing.B) {
	const host = "app.test"
	d := newDemoHost(b, host, time.Second, "30m")
	f := startTraefikFront(b, frontOptions{provider: "http", hosts: []*demoHost{d}})
	br := browser.Start(b, browser.MapHosts(host))
	tab := br.NewTab(b)
	site := f.tr.URL(host) + "/"
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N+1)*time.Minute)
	defer cancel()

	var shown []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g := visit(ctx, b, f.w, d, tab, site)
		shown = append(shown, g.shown)
		b.StopTimer()
		f.stopHost(ctx, b, d)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(shown)
	pct := func(p float64) time.Duration {
		return shown[min(len(shown)-1, int(math.Ceil(p*float64(len(shown))))-1)]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(pct(0.5)), "p50-ms")
	b.ReportMetric(ms(pct(0.95)), "p95-ms")
	b.ReportMetric(ms(shown[len(shown)-1]), "max-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("backend ready → real site in Chromium over %d wakes: %v", len(shown), shown)
	f.checkStatuses(b, nil)
}

// stopHost stops the host through the admin API and waits until its
// backend is gone.
func (f *traefikFront) stopHost(ctx context.Context, tb testing.TB, d *demoHost) {
	tb.Helper()
	adminStop(ctx, tb, f.w, d.name)
	proc.Eventually(tb, 20*time.Second, func() bool { return status(tb, f.w, d.name) == "stopped" && !d.answering() },
		"%s not stopped", d.name)
}

// adminStop asks waitingroom's admin API to stop host.
func adminStop(ctx context.Context, tb testing.TB, w *proc.Waitingroom, host string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.Admin+"/api/hosts/"+host+"/stop", nil)
	if err != nil {
		tb.Fatal(err)
	}
	// The Traefik tests' token; an open admin listener ignores it.
	req.Header.Set("Authorization", "Bearer "+traefikToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("stop %s: %v", host, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		tb.Fatalf("stop %s: %d %s", host, resp.StatusCode, b)
	}
}

// The Traefik examples pass `waitingroom validate` and work together:
// Traefik's HTTP provider, with the token traefik/examples/traefik.yml
// sends, reads the configuration of a waitingroom serving
// traefik/examples/waitingroom.yml with the token
// docker-compose.traefik.yml gives it (addresses made local).
func TestTraefikExamplesWorkTogether(t *testing.T) {
	dir := filepath.Join("..", "traefik", "examples")
	if out, err := exec.Command(bins.Waitingroom, "validate", "--config", filepath.Join(dir, "waitingroom.yml")).CombinedOutput(); err != nil {
		t.Fatalf("waitingroom validate traefik/examples/waitingroom.yml: %v\n%s", err, out)
	}
	var static struct {
		Providers struct {
			HTTP struct {
				Headers map[string]string `yaml:"headers"`
			} `yaml:"http"`
		} `yaml:"providers"`
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join(dir, "traefik.yml"), &static)
	readYAML(t, filepath.Join(dir, "docker-compose.traefik.yml"), &compose)
	token := compose.Services["waitingroom"].Environment["WAITINGROOM_TRAEFIK_TOKEN"]
	header := static.Providers.HTTP.Headers["Authorization"]
	if token == "" || header != "Bearer "+token {
		t.Fatalf("traefik.yml sends Authorization %q, docker-compose.traefik.yml gives waitingroom the token %q: they must match", header, token)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "waitingroom.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(`listen: ":8080"`, `listen: "%PUBLIC%"`, `listen: ":8081"`, `listen: "%ADMIN%"`).Replace(string(raw))
	t.Setenv("WAITINGROOM_TRAEFIK_TOKEN", token)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	tr := traefiktest.Start(t, traefiktest.Options{HTTPEndpoint: w.Admin + "/api/traefik", HTTPToken: strings.TrimPrefix(header, "Bearer ")})
	tr.WaitRouters(t, 20*time.Second, "app-localhost", "app-localhost-read")
	// And without the token, the admin API refuses.
	resp, err := http.Get(w.Admin + "/api/traefik")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("/api/traefik without the token: %d, want 401 or 403", resp.StatusCode)
	}
}

func readYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
