package config

import (
	"reflect"
	"strings"
)

// liveSettings are the settings a reload applies to the running process
// (cmd/waitingroom's apply: the registry, its providers and defaults, the
// scheduler's intervals, the admin's users and tokens). Every other
// setting is read once at start: listeners, the store, the page, limits,
// budgets, Traefik, webhooks...
func liveSettings() []string {
	return []string{"hosts", "providers", "defaults", "scheduler", "admin.users", "admin.tokens"}
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
// differ, descending into admin (whose users and tokens are live while its
// listener is not) and skipping the live ones.
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
		if sub == "admin" {
			diff(fa, fb, sub, out)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			*out = append(*out, sub)
		}
	}
}

func isLive(key string) bool {
	for _, l := range liveSettings() {
		if l == key {
			return true
		}
	}
	return false
}
