package traefik

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/waitingroom/waitingroom/controller"
)

// requestsMetric is Traefik's per-service request counter. Requests are
// counted on the load balancer that served them: a backend's own service
// for real traffic, waitingroom's for fallback traffic.
const requestsMetric = "traefik_service_requests_total"

// MetricsOptions configure a MetricsSource.
type MetricsOptions struct {
	// URL of Traefik's Prometheus endpoint, e.g. http://traefik:8082/metrics.
	URL string
	// Interval between scrapes; default 15s.
	Interval time.Duration
	// Timeout of one scrape; default the interval, at most 10s.
	Timeout time.Duration
	// Client makes the requests; default a plain client (Timeout applies
	// either way).
	Client *http.Client
	// HostOf maps a service label ("app-example-com-backend@http") to the
	// host whose backend it is; services it does not know — waitingroom's
	// fallback among them — are not activity. BackendHostOf builds one.
	// Required.
	HostOf func(service string) (host string, ok bool)
	// Toucher receives the activity. Required.
	Toucher Toucher
	// Logger; default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes caps a scrape's body; default 32 MiB.
	MaxBodyBytes int64
}

// MetricsSource polls Traefik's Prometheus endpoint and touches every host
// whose backend served requests since the previous scrape. It costs nothing
// on the request path; its resolution is the scrape interval, and a request
// counts when it completes (a two-hour stream shows up when it ends).
type MetricsSource struct {
	url      string
	interval time.Duration
	timeout  time.Duration
	client   *http.Client
	hostOf   func(string) (string, bool)
	toucher  Toucher
	log      *slog.Logger
	maxBody  int64

	// last holds the previous successful scrape's counters per service
	// label; nil until the first one, which only sets the baselines.
	last map[string]float64
}

// NewMetricsSource checks opts and builds a source; Run starts it.
func NewMetricsSource(opts MetricsOptions) (*MetricsSource, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("traefik metrics url %q: want http(s)://host:port/path", opts.URL)
	}
	if opts.HostOf == nil {
		return nil, errors.New("traefik metrics source: HostOf is required")
	}
	if opts.Toucher == nil {
		return nil, errors.New("traefik metrics source: Toucher is required")
	}
	if opts.Interval <= 0 {
		opts.Interval = 15 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = min(opts.Interval, 10*time.Second)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 32 << 20
	}
	return &MetricsSource{
		url: opts.URL, interval: opts.Interval, timeout: opts.Timeout, client: opts.Client,
		hostOf: opts.HostOf, toucher: opts.Toucher, log: opts.Logger.With("source", SourceMetrics),
		maxBody: opts.MaxBodyBytes,
	}, nil
}

// Run scrapes at once (setting the baselines) and then every interval until
// ctx is done. A failed scrape is logged and retried at the next tick; the
// baselines of the last good scrape are kept, so no activity is lost or
// invented across a failure. Run returns nil when ctx is done.
func (s *MetricsSource) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if err := s.scrape(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scraping traefik metrics failed; retrying next interval", "url", s.url, "err", err, "in", s.interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// scrape reads the counters once and touches the hosts whose counters moved.
func (s *MetricsSource) scrape(ctx context.Context) error {
	counts, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	prev := s.last
	s.last = counts
	if prev == nil {
		return nil
	}
	var moved []string
	for svc, now := range counts {
		before, seen := prev[svc]
		// A series that appeared since the last scrape counted requests
		// in between. A drop means Traefik restarted and counts from zero:
		// anything above zero is new requests, never a negative delta.
		if now > before || (now < before && now > 0) || (!seen && now > 0) {
			if host, ok := s.hostOf(svc); ok && !slices.Contains(moved, host) {
				moved = append(moved, host)
			}
		}
	}
	slices.Sort(moved)
	for _, host := range moved {
		tctx, cancel := context.WithTimeout(ctx, s.timeout)
		err := s.toucher.Touch(tctx, host, SourceMetrics)
		cancel()
		switch {
		case errors.Is(err, controller.ErrUnknownHost):
			s.log.Debug("activity for a host no longer registered", "host", host)
		case err != nil:
			s.log.Warn("recording activity failed", "host", host, "err", err)
		default:
			s.log.Debug("activity", "host", host)
		}
	}
	return nil
}

// fetch returns traefik_service_requests_total summed per service label.
func (s *MetricsSource) fetch(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	// The text format is the one the parser reads; promhttp honours this.
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: status %s", s.url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&capped{r: resp.Body, left: s.maxBody})
	if err != nil {
		return nil, fmt.Errorf("parsing metrics from %s: %w", s.url, err)
	}
	counts := map[string]float64{}
	fam := fams[requestsMetric]
	if fam == nil {
		return counts, nil
	}
	for _, m := range fam.GetMetric() {
		var svc string
		for _, l := range m.GetLabel() {
			if l.GetName() == "service" {
				svc = l.GetValue()
				break
			}
		}
		if svc == "" {
			continue
		}
		// Without a TYPE line the family is untyped; read either.
		v := m.GetCounter().GetValue() + m.GetUntyped().GetValue()
		counts[svc] += v
	}
	return counts, nil
}

// errBodyTooLarge stops parsing a body over the cap instead of reading a
// truncated one as if it were whole.
var errBodyTooLarge = errors.New("metrics body too large")

type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
