package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/guard"
	"github.com/waitingroom/waitingroom/hold"
	"github.com/waitingroom/waitingroom/internal/hostname"
	"github.com/waitingroom/waitingroom/providers"
	"github.com/waitingroom/waitingroom/scheduler"
	"github.com/waitingroom/waitingroom/traefik"
	"github.com/waitingroom/waitingroom/web"
)

// Config is a validated configuration file with every default applied.
// It is never modified after Parse returns; a reload builds a new one.
type Config struct {
	// File is the configuration as written, with defaults filled in and
	// hostnames in canonical form.
	File File
	// Path is the file it was read from (the name given to Parse).
	Path string
	// LoadedAt is when it was read.
	LoadedAt time.Time
	// Digest is the SHA-256 of the file's bytes (hex): reloads of an
	// unchanged file are skipped by comparing it.
	Digest string

	empty bool           // the file has no settings at all (empty, or comments only)
	lines map[string]int // lines of the settings outside hosts: (for Where)
}

// Empty reports whether the file has no settings at all (empty, or
// comments only): every default, no host. Commands refuse it, since it is
// almost always the wrong file.
func (c *Config) Empty() bool { return c.empty }

// Where names the place of a setting for an error message: "FILE:LINE"
// when the file sets it (key as written, "admin.listen"), else "FILE
// (default)" for a value the file leaves to its default.
func (c *Config) Where(key string) string {
	if l, ok := c.lines[key]; ok {
		return c.Path + ":" + strconv.Itoa(l)
	}
	return c.Path + " (" + key + " not set: the default)"
}

// Defaults that are not zero values. Documented in types.go and docs/configuration.md.
const (
	DefaultListen            = ":8080"
	DefaultAdminListen       = "127.0.0.1:8081"
	DefaultIdleTimeout       = 30 * time.Minute
	DefaultStartTimeout      = 5 * time.Minute
	DefaultHoldTimeout       = hold.DefaultTimeout
	DefaultWait              = "auto"
	DefaultWake              = "auto"
	DefaultSweepInterval     = scheduler.DefaultSweepInterval
	DefaultReconcileInterval = scheduler.DefaultReconcileInterval
	DefaultTimeZone          = "UTC"
)

// DefaultTrustedProxies is used when trusted_proxies is absent (an empty
// list, written out, trusts no proxy).
func DefaultTrustedProxies() []string { return []string{"127.0.0.1/32", "::1/128"} }

// Load reads and validates the file at path, knowing the provider kinds
// kinds. On failure the error is an *Errors listing every problem as
// FILE:LINE: message.
func Load(path string, kinds providers.Kinds) (*Config, error) {
	data, err := readLimited(path)
	if err != nil {
		p := &problems{file: path}
		p.addCause(0, err, "cannot read the configuration: %v", err)
		return nil, p.err()
	}
	return Parse(path, data, kinds)
}

// readLimited reads at most MaxFileSize+1 bytes, so that pointing --config
// at /dev/zero or a huge log fails quickly.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// Parse validates data, naming it name in errors; kinds are the provider
// kinds it knows (providers/kinds.All). On failure the error is an
// *Errors listing every problem found, not only the first.
func Parse(name string, data []byte, kinds providers.Kinds) (*Config, error) {
	p := &problems{file: name}
	f, lines, failed, decoded := decodeFile(p, data, kinds)
	if !decoded {
		return nil, p.err()
	}
	validate(p, lines, failed, &f, kinds)
	if err := p.err(); err != nil {
		return nil, err
	}
	applyDefaults(&f, lines, kinds)
	sum := sha256.Sum256(data)
	settings := map[string]int{}
	for k, l := range lines {
		if !strings.HasPrefix(k, "hosts") { // hosts are most of a large file and need no Where
			settings[k] = l
		}
	}
	return &Config{File: f, Path: name, LoadedAt: time.Now(), Digest: hex.EncodeToString(sum[:]), empty: len(lines) == 0, lines: settings}, nil
}

// applyDefaults fills what the operator left out. Presence is judged by
// the key being in the file (lines), so that an explicit 0 where 0 is
// meaningful (a host's max_wakes_per_day: 0 lifting the global budget) is
// kept.
func applyDefaults(f *File, lines map[string]int, kinds providers.Kinds) {
	has := func(path string) bool { _, ok := lines[path]; return ok }
	setStr := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	setDur := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	setInt := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	setStr(&f.Listen, DefaultListen)
	setStr(&f.Admin.Listen, DefaultAdminListen)
	setDur(&f.Defaults.IdleTimeout, DefaultIdleTimeout)
	setDur(&f.Defaults.StartTimeout, DefaultStartTimeout)
	setDur(&f.Defaults.HoldTimeout, DefaultHoldTimeout)
	setStr(&f.Defaults.Wait, DefaultWait)
	setDur(&f.Scheduler.SweepInterval, DefaultSweepInterval)
	setDur(&f.Scheduler.ReconcileInterval, DefaultReconcileInterval)

	setStr(&f.Traefik.WaitingroomURL, urlFromListen(f.Listen))
	setStr(&f.Traefik.Fallback, "failover-errors")
	setDur(&f.Traefik.HealthCheckInterval, 3*time.Second)
	setDur(&f.Traefik.HealthCheckTimeout, 2*time.Second)
	setDur(&f.Traefik.DialTimeout, 2*time.Second)
	setDur(&f.Traefik.UnhealthyInterval, 10*time.Second)
	if f.Traefik.MaxRequestBodyBytes == 0 {
		f.Traefik.MaxRequestBodyBytes = 1 << 20
	}
	setDur(&f.Traefik.MetricsInterval, 15*time.Second)
	if f.TrustedProxies == nil { // absent or "trusted_proxies:" with no value; [] stays empty
		f.TrustedProxies = DefaultTrustedProxies()
	}
	setInt(&f.Limits.MaxHeaderBytes, web.DefaultMaxHeaderBytes)
	setInt(&f.Limits.MaxHostLength, web.MaxHostLength)
	setInt(&f.Limits.MaxURLLength, web.DefaultMaxURLLength)
	setDur(&f.Budgets.HoneypotBlock, guard.DefaultHoneypotBlock)
	// Wake budgets are on unless set to 0 explicitly (docs/SECURITY.md
	// says why these numbers).
	for key, b := range map[string]*int{
		"max_wakes_per_day": &f.Budgets.MaxWakesPerDay, "max_wakes_per_hour": &f.Budgets.MaxWakesPerHour,
		"client_wakes_per_hour": &f.Budgets.ClientWakesPerHour, "prefix_wakes_per_hour": &f.Budgets.PrefixWakesPerHour,
		"max_concurrent_starts": &f.Budgets.MaxConcurrentStarts,
	} {
		if !has("budgets." + key) {
			*b = DefaultBudgets()[key]
		}
	}
	setInt(&f.Monitors.Status, 200)
	if !has("monitors.body") {
		f.Monitors.Body = "sleeping"
	}
	// Held bodies are buffered: max_total × max_body_bytes bounds their
	// memory (64 MiB with these defaults).
	setInt(&f.Hold.MaxPerHost, hold.DefaultMaxPerHost)
	setInt(&f.Hold.MaxTotal, hold.DefaultMaxTotal)
	setInt(&f.Hold.MaxBodyBytes, hold.DefaultMaxBodyBytes)
	setInt(&f.Hold.MaxForwardPerHost, hold.DefaultMaxForwardPerHost)

	for name, p := range f.Providers {
		path := "providers." + name
		setStr(&p.Type, name)
		if k, ok := kinds.Lookup(p.Type); ok {
			setStr(&p.Sleep, k.DefaultSleep())
		}
		if p.Adopt == nil {
			adopt := true
			p.Adopt = &adopt
		}
		if p.Settings != nil {
			p.Settings.Default(func(key string) bool { return has(path + "." + key) })
		}
		f.Providers[name] = p
	}

	for i := range f.Hosts {
		h := &f.Hosts[i]
		path := fmt.Sprintf("hosts[%d]", i)
		h.Host, _ = hostname.Check(h.Host) // validated: cannot fail
		p := f.Providers[h.Provider]
		setDur(&h.IdleTimeout, f.Defaults.IdleTimeout.D())
		setDur(&h.StartTimeout, f.Defaults.StartTimeout.D())
		setDur(&h.HoldTimeout, f.Defaults.HoldTimeout.D())
		setStr(&h.Wait, f.Defaults.Wait)
		setStr(&h.Wake, DefaultWake)
		setStr(&h.Sleep, p.Sleep)
		if h.Target != nil {
			h.Target.Default(p.Settings)
		}
		if !has(path + ".max_wakes_per_day") {
			h.MaxWakesPerDay = f.Budgets.MaxWakesPerDay
		}
		if !has(path + ".max_wakes_per_hour") {
			h.MaxWakesPerHour = f.Budgets.MaxWakesPerHour
		}
		setStr(&h.URL, origin(h.ReadyURL))
		setStr(&h.TimeZone, DefaultTimeZone)
	}
}

// urlFromListen derives how a local Traefik reaches the public listener:
// ":8080" and "0.0.0.0:8080" → http://127.0.0.1:8080, "[::]:8080" →
// http://[::1]:8080; "" for port 0.
func urlFromListen(listen string) string {
	_, portStr, err := net.SplitHostPort(listen)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || port <= 0 {
		return "" // port 0: known only once listening; the caller derives it then
	}
	u, _ := traefik.DefaultWaitingroomURL(listen) // the one derivation; listen parsed above
	return u
}

// origin is scheme://host[:port] of an http(s) URL (placeholders kept), or
// "" when there is none. Credentials are dropped: they must never travel
// into a generated Traefik configuration.
func origin(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	return strings.ToLower(scheme) + "://" + rest
}
