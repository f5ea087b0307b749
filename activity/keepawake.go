package activity

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/waitingroom/waitingroom/controller"
)

// KeepAwakeOptions configure a KeepAwake.
type KeepAwakeOptions struct {
	// Client makes the probes; default a client that neither follows
	// redirects nor uses a proxy from the environment.
	Client *http.Client
	// Timeout bounds one probe (default 2s): the sweep waits for it.
	Timeout time.Duration
	// CacheFor is how long a probe's answer is reused (default 5s), so a
	// sweep and a dashboard refresh together probe once.
	CacheFor time.Duration
	// Status returns the provider's last reported status of a host, to
	// fill {internal_ip} and {external_ip} (controller.LastStatus).
	// Optional: without it such URLs are not probed.
	Status func(host string) (controller.Status, bool)
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now times the cache; default time.Now.
	Now func() time.Time
}

// KeepAwake is a controller.BusyChecker for hosts with keep_awake_while:
// while that URL answers 2xx the host is busy (a backend exposes "a job is
// running" as an endpoint). It probes only when the sweep asks, that is for
// running hosts already past their idle timeout. A probe that fails or
// times out says "not busy": a backend that cannot answer is not held
// awake by it.
type KeepAwake struct {
	client   *http.Client
	timeout  time.Duration
	cacheFor time.Duration
	status   func(string) (controller.Status, bool)
	log      *slog.Logger
	now      func() time.Time

	sf    singleflight.Group
	mu    sync.Mutex
	cache map[string]probeResult // keyed by the expanded URL
}

type probeResult struct {
	at   time.Time
	busy bool
	why  string
}

var _ controller.BusyChecker = (*KeepAwake)(nil)

// NewKeepAwake builds a KeepAwake.
func NewKeepAwake(o KeepAwakeOptions) *KeepAwake {
	if o.Client == nil {
		o.Client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.CacheFor <= 0 {
		o.CacheFor = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &KeepAwake{
		client: o.Client, timeout: o.Timeout, cacheFor: o.CacheFor, status: o.Status,
		log: o.Logger, now: o.Now, cache: map[string]probeResult{},
	}
}

// Busy probes the host's keep_awake_while URL (or reuses a recent answer).
func (k *KeepAwake) Busy(ctx context.Context, h controller.Host, _ time.Time) (bool, string) {
	raw := SettingsOf(h).KeepAwakeWhile
	if raw == "" {
		return false, ""
	}
	u := raw
	if strings.Contains(u, "{internal_ip}") || strings.Contains(u, "{external_ip}") {
		if k.status == nil {
			return false, ""
		}
		st, ok := k.status(h.Name)
		if !ok {
			return false, ""
		}
		var err error
		if u, err = controller.ExpandReadyURL(u, st); err != nil {
			return false, ""
		}
	}
	if r, ok := k.cached(u); ok {
		return r.busy, r.why
	}
	v, _, _ := k.sf.Do(u, func() (any, error) {
		r := k.probe(ctx, h.Name, u)
		k.remember(u, r)
		return r, nil
	})
	r := v.(probeResult)
	return r.busy, r.why
}

func (k *KeepAwake) cached(u string) (probeResult, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.cache[u]
	if !ok {
		return probeResult{}, false
	}
	if k.now().Sub(r.at) >= k.cacheFor {
		delete(k.cache, u)
		return probeResult{}, false
	}
	return r, true
}

// maxProbeCache bounds the cache; URLs of hosts removed by reloads are
// pruned once it is reached.
const maxProbeCache = 256

func (k *KeepAwake) remember(u string, r probeResult) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.cache) >= maxProbeCache {
		for key, old := range k.cache {
			if k.now().Sub(old.at) >= k.cacheFor {
				delete(k.cache, key)
			}
		}
	}
	k.cache[u] = r
}

func (k *KeepAwake) probe(ctx context.Context, host, u string) probeResult {
	// The probe runs under singleflight for every caller: it must not end
	// because the first caller's context did.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.timeout)
	defer cancel()
	res := probeResult{at: k.now()}
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, u, nil)
	if err != nil {
		k.log.Warn("keep_awake_while is not a valid URL", "host", host, "err", err)
		return res
	}
	req.Header.Set("User-Agent", "waitingroom-keep-awake")
	resp, err := k.client.Do(req)
	if err != nil {
		k.log.Debug("keep_awake_while did not answer; not busy", "host", host, "err", err)
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		res.busy = true
		res.why = fmt.Sprintf("keep_awake_while answered %d", resp.StatusCode)
	}
	return res
}
