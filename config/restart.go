package config

import (
	"reflect"
	"strings"
)

// liveSettings are the settings a reload applies to the running process
// (cmd/waitingroom's apply: the registry, its providers and defaults, the
// scheduler's intervals, the admin's users and tokens; GET /api/traefik
// generates Traefik's routes from the configuration in use, so the
// settings of those routes apply too; the budgets' per-host limits are
// resolved into the hosts, which guard enforces as they are). Every other
// setting is read once at start: listeners, the store, the page, limits,
// the client and concurrency budgets, Traefik's metrics and forward auth,
// webhooks...
func liveSettings() []string {
	return []string{"hosts", "providers", "defaults", "scheduler", "admin.users", "admin.tokens",
		"budgets.max_wakes_per_day", "budgets.max_wakes_per_hour",
		"traefik.waitingroom_url", "traefik.entry_points", "traefik.fallback", "traefik.health_check_interval",
		"traefik.health_check_timeout", "traefik.unhealthy_interval", "traefik.dial_timeout",
		"traefik.max_request_body_bytes", "traefik.cert_resolver", "traefik.middlewares"}
}

// RestartNeeded lists the settings (as "page", "limits", "admin.listen")
// in which next differs from running, the configuration the process
// started with, and that a reload does not apply: they take effect only
// after a restart. Nil when every difference is applied by a reload.
func RestartNeeded(running, next *Config) []string {
	if running == nil || next == nil {
		return nil
	}
	var out []string
	diff(reflect.ValueOf(running.File), reflect.ValueOf(next.File), "", &out)
	return out
}

// diff appends the yaml keys of the fields of the structs a and b that
// differ, descending into a section some of whose settings are live
// (admin: its users and tokens, not its listener) and skipping the live
// ones.
func diff(a, b reflect.Value, path string, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		sub := join(path, key)
		if isLive(sub) {
			continue
		}
		fa, fb := a.Field(i), b.Field(i)
		if hasLive(sub) {
			diff(fa, fb, sub, out)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			*out = append(*out, sub)
		}
	}
}

// hasLive tells whether some, not all, of the section key's settings are
// live.
func hasLive(key string) bool {
	for _, l := range liveSettings() {
		if strings.HasPrefix(l, key+".") {
			return true
		}
	}
	return false
}

func isLive(key string) bool {
	for _, l := range liveSettings() {
		if l == key {
			return true
		}
	}
	return false
}
