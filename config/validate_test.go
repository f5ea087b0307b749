package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waitingroom/waitingroom/providers/kinds"
)

// lines joins YAML lines, so that a case's line numbers can be read off.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// providersBlock defines one provider of each type on lines 1-4; hosts
// start on line 6.
const providersBlock = "providers:\n  docker: {}\n  gce: {project: p}\n  exec: {}\nhosts:\n"

// problemsOf parses data as config.yaml and returns its problems, one
// string per problem as printed.
func problemsOf(t *testing.T, data string) []string {
	t.Helper()
	cfg, err := Parse("config.yaml", []byte(data), kinds.All())
	if err == nil {
		t.Fatalf("Parse accepted the file; want problems. File:\n%s", data)
	}
	if cfg != nil {
		t.Errorf("Parse returned a config together with an error")
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want *Errors: %v", err, err)
	}
	if got := err.Error(); got != strings.Join(errStrings(errs), "\n") {
		t.Errorf("Error() does not print one problem per line:\n%s", got)
	}
	return errStrings(errs)
}

func errStrings(errs *Errors) []string {
	var out []string
	for _, e := range errs.List {
		out = append(out, e.Error())
	}
	return out
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"undefined provider", providersBlock + lines(
			"  - host: app.example.com",
			"    provider: dockr",
			"    container: app"),
			[]string{`config.yaml:7: host "app.example.com" uses provider "dockr", which is not defined (defined: docker, exec, gce)`}},
		{"no providers at all", lines(
			"hosts:",
			"  - host: app.example.com",
			"    provider: docker",
			"    container: app"),
			[]string{`config.yaml:3: host "app.example.com" uses provider "docker", which is not defined (no providers are defined; add one under providers:)`}},
		{"missing provider", providersBlock + lines(
			"  - host: app.example.com",
			"    container: app"),
			[]string{`config.yaml:6: host "app.example.com" has no provider (defined: docker, exec, gce)`}},
		{"duplicate host", providersBlock + lines(
			"  - {host: app.example.com, provider: docker, container: a}",
			"  - {host: app.example.com, provider: docker, container: b}"),
			[]string{`config.yaml:7: host "app.example.com" is listed twice (first on line 6)`}},
		{"duplicate host after normalising", providersBlock + lines(
			"  - {host: app.example.com, provider: docker, container: a}",
			"  - {host: App.Example.COM., provider: docker, container: b}"),
			[]string{`config.yaml:7: host "App.Example.COM." is listed twice: it is the same as "app.example.com" (first on line 6)`}},
		{"missing host name", providersBlock + lines(
			"  - provider: docker",
			"    container: a"),
			[]string{`config.yaml:6: hosts item 1 has no host: (the hostname clients use, e.g. app.example.com)`}},
		{"invalid hostnames", providersBlock + lines(
			"  - {host: 10.0.0.1, provider: docker, container: a}",
			"  - {host: '*.example.com', provider: docker, container: a}",
			"  - {host: 'a b.com', provider: docker, container: a}",
			"  - {host: '[::1]', provider: docker, container: a}",
			"  - {host: "+strings.Repeat("a", 64)+".com, provider: docker, container: a}",
			"  - {host: bad_name.com, provider: docker, container: a}"),
			[]string{
				`config.yaml:6: host "10.0.0.1": IP addresses are not hostnames; register the name clients use`,
				`config.yaml:7: host "*.example.com": wildcards are not supported; register each hostname`,
				`config.yaml:8: host "a b.com": hostname contains a space`,
				`config.yaml:9: host "[::1]": IP addresses are not hostnames; register the name clients use`,
				`config.yaml:10: host "` + strings.Repeat("a", 64) + `.com": label "aaaaaaaaaaaaaaaaaaaa…" is 64 characters long; the limit is 63`,
				`config.yaml:11: host "bad_name.com": hostname contains "_"; only letters, digits, hyphens and dots are allowed`,
			}},
		{"unknown key with suggestion", providersBlock + lines(
			"  - host: app.example.com",
			"    provider: docker",
			"    contianer: app"),
			[]string{
				`config.yaml:6: host "app.example.com": docker hosts need container: (the container's name or ID)`,
				`config.yaml:8: unknown key "contianer" in host "app.example.com" (did you mean "container"?)`,
			}},
		{"unknown top-level keys", lines(
			"lisen: ':8080'",
			"idle_timeout: 5m",
			"frobnicate: true"),
			[]string{
				`config.yaml:1: unknown top-level key "lisen" (did you mean "listen"?)`,
				`config.yaml:2: unknown top-level key "idle_timeout" (it belongs under defaults: or a host: defaults.idle_timeout)`,
				`config.yaml:3: unknown top-level key "frobnicate"`,
			}},
		{"key set twice", lines(
			"listen: ':8080'",
			"listen: ':9090'"),
			[]string{`config.yaml:2: "listen" is set twice in the top level (first on line 1); remove one`}},
		{"unknown provider type", lines(
			"providers:",
			"  main: {type: dockr}",
			"  podman: {}"),
			[]string{
				`config.yaml:2: provider "main": unknown type "dockr" (known: docker, exec, gce, kubernetes, swarm) (did you mean "docker"?)`,
				`config.yaml:3: provider "podman" has no type and its name is not a type; add type: (one of docker, exec, gce, kubernetes, swarm)`,
			}},
		{"provider keys of another type", lines(
			"providers:",
			"  docker:",
			"    project: p",
			"    network: n",
			"  exec:",
			"    stop_timeout: 5s"),
			[]string{
				`config.yaml:3: provider "docker": "project" is a setting of gce providers, not docker`,
				`config.yaml:6: provider "exec": "stop_timeout" is a setting of docker providers, not exec`,
			}},
		{"provider sleep", lines(
			"providers:",
			"  docker: {sleep: suspend}",
			"  gce: {sleep: pause, project: p}",
			"  exec: {sleep: pause}"),
			[]string{
				`config.yaml:2: provider "docker": sleep "suspend" is not possible with docker (choose stop or pause)`,
				`config.yaml:3: provider "gce": sleep "pause" is not possible with gce (choose stop or suspend)`,
				`config.yaml:4: provider "exec": sleep "pause" is not possible with exec (choose stop)`,
			}},
		{"missing target fields", providersBlock + lines(
			"  - host: a.example.com",
			"    provider: docker",
			"  - host: b.example.com",
			"    provider: gce",
			"  - host: c.example.com",
			"    provider: exec"),
			[]string{
				`config.yaml:6: host "a.example.com": docker hosts need container: (the container's name or ID)`,
				`config.yaml:8: host "b.example.com": gce hosts need instance: (the VM's name)`,
				`config.yaml:8: host "b.example.com": gce hosts need zone: (the VM's zone, e.g. europe-west1-b)`,
				`config.yaml:10: host "c.example.com": exec hosts need start: (the command as an argv list, e.g. ["systemctl", "start", "app"])`,
				`config.yaml:10: host "c.example.com": exec hosts need stop: (the command as an argv list, e.g. ["systemctl", "stop", "app"])`,
			}},
		{"kubernetes targets", lines(
			"providers:",
			"  k8s: {type: kubernetes, namespace: Bad_NS, sleep: stop}",
			"hosts:",
			"  - {host: a.example.com, provider: k8s}",
			"  - {host: b.example.com, provider: k8s, deployment: a, statefulset: b}",
			"  - {host: c.example.com, provider: k8s, deployment: Web_1, namespace: shop}",
			"  - {host: d.example.com, provider: k8s, container: web}"),
			[]string{
				`config.yaml:2: provider "k8s": sleep "stop" is not possible with kubernetes (choose scale)`,
				`config.yaml:2: provider "k8s": namespace "Bad_NS" is not a Kubernetes namespace (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`,
				`config.yaml:4: host "a.example.com": kubernetes hosts need deployment: (the Deployment's name, or statefulset: the StatefulSet's)`,
				`config.yaml:5: host "b.example.com": a host is one workload: keep deployment or statefulset, not both`,
				`config.yaml:6: host "c.example.com": deployment "Web_1" is not a Kubernetes name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)`,
				`config.yaml:7: host "d.example.com": "container" is a setting of docker hosts, but provider "k8s" is kubernetes (kubernetes hosts take deployment, statefulset, namespace)`,
				`config.yaml:7: host "d.example.com": kubernetes hosts need deployment: (the Deployment's name, or statefulset: the StatefulSet's)`,
			}},
		{"gce project from nowhere", lines(
			"providers:",
			"  gce: {}",
			"hosts:",
			"  - {host: vm.example.com, provider: gce, instance: i, zone: z}"),
			[]string{`config.yaml:4: host "vm.example.com": gce hosts need a project: set project on the host or on provider "gce"`}},
		{"target keys of another type", providersBlock + lines(
			"  - host: vm.example.com",
			"    provider: gce",
			"    instance: web-1",
			"    zone: z",
			"    container: app",
			"    start: [x]"),
			[]string{
				`config.yaml:10: host "vm.example.com": "container" is a setting of docker hosts, but provider "gce" is gce (gce hosts take instance, zone, project)`,
				`config.yaml:11: host "vm.example.com": "start" is a setting of exec hosts, but provider "gce" is gce (gce hosts take instance, zone, project)`,
			}},
		{"swarm hosts", lines(
			"providers:",
			"  swarm: {host: 'not an address', stop_timeout: 2s}",
			"hosts:",
			"  - {host: a.example.com, provider: swarm}",
			"  - {host: b.example.com, provider: swarm, service: web, sleep: pause, container: c}"),
			[]string{
				`config.yaml:2: provider "swarm": "stop_timeout" is a setting of docker providers, not swarm`,
				`config.yaml:2: provider "swarm": host "not an address" is not a Docker address like unix:///var/run/docker.sock or tcp://10.0.0.2:2376`,
				`config.yaml:4: host "a.example.com": swarm hosts need service: (the Swarm service's name or ID)`,
				`config.yaml:5: host "b.example.com": "container" is a setting of docker hosts, but provider "swarm" is swarm (swarm hosts take service)`,
				`config.yaml:5: host "b.example.com": sleep "pause" is not possible with swarm (choose stop)`,
			}},
		{"exec argv", providersBlock + lines(
			"  - host: a.example.com",
			"    provider: exec",
			"    start: []",
			"    stop: ['', stop]",
			"    status: systemctl is-active x"),
			[]string{
				`config.yaml:8: host "a.example.com": start is empty; give the command as an argv list, e.g. ["systemctl", "start", "app"]`,
				`config.yaml:9: host "a.example.com": stop: the program (first item) is empty`,
				`config.yaml:10: host "a.example.com": status: expected a list of strings, got "systemctl is-active x" (a command is an argv list, e.g. ["systemctl", "start", "app"]; it never runs through a shell)`,
			}},
		{"durations", lines(
			"defaults:",
			"  idle_timeout: 30",
			"  start_timeout: 5 minutes",
			"  hold_timeout: -5s",
			"scheduler:",
			"  sweep_interval: 0",
			"  reconcile_interval: 1d"),
			[]string{
				`config.yaml:2: defaults.idle_timeout: duration "30" has no unit; write it like 30s or 30m`,
				`config.yaml:3: defaults.start_timeout: invalid duration "5 minutes"; write it like 30s, 5m or 1h30m`,
				`config.yaml:4: defaults.hold_timeout: duration "-5s" is negative`,
				`config.yaml:6: scheduler.sweep_interval must be greater than 0 (leave it out for the default)`,
				`config.yaml:7: scheduler.reconcile_interval: invalid duration "1d": days are not a unit here; write hours, e.g. 24h`,
			}},
		{"host durations", providersBlock + lines(
			"  - host: a.example.com",
			"    provider: docker",
			"    container: a",
			"    idle_timeout: 0s",
			"    start_timeout: [5m]"),
			[]string{
				`config.yaml:9: host "a.example.com": idle_timeout must be greater than 0 (leave it out for the default)`,
				`config.yaml:10: host "a.example.com": start_timeout: expected a duration like 30m, got a list`,
			}},
		{"urls", providersBlock + lines(
			"  - host: a.example.com",
			"    provider: docker",
			"    container: a",
			"    ready_url: ftp://app/",
			"    url: app:80",
			"    keep_awake_while: http:///busy",
			"  - host: b.example.com",
			"    provider: docker",
			"    container: b",
			"    ready_url: http://{internal_ip}:8080/{external_ip}",
			"    url: http://{ip}:80"),
			[]string{
				`config.yaml:9: host "a.example.com": ready_url: "ftp://app/" is not an http:// or https:// URL`,
				`config.yaml:10: host "a.example.com": url: "app:80" is not an http:// or https:// URL`,
				`config.yaml:11: host "a.example.com": keep_awake_while: "http:///busy" has no host`,
				`config.yaml:15: host "b.example.com": ready_url: "http://{internal_ip}:8080/{external_ip}": placeholders are allowed only in the host part`,
				`config.yaml:16: host "b.example.com": url: "http://{ip}:80": unknown placeholder {ip} (known: {internal_ip}, {external_ip})`,
			}},
		{"sleep, wait, wake", providersBlock + lines(
			"  - host: a.example.com",
			"    provider: docker",
			"    container: a",
			"    sleep: suspend",
			"    wait: block",
			"    wake: never"),
			[]string{
				`config.yaml:9: host "a.example.com": sleep "suspend" is not possible with docker (choose stop or pause)`,
				`config.yaml:10: host "a.example.com": wait "block" is not one of page, hold, auto`,
				`config.yaml:11: host "a.example.com": wake "never" is not one of auto, click`,
			}},
		{"budgets", providersBlock + lines(
			"  - host: a.example.com",
			"    provider: docker",
			"    container: a",
			"    max_wakes_per_day: -1",
			"budgets:",
			"  max_wakes_per_hour: -2",
			"  max_concurrent_starts: many"),
			[]string{
				`config.yaml:9: host "a.example.com": max_wakes_per_day must not be negative (0 means no limit)`,
				`config.yaml:11: budgets.max_wakes_per_hour must not be negative (0 means no limit or the default)`,
				`config.yaml:12: budgets.max_concurrent_starts: expected a whole number, got "many"`,
			}},
		{"prices", providersBlock + lines(
			"  - host: a.example.com",
			"    provider: docker",
			"    container: a",
			"    price: {suspended: 0.01, currency: euro}",
			"  - host: b.example.com",
			"    provider: gce",
			"    instance: b",
			"    zone: z",
			"    sleep: suspend",
			"    price:",
			"      running: -1",
			"      suspended: .nan",
			"  - host: c.example.com",
			"    provider: gce",
			"    instance: c",
			"    zone: z",
			"    sleep: suspend",
			"    price: {running: 0.1, suspended: 0.5}",
			"  - host: d.example.com",
			"    provider: exec",
			"    start: [s]",
			"    stop: [t]",
			"    price: {running: cheap}"),
			[]string{
				`config.yaml:9: host "a.example.com": price needs running: (what the backend costs per hour while it runs, e.g. 0.12)`,
				`config.yaml:9: host "a.example.com": price.suspended is for hosts that sleep by suspend (gce sleep: suspend); this host sleeps by stop`,
				`config.yaml:9: host "a.example.com": price.currency "euro" is not an ISO 4217 code like EUR, USD or JPY`,
				`config.yaml:16: host "b.example.com": price.running must be a number greater than 0 (per hour while it runs)`,
				`config.yaml:17: host "b.example.com": price.suspended must be a number, 0 or more (per hour while suspended)`,
				`config.yaml:23: host "c.example.com": price.suspended (0.5) is more than price.running (0.1): sleeping would cost more than running`,
				`config.yaml:28: hosts[3].price.running: expected a number, got "cheap"`,
			}},
		{"host pages", providersBlock + lines(
			"  - host: a.example.com",
			"    provider: docker",
			"    container: a",
			"    page:",
			"      accent: '#fff;}body{display:none'",
			"      background: white",
			"      logo_url: https://cdn.example.net/logo.png",
			"      logo_file: /etc/logo.png",
			"      status: 302"),
			[]string{
				`config.yaml:10: host "a.example.com": page.accent: colour "#fff;}body{display:none": use #rgb or #rrggbb, e.g. #2f6fde`,
				`config.yaml:11: host "a.example.com": page.background: colour "white": use #rgb or #rrggbb, e.g. #2f6fde`,
				`config.yaml:12: host "a.example.com": page.logo_url "https://cdn.example.net/logo.png": use a path on the host itself, e.g. /assets/logo.svg (other origins are refused by the page's Content-Security-Policy)`,
				`config.yaml:13: host "a.example.com" has both page.logo_url and page.logo_file; keep one`,
				`config.yaml:14: host "a.example.com": page.status 302 is not allowed: use 503 (default), 200 or 202`,
			}},
		{"listen addresses", lines(
			"listen: 8080",
			"admin:",
			"  listen: 'localhost:http'"),
			[]string{
				`config.yaml:1: listen "8080" is not an address of the form host:port, e.g. ":8080" or "127.0.0.1:8081" (did you mean ":8080"?)`,
				`config.yaml:3: admin.listen "localhost:http": port "http" is not a number from 0 to 65535`,
			}},
		{"same listen twice", lines(
			"listen: '127.0.0.1:8080'",
			"admin: {listen: '127.0.0.1:8080'}"),
			[]string{`config.yaml:2: listen "127.0.0.1:8080" and admin.listen "127.0.0.1:8080" would share a port; the admin listener needs its own`}},
		{"listen on the admin default", lines(
			"listen: ':8081'"),
			[]string{`config.yaml:1: listen ":8081" and admin.listen "127.0.0.1:8081" would share a port; the admin listener needs its own`}},
		{"admin open to the network without credentials", lines(
			"admin:",
			"  listen: ':8081'"),
			[]string{"config.yaml:2: admin.listen \":8081\" is reachable from other machines, but admin has no users or tokens: anyone could stop hosts; add admin.users (see `waitingroom hash-password`) or admin.tokens, or listen on 127.0.0.1"}},
		{"admin host names", lines(
			"admin:",
			"  hosts: [admin.example.com, 'http://admin.example.com', '10.0.0.1']"),
			[]string{
				`config.yaml:2: admin.hosts item 2 "http://admin.example.com": write the hostname alone, without scheme or path (app.example.com) (IP addresses and localhost are always answered)`,
				`config.yaml:2: admin.hosts item 3 "10.0.0.1": IP addresses are not hostnames; register the name clients use (IP addresses and localhost are always answered)`,
			}},
		{"trusted proxies", lines(
			"trusted_proxies:",
			"  - 10.0.0.0/8",
			"  - 192.168.1.1",
			"  - 10.0.0.0/33",
			"  - proxy.local"),
			[]string{
				`config.yaml:4: trusted_proxies: "10.0.0.0/33" is neither an IP address nor a CIDR range like 10.0.0.0/8`,
				`config.yaml:5: trusted_proxies: "proxy.local" is neither an IP address nor a CIDR range like 10.0.0.0/8`,
			}},
		{"redis url", lines(
			"store:",
			"  redis_url: 'localhost:6379'"),
			[]string{`config.yaml:2: store.redis_url: scheme "localhost" is not redis, rediss or unix; write it like redis://host:6379/0, rediss://host:6380/0 or unix:///path/to/redis.sock`}},
		{"redis url without host", lines(
			"store: {redis_url: 'redis:///0'}"),
			[]string{`config.yaml:1: store.redis_url has no host; write it like redis://host:6379/0, rediss://host:6380/0 or unix:///path/to/redis.sock`}},
		{"sentinel without master or addrs", lines(
			"store:",
			"  sentinel: {username: app}"),
			[]string{
				`config.yaml:2: store.sentinel needs master: the name the sentinels monitor the primary under (sentinel monitor <master> ...)`,
				`config.yaml:2: store.sentinel needs addrs: host:port of the sentinels, e.g. [sentinel-1:26379, sentinel-2:26379, sentinel-3:26379]`,
			}},
		{"sentinel with bad addresses, two passwords and an address as url host", lines(
			"store:",
			"  redis_url: 'redis://:pw@10.0.0.5:6379/0'",
			"  sentinel:",
			"    master: mymaster",
			"    addrs:",
			"      - 10.0.0.1:26379",
			"      - 10.0.0.2",
			"      - 'sentinel:99999'",
			"    password_file: /run/secrets/sentinel",
			"    password_env: SENTINEL_PASSWORD"),
			[]string{
				`config.yaml:2: store.redis_url: with store.sentinel the URL's host names the master (redis://:password@mymaster/0), not an address: the sentinels say where the primary is`,
				`config.yaml:3: store.sentinel has both password_file and password_env; keep one`,
				`config.yaml:7: store.sentinel.addrs: "10.0.0.2" is not host:port, e.g. sentinel-1:26379`,
				`config.yaml:8: store.sentinel.addrs: "sentinel:99999" is not host:port, e.g. sentinel-1:26379`,
			}},
		{"sentinel with a unix socket url", lines(
			"store:",
			"  redis_url: 'unix:///run/redis.sock'",
			"  sentinel: {master: m, addrs: ['s:26379']}"),
			[]string{`config.yaml:2: store.redis_url: a unix:// URL cannot be used with store.sentinel (the sentinels give TCP addresses); write it like redis://:password@m/0`}},
		{"redis cluster", lines(
			"store:",
			"  cluster_addrs: ['a:7000']"),
			[]string{`config.yaml:2: unknown key "cluster_addrs" in store (Redis Cluster is not supported: see docs/operations.md)`}},
		{"sentinel password inline", lines(
			"store:",
			"  sentinel: {master: m, addrs: ['s:26379'], password: hunter2}"),
			[]string{`config.yaml:2: unknown key "password" in store.sentinel (use password_file or password_env)`}},
		{"warm windows and timezone", providersBlock + lines(
			"  - host: a.example.com",
			"    provider: docker",
			"    container: a",
			"    warm:",
			"      - 0 9 * * 1-5 for 9h",
			"      - 0 9 * * 1-5 9h",
			"      - 0 9 * * for 1h",
			"      - 0 9 * * 1-5 for soon",
			"    timezone: Mars/Olympus_Mons"),
			[]string{
				`config.yaml:11: host "a.example.com": warm "0 9 * * 1-5 9h": write it as "CRON for DURATION", e.g. "0 9 * * 1-5 for 9h"`,
				`config.yaml:12: host "a.example.com": warm "0 9 * * for 1h": the schedule needs 5 cron fields (minute hour day-of-month month day-of-week), got 4; e.g. "0 9 * * 1-5 for 9h"`,
				`config.yaml:13: host "a.example.com": warm "0 9 * * 1-5 for soon": duration "soon": write it like 30m, 9h or 1h30m`,
				`config.yaml:14: host "a.example.com": timezone "Mars/Olympus_Mons" is not an IANA time zone name like Europe/Berlin or UTC`,
			}},
		{"admin users and tokens", lines(
			"admin:",
			"  users:",
			"    - name: alice",
			"      password_hash: hunter2",
			"    - name: alice",
			"      password_hash: $2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
			"  tokens:",
			"    - name: ci",
			"    - name: deploy",
			"      file: /run/secrets/t",
			"      env: TOKEN"),
			[]string{
				`config.yaml:4: user "alice": password_hash is not a bcrypt hash; make one with ` + "`waitingroom hash-password`" + ` (never write the password itself here)`,
				`config.yaml:5: user "alice" is listed twice (first on line 3)`,
				`config.yaml:8: token "ci" needs file or env: the token itself is never written in this file`,
				`config.yaml:9: token "deploy" has both file and env; keep one`,
			}},
		{"traefik section", lines(
			"traefik:",
			"  waitingroom_url: 127.0.0.1:8080",
			"  fallback: errors",
			"  metrics_url: http://{internal_ip}/metrics",
			"  entry_points: ['web', '']"),
			[]string{
				`config.yaml:2: traefik.waitingroom_url: "127.0.0.1:8080" is not a URL: first path segment in URL cannot contain colon`,
				`config.yaml:3: traefik.fallback "errors" is not one of failover-errors, errors-middleware, health-check-only`,
				`config.yaml:4: traefik.metrics_url: "http://{internal_ip}/metrics": placeholders like {internal_ip} are not allowed here`,
				`config.yaml:5: entry_points item 2: "" is not a name`,
			}},
		{"webhooks and monitors", lines(
			"webhooks:",
			"  - url: ''",
			"  - url: mailto:ops@example.com",
			"    secret_file: /s",
			"    secret_env: S",
			"monitors:",
			"  status: 42",
			"  paths: [healthz]"),
			[]string{
				`config.yaml:2: webhook 1 has no url`,
				`config.yaml:3: webhook 2: url: "mailto:ops@example.com" is not an http:// or https:// URL`,
				`config.yaml:3: webhook 2 has both secret_file and secret_env; keep one`,
				`config.yaml:7: monitors.status 42 is not an HTTP status code (100-599)`,
				`config.yaml:8: monitors.paths: "healthz" must start with /`,
			}},
		{"page status", lines(
			"page:",
			"  status: 204"),
			[]string{
				`config.yaml:2: page.status 204 is not allowed: use 503 (default), 200 or 202`,
			}},
		{"wrong shapes", lines(
			"listen: {port: 8080}",
			"admin: [a]",
			"hosts: app.example.com",
			"providers: [docker]",
			"trusted_proxies: 127.0.0.1",
			"bots: {wake_on_head: yes}"),
			[]string{
				`config.yaml:1: listen: expected a string, got a mapping`,
				`config.yaml:2: admin: expected a mapping of settings (key: value), got a list`,
				`config.yaml:3: hosts: expected a list (lines starting with "- "), got "app.example.com"`,
				`config.yaml:4: providers: expected a mapping of names to settings, got a list`,
				`config.yaml:5: trusted_proxies: expected a list of strings, got "127.0.0.1"`,
				`config.yaml:6: bots.wake_on_head: expected true or false, got "yes"`,
			}},
		{"yaml syntax", lines(
			"listen: ':8080'",
			"hosts:",
			"  - host: a",
			"   provider: b"),
			// The line that is off, not the start of the list the parser
			// could not finish, and why in words.
			[]string{`config.yaml:4: bad indentation: indented 3 spaces, matching no block above (0, 2, 4)`}},
		{"yaml syntax, unclosed list", lines(
			"listen: ':8080'",
			"trusted_proxies: [127.0.0.1, ::1",
			"hosts: []"),
			[]string{`config.yaml:2: invalid YAML: did not find expected node content`}},
		{"yaml syntax, one bracket too many", lines(
			"listen: ':8080'",
			"",
			"trusted_proxies: [127.0.0.1]]"),
			[]string{`config.yaml:3: invalid YAML: did not find expected key`}},
		{"yaml syntax, scanner", lines(
			"listen: ':8080'",
			"admin:",
			"	listen: x"),
			[]string{`config.yaml:3: invalid YAML: found character that cannot start any token`}},
		{"not a mapping", lines("- listen: ':8080'"),
			[]string{`config.yaml:1: the configuration must be a mapping of settings (listen: ..., hosts: ...), got a list`}},
		{"two documents", lines("listen: ':8080'", "---", "listen: ':9090'"),
			[]string{`config.yaml:2: a second YAML document starts here; the configuration is one document (remove the "---" line or the rest)`}},
		{"binary", "listen: ':8080'\nhosts: \x00\x01\x02",
			[]string{`config.yaml:2: control character U+0000 at offset 23; a configuration file is plain text`}},
		{"not utf-8", "listen: ':8080'\n\n\xff\xfe garbage",
			[]string{`config.yaml:3: the file is not UTF-8 text (byte 0xff at offset 17); is it binary or in another encoding?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.yaml)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestEveryProblemAtOnce: one file with many mistakes gets every one of
// them reported, in line order, so the operator fixes them in one round.
func TestEveryProblemAtOnce(t *testing.T) {
	got := problemsOf(t, lines(
		"listen: nope",               // 1
		"providers:",                 // 2
		"  docker: {sleep: suspend}", // 3
		"hosts:",                     // 4
		"  - host: a.example.com",    // 5
		"    provider: dockr",        // 6
		"  - host: a.example.com",    // 7
		"    provider: docker",       // 8
		"    container: a",           // 9
		"    ready_url: gopher://a/", // 10
		"    idle_timeout: forever",  // 11
		"    wait: later",            // 12
		"    max_wakes_per_hour: -3", // 13
		"defaults: {idle_timeout: 30m, start_timeout: -1m}", // 14
	))
	want := []string{
		`config.yaml:1: listen "nope" is not an address of the form host:port, e.g. ":8080" or "127.0.0.1:8081"`,
		`config.yaml:3: provider "docker": sleep "suspend" is not possible with docker (choose stop or pause)`,
		`config.yaml:6: host "a.example.com" uses provider "dockr", which is not defined (defined: docker)`,
		`config.yaml:7: host "a.example.com" is listed twice (first on line 5)`,
		`config.yaml:10: host "a.example.com": ready_url: "gopher://a/" is not an http:// or https:// URL`,
		`config.yaml:11: host "a.example.com": idle_timeout: invalid duration "forever"; write it like 30s, 5m or 1h30m`,
		`config.yaml:12: host "a.example.com": wait "later" is not one of page, hold, auto`,
		`config.yaml:13: host "a.example.com": max_wakes_per_hour must not be negative (0 means no limit)`,
		`config.yaml:14: defaults.start_timeout: duration "-1m" is negative`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path, kinds.All())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v, want an error wrapping fs.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), path+": cannot read the configuration: ") {
		t.Errorf("error %q does not start with the file name", err)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"listen", "container", "idle_timeout", "start_timeout", "provider"}
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"lisen", "listen", true},
		{"contianer", "container", true},
		{"idle-timeout", "idle_timeout", true},
		{"IdleTimeout", "idle_timeout", true},
		{"Listen", "listen", true},
		{"providr", "provider", true},
		{"xyz", "", false},
		{"stop_timeout", "start_timeout", true},
	}
	for _, tt := range tests {
		got, ok := suggest(tt.in, known)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("suggest(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestValidFiles: things that look unusual but are right are accepted.
func TestValidFiles(t *testing.T) {
	tests := map[string]string{
		"empty file":    "",
		"only comments": "# nothing yet\n",
		"null document": "~\n",
		"admin exposed with a token": lines(
			"admin: {listen: '0.0.0.0:8081', tokens: [{name: ci, env: CI_TOKEN}]}"),
		"admin on localhost and IPv6 loopback": lines(
			"listen: '[::]:8080'",
			"admin: {listen: 'localhost:8081'}"),
		"admin on IPv6 loopback": lines(
			"admin: {listen: '[::1]:8081'}"),
		"redis over a unix socket":  "store: {redis_url: 'unix:///run/redis.sock'}\n",
		"redis with TLS and a user": "store: {redis_url: 'rediss://app:secret@redis.internal:6380/2'}\n",
		"redis through sentinel": lines(
			"store:",
			"  redis_url: 'rediss://app:secret@mymaster/2'",
			"  sentinel: {master: mymaster, addrs: ['10.0.0.1:26379', 's2.internal:26379', '[::1]:26379'], username: app, password_env: SENTINEL_PASSWORD}"),
		"redis through sentinel without url": "store: {sentinel: {master: mymaster, addrs: ['10.0.0.1:26379']}}\n",
		"merge keys and anchors": lines(
			"x-exec: &exec {provider: exec, start: [svc, start], stop: [svc, stop], idle_timeout: 5m}",
			"providers: {exec: {}}",
			"hosts:",
			"  - <<: *exec",
			"    host: a.example.com",
			"  - {<<: *exec, host: b.example.com, idle_timeout: 1m}"),
		"provider named apart from its type": lines(
			"providers:",
			"  prod-vms: {type: gce, project: p, sleep: suspend, endpoint: 'http://127.0.0.1:9999/'}",
			"  local: {type: docker, host: 'unix:///var/run/docker.sock', labels: true}",
			"hosts:",
			"  - {host: vm.example.com, provider: prod-vms, instance: i, zone: z, ready_url: 'https://{external_ip}/'}",
			"  - {host: c.example.com, provider: local, container: c, sleep: pause}"),
		"warm windows with names": lines(
			"providers: {exec: {}}",
			"hosts:",
			"  - host: a.example.com",
			"    provider: exec",
			"    start: [a]",
			"    stop: [b]",
			"    warm: ['30 8 * * MON-FRI for 10h30m', '*/15 * 1,15 JAN-MAR ? for 5m']",
			"    timezone: Asia/Jakarta"),
		"trusted proxies of both families": "trusted_proxies: [10.0.0.0/8, 'fd00::/8', 192.0.2.7, '::1']\n",
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse("config.yaml", []byte(data), kinds.All()); err != nil {
				t.Errorf("refused:\n%v", err)
			}
		})
	}
}
