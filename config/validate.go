package config

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // timezones validate (and warm windows run) in a FROM scratch image too

	"github.com/waitingroom/waitingroom/activity/window"
	"github.com/waitingroom/waitingroom/internal/hostname"
	"github.com/waitingroom/waitingroom/internal/httpurl"
	"github.com/waitingroom/waitingroom/providers"
	"github.com/waitingroom/waitingroom/web"
)

// Values of the enumerated settings.
func waitModes() []string { return []string{"page", "hold", "auto"} }
func wakeModes() []string { return []string{"auto", "click"} }
func fallbackModes() []string {
	return []string{"failover-errors", "errors-middleware", "health-check-only"}
}

// validator checks a decoded File, reporting at the line of each setting.
type validator struct {
	p      *problems
	lines  map[string]int
	failed map[string]bool // settings the decoder already reported
	f      *File
	kinds  providers.Kinds
}

// line returns the line of path, or of the closest enclosing setting
// present in the file.
func (v *validator) line(path string) int {
	for path != "" {
		if l, ok := v.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 1
}

func (v *validator) has(path string) bool { _, ok := v.lines[path]; return ok }

func (v *validator) add(path, format string, args ...any) {
	if v.failed[path] {
		return
	}
	v.p.add(v.line(path), format, args...)
}

func validate(p *problems, lines map[string]int, failed map[string]bool, f *File, kinds providers.Kinds) {
	v := &validator{p: p, lines: lines, failed: failed, f: f, kinds: kinds}
	v.listen("listen", f.Listen)
	v.listen("admin.listen", f.Admin.Listen)
	if public, admin := cmp.Or(f.Listen, DefaultListen), cmp.Or(f.Admin.Listen, DefaultAdminListen); sameSocket(public, admin) {
		path := "admin.listen"
		if !v.has(path) {
			path = "listen"
		}
		v.add(path, "listen %q and admin.listen %q would share a port; the admin listener needs its own", public, admin)
	}
	v.admin()
	v.redisURL()
	v.positiveDurations("defaults", "idle_timeout", "start_timeout", "hold_timeout")
	v.oneOf("defaults.wait", "defaults.wait", f.Defaults.Wait, waitModes())
	v.positiveDurations("scheduler", "sweep_interval", "reconcile_interval")
	v.traefik()
	for i, s := range f.TrustedProxies {
		path := fmt.Sprintf("trusted_proxies[%d]", i)
		if _, err := netip.ParsePrefix(s); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(s); err == nil {
			continue
		}
		v.add(path, "trusted_proxies: %q is neither an IP address nor a CIDR range like 10.0.0.0/8", s)
	}
	v.nonNegative("limits", map[string]int{"max_header_bytes": f.Limits.MaxHeaderBytes, "max_host_length": f.Limits.MaxHostLength, "max_url_length": f.Limits.MaxURLLength,
		"max_streams_per_client": f.Limits.MaxStreamsPerClient, "max_streams": f.Limits.MaxStreams})
	v.nonNegative("budgets", map[string]int{"max_wakes_per_day": f.Budgets.MaxWakesPerDay, "max_wakes_per_hour": f.Budgets.MaxWakesPerHour,
		"client_wakes_per_hour": f.Budgets.ClientWakesPerHour, "prefix_wakes_per_hour": f.Budgets.PrefixWakesPerHour, "max_concurrent_starts": f.Budgets.MaxConcurrentStarts})
	v.nonNegative("hold", map[string]int{"max_per_host": f.Hold.MaxPerHost, "max_total": f.Hold.MaxTotal, "max_body_bytes": f.Hold.MaxBodyBytes, "max_forward_per_host": f.Hold.MaxForwardPerHost})
	if s := f.Monitors.Status; s != 0 && (s < 100 || s > 599) {
		v.add("monitors.status", "monitors.status %d is not an HTTP status code (100-599)", s)
	}
	if err := web.CheckPageStatus(f.Page.Status); err != nil {
		v.add("page.status", "page.%v", err)
	}
	for i, path := range f.Monitors.Paths {
		if !strings.HasPrefix(path, "/") {
			v.add(fmt.Sprintf("monitors.paths[%d]", i), "monitors.paths: %q must start with /", path)
		}
	}
	for i, w := range f.Webhooks {
		v.webhook(i, w)
	}
	v.providers()
	v.hosts()
}

func (v *validator) listen(path, addr string) {
	if !v.has(path) {
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		hint := ""
		if isDigits(addr) {
			hint = fmt.Sprintf(" (did you mean \":%s\"?)", addr)
		}
		v.add(path, "%s %q is not an address of the form host:port, e.g. \":8080\" or \"127.0.0.1:8081\"%s", path, addr, hint)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add(path, "%s %q: port %q is not a number from 0 to 65535", path, addr, port)
	}
	if host == "" {
		return
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return
	}
	if _, err := hostname.Check(host); err != nil {
		v.add(path, "%s %q: %q is neither an IP address nor a hostname", path, addr, host)
	}
}

func (v *validator) admin() {
	if addr := v.f.Admin.Listen; addr != "" && len(v.f.Admin.Users) == 0 && len(v.f.Admin.Tokens) == 0 && !loopback(addr) {
		v.add("admin.listen", "admin.listen %q is reachable from other machines, but admin has no users or tokens: "+
			"anyone could stop hosts; add admin.users (see `waitingroom hash-password`) or admin.tokens, or listen on 127.0.0.1", addr)
	}
	for i, h := range v.f.Admin.Hosts {
		if _, err := hostname.Check(h); err != nil {
			v.add(fmt.Sprintf("admin.hosts[%d]", i), "admin.hosts item %d %q: %v (IP addresses and localhost are always answered)", i+1, h, err)
		}
	}
	seen := map[string]int{}
	for i, u := range v.f.Admin.Users {
		path := fmt.Sprintf("admin.users[%d]", i)
		if u.Name == "" {
			v.add(path, "admin.users item %d has no name", i+1)
		} else if first, dup := seen["user "+u.Name]; dup {
			v.add(path+".name", "user %q is listed twice (first on line %d)", u.Name, first)
		} else {
			seen["user "+u.Name] = v.line(path + ".name")
		}
		switch {
		case u.PasswordHash == "":
			v.add(path, "user %q has no password_hash; make one with `waitingroom hash-password`", u.Name)
		case !looksBcrypt(u.PasswordHash):
			// Never echo the value: it may be a plain-text password.
			v.add(path+".password_hash", "user %q: password_hash is not a bcrypt hash; make one with `waitingroom hash-password` (never write the password itself here)", u.Name)
		}
	}
	for i, t := range v.f.Admin.Tokens {
		path := fmt.Sprintf("admin.tokens[%d]", i)
		if t.Name == "" {
			v.add(path, "admin.tokens item %d has no name", i+1)
		} else if first, dup := seen["token "+t.Name]; dup {
			v.add(path+".name", "token %q is listed twice (first on line %d)", t.Name, first)
		} else {
			seen["token "+t.Name] = v.line(path + ".name")
		}
		switch {
		case t.File == "" && t.Env == "":
			v.add(path, "token %q needs file or env: the token itself is never written in this file", t.Name)
		case t.File != "" && t.Env != "":
			v.add(path, "token %q has both file and env; keep one", t.Name)
		}
	}
}

// sameSocket tells whether two listen addresses would collide: the same
// port (not 0, which picks a free one) on the same or a wildcard host.
func sameSocket(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	na, errA2 := strconv.Atoi(pa)
	nb, errB2 := strconv.Atoi(pb)
	if errA != nil || errB != nil || errA2 != nil || errB2 != nil || na != nb || na == 0 {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}

// loopback tells whether a listen address accepts local connections only.
// An address that does not parse is reported elsewhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback()
	}
	return strings.EqualFold(host, "localhost")
}

// looksBcrypt recognises "$2a$10$" + 53 characters, the form
// golang.org/x/crypto/bcrypt produces and checks.
func looksBcrypt(h string) bool {
	return len(h) == 60 && (strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")) && h[6] == '$'
}

func (v *validator) redisURL() {
	v.sentinel()
	s := v.f.Store.RedisURL
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	const want = "redis://host:6379/0, rediss://host:6380/0 or unix:///path/to/redis.sock"
	switch {
	case err != nil:
		v.add("store.redis_url", "store.redis_url is not a URL (%s); write it like %s", httpurl.Reason(err), want)
	case u.Scheme == "redis" || u.Scheme == "rediss":
		if u.Host == "" {
			v.add("store.redis_url", "store.redis_url has no host; write it like %s", want)
			return
		}
		if _, port, err := net.SplitHostPort(u.Host); err == nil {
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				v.add("store.redis_url", "store.redis_url: port %q is not a number from 1 to 65535", port)
			}
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				v.add("store.redis_url", "store.redis_url: database %q is not a number", db)
			}
		}
	case u.Scheme == "unix":
		if u.Path == "" {
			v.add("store.redis_url", "store.redis_url: a unix:// URL needs the socket path, e.g. unix:///run/redis.sock")
		}
	default:
		v.add("store.redis_url", "store.redis_url: scheme %q is not redis, rediss or unix; write it like %s", u.Scheme, want)
	}
}

// sentinel checks store.sentinel: a master name, sentinel addresses, a
// password from a file or the environment, and a redis_url (if any) that
// names the master rather than an address, since the sentinels say where
// the primary is.
func (v *validator) sentinel() {
	s := v.f.Store.Sentinel
	if !v.has("store.sentinel") {
		return
	}
	if s.Master == "" {
		v.add("store.sentinel", "store.sentinel needs master: the name the sentinels monitor the primary under (sentinel monitor <master> ...)")
	}
	if len(s.Addrs) == 0 {
		v.add("store.sentinel", "store.sentinel needs addrs: host:port of the sentinels, e.g. [sentinel-1:26379, sentinel-2:26379, sentinel-3:26379]")
	}
	for i, a := range s.Addrs {
		host, port, err := net.SplitHostPort(a)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			v.add(fmt.Sprintf("store.sentinel.addrs[%d]", i), "store.sentinel.addrs: %q is not host:port, e.g. sentinel-1:26379", a)
		}
	}
	if s.PasswordFile != "" && s.PasswordEnv != "" {
		v.add("store.sentinel", "store.sentinel has both password_file and password_env; keep one")
	}
	u, err := url.Parse(v.f.Store.RedisURL)
	switch {
	case v.f.Store.RedisURL == "" || err != nil:
	case u.Scheme == "unix":
		v.add("store.redis_url", "store.redis_url: a unix:// URL cannot be used with store.sentinel (the sentinels give TCP addresses); write it like redis://:password@%s/0", cmp.Or(s.Master, "mymaster"))
	case u.Hostname() != s.Master && s.Master != "":
		v.add("store.redis_url", "store.redis_url: with store.sentinel the URL's host names the master (redis://:password@%s/0), not an address: the sentinels say where the primary is", s.Master)
	}
}

// positiveDurations refuses an explicit 0 where 0 would break things (an
// idle timeout of 0 stops a host the moment it is running); leaving the
// key out gives the default.
func (v *validator) positiveDurations(section string, keys ...string) {
	for _, k := range keys {
		path := join(section, k)
		if !v.has(path) {
			continue
		}
		if d := v.duration(path); d != nil && *d == 0 {
			v.add(path, "%s must be greater than 0 (leave it out for the default)", path)
		}
	}
}

// duration finds the Duration field at a path of the top-level sections
// checked by positiveDurations.
func (v *validator) duration(path string) *Duration {
	f := v.f
	switch path {
	case "defaults.idle_timeout":
		return &f.Defaults.IdleTimeout
	case "defaults.start_timeout":
		return &f.Defaults.StartTimeout
	case "defaults.hold_timeout":
		return &f.Defaults.HoldTimeout
	case "scheduler.sweep_interval":
		return &f.Scheduler.SweepInterval
	case "scheduler.reconcile_interval":
		return &f.Scheduler.ReconcileInterval
	case "traefik.health_check_interval":
		return &f.Traefik.HealthCheckInterval
	case "traefik.health_check_timeout":
		return &f.Traefik.HealthCheckTimeout
	case "traefik.dial_timeout":
		return &f.Traefik.DialTimeout
	case "traefik.unhealthy_interval":
		return &f.Traefik.UnhealthyInterval
	case "traefik.metrics_interval":
		return &f.Traefik.MetricsInterval
	}
	return nil
}

func (v *validator) nonNegative(section string, values map[string]int) {
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if values[k] < 0 {
			v.add(join(section, k), "%s.%s must not be negative (0 means no limit or the default)", section, k)
		}
	}
}

func (v *validator) oneOf(path, key, value string, allowed []string) {
	if value == "" || slices.Contains(allowed, value) {
		return
	}
	v.add(path, "%s %q is not one of %s", key, value, strings.Join(allowed, ", "))
}

func (v *validator) traefik() {
	t := v.f.Traefik
	if t.WaitingroomURL != "" {
		if err := httpurl.Check(t.WaitingroomURL, false); err != nil {
			v.add("traefik.waitingroom_url", "traefik.waitingroom_url: %v", err)
		}
	}
	if t.MetricsURL != "" {
		if err := httpurl.Check(t.MetricsURL, false); err != nil {
			v.add("traefik.metrics_url", "traefik.metrics_url: %v", err)
		}
	}
	v.oneOf("traefik.fallback", "traefik.fallback", t.Fallback, fallbackModes())
	v.positiveDurations("traefik", "health_check_interval", "health_check_timeout", "unhealthy_interval", "dial_timeout", "metrics_interval")
	v.nonNegative("traefik", map[string]int{"max_request_body_bytes": t.MaxRequestBodyBytes})
	v.names("traefik.entry_points", "entry_points", t.EntryPoints)
	v.names("traefik.middlewares", "middlewares", t.Middlewares)
}

// names checks a list of Traefik names (entry points, middlewares).
func (v *validator) names(path, key string, list []string) {
	for i, s := range list {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t") {
			v.add(fmt.Sprintf("%s[%d]", path, i), "%s item %d: %q is not a name", key, i+1, s)
		}
	}
}

func (v *validator) webhook(i int, w Webhook) {
	path := fmt.Sprintf("webhooks[%d]", i)
	switch {
	case w.URL == "":
		v.add(path, "webhook %d has no url", i+1)
	default:
		if err := httpurl.Check(w.URL, false); err != nil {
			v.add(path+".url", "webhook %d: url: %v", i+1, err)
		}
	}
	if w.SecretFile != "" && w.SecretEnv != "" {
		v.add(path, "webhook %d has both secret_file and secret_env; keep one", i+1)
	}
	if w.Retries < 0 {
		v.add(path+".retries", "webhook %d: retries must not be negative", i+1)
	}
}

var providerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (v *validator) providers() {
	for _, name := range slices.Sorted(maps.Keys(v.f.Providers)) {
		p := v.f.Providers[name]
		path := "providers." + name
		if !providerNameRE.MatchString(name) {
			v.add(path, "provider name %q: use letters, digits, '-', '_' and '.'", name)
		}
		typ := cmp.Or(p.Type, name)
		k, ok := v.kinds.Lookup(typ)
		if !ok {
			names := v.kinds.Names()
			known := strings.Join(names, ", ")
			if p.Type == "" {
				v.add(path, "provider %q has no type and its name is not a type; add type: (one of %s)", name, known)
			} else {
				hint := ""
				if s, ok := suggest(typ, names); ok {
					hint = fmt.Sprintf(" (did you mean %q?)", s)
				}
				v.add(path+".type", "provider %q: unknown type %q (known: %s)%s", name, typ, known, hint)
			}
			continue
		}
		if p.Sleep != "" && !slices.Contains(k.Sleep, p.Sleep) {
			v.add(path+".sleep", "provider %q: sleep %q is not possible with %s (choose %s)", name, p.Sleep, typ, orList(k.Sleep))
		}
		if p.Settings != nil {
			p.Settings.Check(kindReport{v: v, path: path, subject: fmt.Sprintf("provider %q", name), provider: name, kind: typ})
		}
	}
}

// kindReport is the providers.Report a kind's Check writes to: each
// problem at the line of its key, after the subject.
type kindReport struct {
	v                             *validator
	path, subject, provider, kind string
}

func (r kindReport) Set(key string) bool { return r.v.has(r.path + "." + key) }

func (r kindReport) Problem(key, format string, args ...any) {
	path := r.path
	if key != "" {
		path += "." + key
	}
	r.v.add(path, "%s: "+format, append([]any{r.subject}, args...)...)
}

func (r kindReport) Missing(key, what string) {
	r.v.add(r.path, "%s: %s hosts need %s: (%s)", r.subject, r.kind, key, what)
}

func (r kindReport) Provider() string { return r.provider }

func orList(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func (v *validator) hosts() {
	seen := map[string]int{}
	defined := slices.Sorted(maps.Keys(v.f.Providers))
	for i := range v.f.Hosts {
		h := &v.f.Hosts[i]
		path := fmt.Sprintf("hosts[%d]", i)
		label := fmt.Sprintf("host %q", h.Host)
		if h.Host == "" {
			label = fmt.Sprintf("host %d", i+1)
			v.add(path, "hosts item %d has no host: (the hostname clients use, e.g. app.example.com)", i+1)
		} else if canon, err := hostname.Check(h.Host); err != nil {
			v.add(path+".host", "host %q: %v", h.Host, err)
		} else {
			if first, dup := seen[canon]; dup {
				if canon == h.Host {
					v.add(path+".host", "host %q is listed twice (first on line %d)", h.Host, first)
				} else {
					v.add(path+".host", "host %q is listed twice: it is the same as %q (first on line %d)", h.Host, canon, first)
				}
			} else {
				seen[canon] = v.line(path + ".host")
			}
		}

		switch p, ok := v.f.Providers[h.Provider]; {
		case h.Provider == "":
			v.add(path, "%s has no provider (%s)", label, definedList(defined))
		case !ok:
			v.add(path+".provider", "%s uses provider %q, which is not defined (%s)", label, h.Provider, definedList(defined))
		default:
			if k, ok := v.kinds.Lookup(cmp.Or(p.Type, h.Provider)); ok { // else reported on the provider
				v.target(path, label, k, p, h)
			}
		}
		for _, u := range []struct{ key, value string }{{"ready_url", h.ReadyURL}, {"url", h.URL}, {"keep_awake_while", h.KeepAwakeWhile}} {
			if u.value == "" {
				continue
			}
			if err := httpurl.Check(u.value, true); err != nil {
				v.add(path+"."+u.key, "%s: %s: %v", label, u.key, err)
			}
		}
		for _, k := range []string{"idle_timeout", "start_timeout", "hold_timeout"} {
			if !v.has(path + "." + k) {
				continue
			}
			if d := map[string]Duration{"idle_timeout": h.IdleTimeout, "start_timeout": h.StartTimeout, "hold_timeout": h.HoldTimeout}[k]; d == 0 {
				v.add(path+"."+k, "%s: %s must be greater than 0 (leave it out for the default)", label, k)
			}
		}
		if h.Wait != "" && !slices.Contains(waitModes(), h.Wait) {
			v.add(path+".wait", "%s: wait %q is not one of %s", label, h.Wait, strings.Join(waitModes(), ", "))
		}
		if h.Wake != "" && !slices.Contains(wakeModes(), h.Wake) {
			v.add(path+".wake", "%s: wake %q is not one of %s", label, h.Wake, strings.Join(wakeModes(), ", "))
		}
		if h.MaxWakesPerDay < 0 {
			v.add(path+".max_wakes_per_day", "%s: max_wakes_per_day must not be negative (0 means no limit)", label)
		}
		if h.MaxWakesPerHour < 0 {
			v.add(path+".max_wakes_per_hour", "%s: max_wakes_per_hour must not be negative (0 means no limit)", label)
		}
		v.price(path+".price", label, h)
		v.hostPage(path+".page", label, h.Page)
		v.names(path+".entry_points", "entry_points", h.EntryPoints)
		v.names(path+".middlewares", "middlewares", h.Middlewares)
		for j, w := range h.Warm {
			if err := checkWarm(w); err != nil {
				v.add(fmt.Sprintf("%s.warm[%d]", path, j), "%s: warm %q: %v", label, w, err)
			}
		}
		if h.TimeZone != "" {
			if _, err := time.LoadLocation(h.TimeZone); err != nil {
				v.add(path+".timezone", "%s: timezone %q is not an IANA time zone name like Europe/Berlin or UTC", label, h.TimeZone)
			}
		}
		if h.TouchTokenFile != "" && h.TouchTokenEnv != "" {
			v.add(path+".touch_token_file", "%s has both touch_token_file and touch_token_env; keep one", label)
		}
	}
}

func definedList(defined []string) string {
	if len(defined) == 0 {
		return "no providers are defined; add one under providers:"
	}
	return "defined: " + strings.Join(defined, ", ")
}

// target checks the settings that locate the host's backend: its kind's
// own, and its sleep mode.
func (v *validator) target(path, label string, k providers.Kind, p Provider, h *Host) {
	if h.Target != nil {
		h.Target.Check(kindReport{v: v, path: path, subject: label, provider: h.Provider, kind: k.Name}, p.Settings)
	}
	if h.Sleep != "" && !slices.Contains(k.Sleep, h.Sleep) {
		v.add(path+".sleep", "%s: sleep %q is not possible with %s (choose %s)", label, h.Sleep, k.Name, orList(k.Sleep))
	}
}

// hostPage checks a host's page: colours that cannot be CSS, a logo of
// the host's own origin or a file (read, with the template, when the
// configuration is applied), a waiting page's status.
func (v *validator) hostPage(path, label string, p HostPage) {
	for _, c := range []struct{ key, value string }{{"accent", p.Accent}, {"background", p.Background}} {
		if c.value == "" {
			continue
		}
		if err := web.CheckColour(c.value); err != nil {
			v.add(path+"."+c.key, "%s: page.%s: %v", label, c.key, err)
		}
	}
	if p.LogoURL != "" {
		if err := web.CheckLogoURL(p.LogoURL); err != nil {
			v.add(path+".logo_url", "%s: page.%v", label, err)
		}
		if p.LogoFile != "" {
			v.add(path+".logo_file", "%s has both page.logo_url and page.logo_file; keep one", label)
		}
	}
	if err := web.CheckPageStatus(p.Status); err != nil {
		v.add(path+".status", "%s: page.%v", label, err)
	}
}

// price checks a host's price: finite amounts, a sleeping price only for
// a host that sleeps by suspend (a stopped backend costs nothing to
// waitingroom's knowledge), an ISO 4217 currency code.
func (v *validator) price(path, label string, h *Host) {
	if !v.has(path) {
		return
	}
	p := h.Price
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case !v.has(path + ".running"):
		v.add(path, "%s: price needs running: (what the backend costs per hour while it runs, e.g. 0.12)", label)
	case !finite(p.Running) || p.Running <= 0:
		v.add(path+".running", "%s: price.running must be a number greater than 0 (per hour while it runs)", label)
	}
	if v.has(path + ".suspended") {
		pc := v.f.Providers[h.Provider]
		sleep := cmp.Or(h.Sleep, pc.Sleep)
		if k, ok := v.kinds.Lookup(cmp.Or(pc.Type, h.Provider)); ok && sleep == "" {
			sleep = k.DefaultSleep()
		}
		switch {
		case !finite(p.Suspended) || p.Suspended < 0:
			v.add(path+".suspended", "%s: price.suspended must be a number, 0 or more (per hour while suspended)", label)
		case p.Suspended > 0 && sleep != "suspend":
			v.add(path+".suspended", "%s: price.suspended is for hosts that sleep by suspend (gce sleep: suspend); this host sleeps by %s", label, sleep)
		case finite(p.Running) && p.Suspended > p.Running:
			v.add(path+".suspended", "%s: price.suspended (%g) is more than price.running (%g): sleeping would cost more than running", label, p.Suspended, p.Running)
		}
	}
	if p.Currency != "" && !isCurrencyCode(p.Currency) {
		v.add(path+".currency", "%s: price.currency %q is not an ISO 4217 code like EUR, USD or JPY", label, p.Currency)
	}
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// checkWarm checks a warm window, "CRON for DURATION", with the parser
// the scheduler uses, so an accepted file never holds a window that fails
// to schedule.
func checkWarm(s string) error {
	_, err := window.Parse(s)
	return err
}
