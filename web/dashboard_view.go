package web

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/redact"
)

// hostJSON is one host as the dashboard and GET /api/hosts show it. The
// field names are the JSON API's contract; they may grow.
type hostJSON struct {
	Host       string           `json:"host"`
	State      controller.State `json:"state"`
	StateWords string           `json:"state_words"`
	Reason     string           `json:"reason,omitempty"`
	Changed    time.Time        `json:"changed,omitzero"`
	// Version is the record's version: it grows with every state change,
	// so a client can drop a view older than one it already has.
	Version  uint64 `json:"version"`
	Provider string `json:"provider"`
	// Target says which backend: "container=app", "instance=web-1
	// zone=europe-west1-b", "start: systemctl start legacy".
	Target string `json:"target"`
	Sleep  string `json:"sleep,omitempty"`
	Origin string `json:"origin,omitempty"`

	LastActivity   time.Time `json:"last_activity,omitzero"`
	ActivitySource string    `json:"activity_source,omitempty"`
	// ActivitySourceText is ActivitySource in plain words ("held
	// request", "found running"), as the dashboard shows it.
	ActivitySourceText string `json:"activity_source_text,omitempty"`
	// IdleTimeoutSeconds is the host's idle timeout; IdleInSeconds the
	// time left until the idle sweep stops it (null unless running),
	// IdleAt the same as a time.
	IdleTimeoutSeconds int       `json:"idle_timeout_seconds"`
	IdleInSeconds      *int      `json:"idle_in_seconds"`
	IdleAt             time.Time `json:"idle_at,omitzero"`
	// AwakeBecause says why a running host is considered busy right now
	// although its last request may be old (a warm window, an open
	// stream, keep_awake_while); empty: only its activity counts.
	AwakeBecause []string `json:"awake_because,omitempty"`

	WakesToday     int  `json:"wakes_today"`
	MaxWakesPerDay int  `json:"max_wakes_per_day"` // 0: no daily budget
	BudgetLeft     *int `json:"budget_left"`       // null: no daily budget

	LastWake      *wakeJSON `json:"last_wake"`
	AsleepHours7d float64   `json:"asleep_hours_7d"`

	Failures    int       `json:"failures,omitempty"`
	RetryAt     time.Time `json:"retry_at,omitzero"`
	WakePending bool      `json:"wake_pending,omitempty"`
	// Problem is set when the host's state could not be read (the store
	// is unreachable): the other fields are then incomplete.
	Problem string `json:"problem,omitempty"`
}

// wakeJSON is one entry of a host's wake history.
type wakeJSON struct {
	ID              string    `json:"id"`
	Requested       time.Time `json:"requested"`
	Finished        time.Time `json:"finished,omitzero"`
	DurationSeconds float64   `json:"duration_seconds"`
	Result          string    `json:"result"`
	Reason          string    `json:"reason,omitempty"`
	// Client is who triggered the wake, anonymised: "203.0.113.x
	// (browser)", an operator's name, "token ci".
	Client string `json:"client,omitempty"`
	Source string `json:"source,omitempty"` // page, hold, api, dashboard, warm, reconcile, ...
	// SourceText is Source in plain words, as the dashboard shows it.
	SourceText string `json:"source_text,omitempty"`
}

// sourceWords says a wake's or an activity's source in plain words: the
// dashboard's readers do not know the configuration's vocabulary ("hold",
// "adopted"). An unknown source is shown as it is.
func sourceWords(s string) string {
	switch s {
	case "page":
		return "waiting page"
	case "hold":
		return "held request (an API client waiting)"
	case "adopted":
		return "found running (started outside waitingroom)"
	case "api":
		return "API call"
	case "warm":
		return "warm window"
	case "reconcile":
		return "periodic check"
	case "traefik-forwardauth":
		return "request through Traefik"
	case "traefik-metrics":
		return "traffic seen in Traefik's metrics"
	case "wake":
		return "wake"
	}
	return s
}

// sleepWords says how an idle host goes to sleep: "stop" → "stopped".
func sleepWords(s string) string {
	switch s {
	case "stop":
		return "stopped"
	case "suspend":
		return "suspended"
	case "pause":
		return "paused"
	}
	return s
}

func wakeOf(w controller.WakeRecord) *wakeJSON {
	return &wakeJSON{
		ID: w.ID, Requested: w.Requested.UTC(), Finished: w.Finished.UTC(),
		DurationSeconds: w.Duration.Seconds(), Result: string(w.Result), Reason: redact.Text(w.Reason),
		Client: w.Client, Source: w.Source, SourceText: sourceWords(w.Source),
	}
}

// targetText says which backend a host is, from its registry values,
// with secrets hidden (a password in an argv or a URL).
func targetText(t controller.Target) string {
	if t.Backend == nil {
		return ""
	}
	return redact.Text(t.Backend.String())
}

// historyDepth is how much wake history the dashboard reads per host:
// enough for a day's budget count and a week's sleep estimate on most
// hosts (stores keep at least 100).
const historyDepth = 100

// hostView builds the dashboard's picture of one host. Reading never
// counts as activity.
func (a *Admin) hostView(ctx context.Context, h controller.Host) hostJSON {
	v := hostJSON{
		Host: h.Name, Provider: h.Provider, Target: targetText(h.Target), Sleep: h.Target.Sleep, Origin: h.Origin,
		IdleTimeoutSeconds: int(h.IdleTimeout / time.Second), MaxWakesPerDay: h.MaxWakesPerDay,
	}
	_, rec, err := a.ctl.Status(ctx, h.Name)
	if err != nil {
		v.State, v.StateWords = controller.StateUnknown, controller.StateUnknown.Words()
		v.Problem = "state unavailable: " + redact.Text(err.Error())
		return v
	}
	if !rec.State.Valid() {
		rec.State = controller.StateUnknown
	}
	now := a.ctl.Now()
	v.State, v.StateWords, v.Reason, v.Version = rec.State, rec.State.Words(), redact.Text(rec.Reason), rec.Version
	if !rec.Changed.IsZero() {
		v.Changed = rec.Changed.UTC()
	}
	if !rec.LastActivity.IsZero() {
		v.LastActivity = rec.LastActivity.UTC()
	}
	v.ActivitySource, v.ActivitySourceText = rec.ActivitySource, sourceWords(rec.ActivitySource)
	v.Failures, v.WakePending = rec.Failures, rec.WakePending
	if rec.State == controller.StateFailed && !rec.RetryAt.IsZero() {
		v.RetryAt = rec.RetryAt.UTC()
	}
	if in, ok := a.ctl.IdleIn(h, rec); ok {
		secs := int(in / time.Second)
		v.IdleInSeconds = &secs
		v.IdleAt = now.Add(in).UTC()
		if a.opts.Busy != nil {
			v.AwakeBecause = a.opts.Busy(ctx, h, now)
		}
	}
	wakes, werr := a.wakeCache.get(ctx, a.ctl, h.Name, now)
	if werr != nil {
		v.Problem = "wake history unavailable: " + redact.Text(werr.Error())
	}
	if len(wakes) > 0 {
		v.LastWake = wakeOf(wakes[0])
	}
	v.WakesToday = wakesToday(wakes, now)
	if a.opts.WakeBudget != nil {
		if n, perDay, err := a.opts.WakeBudget(ctx, h); err == nil {
			v.WakesToday, v.MaxWakesPerDay = n, perDay
		}
	}
	if v.MaxWakesPerDay > 0 {
		left := max(0, v.MaxWakesPerDay-v.WakesToday)
		v.BudgetLeft = &left
	}
	asleep := asleepWithin(now.Add(-asleepWindow), now, h.IdleTimeout, wakes, a.feed.transitions(h.Name), rec)
	v.AsleepHours7d = float64(asleep.Round(6*time.Minute)) / float64(time.Hour)
	return v
}

// wakesToday counts the wakes requested since midnight UTC (newest first
// in wakes), failed ones included: they cost a start too.
func wakesToday(wakes []controller.WakeRecord, now time.Time) int {
	y, m, d := now.UTC().Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	n := 0
	for _, w := range wakes {
		if w.Requested.Before(midnight) {
			break
		}
		n++
	}
	return n
}

// hostViews builds every registered host's view, sorted by name, reading
// the store for at most a few hosts at a time.
func (a *Admin) hostViews(ctx context.Context) []hostJSON {
	hosts := a.ctl.Registry().Hosts()
	out := make([]hostJSON, len(hosts))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = a.hostView(ctx, h)
		}()
	}
	wg.Wait()
	return out
}

// wakeCache keeps each host's recent wake history for a short while, so
// that event streams refreshing every few seconds do not read the whole
// history from the store each time. An event for the host (a wake ended)
// drops its entry.
type wakeCache struct {
	mu      sync.Mutex
	entries map[string]wakeEntry
}

type wakeEntry struct {
	wakes   []controller.WakeRecord
	fetched time.Time
}

const wakeCacheTTL = 30 * time.Second

func newWakeCache() *wakeCache { return &wakeCache{entries: map[string]wakeEntry{}} }

func (c *wakeCache) get(ctx context.Context, ctl AdminController, host string, now time.Time) ([]controller.WakeRecord, error) {
	c.mu.Lock()
	e, ok := c.entries[host]
	c.mu.Unlock()
	if ok && now.Sub(e.fetched) < wakeCacheTTL && !now.Before(e.fetched) {
		return e.wakes, nil
	}
	wakes, err := ctl.Wakes(ctx, host, historyDepth)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.entries[host] = wakeEntry{wakes: wakes, fetched: now}
	c.mu.Unlock()
	return wakes, nil
}

func (c *wakeCache) forget(host string) {
	c.mu.Lock()
	delete(c.entries, host)
	c.mu.Unlock()
}

// errorStatus maps the controller's errors to HTTP statuses and messages
// an operator can act on.
func errorStatus(err error) (int, string) {
	var be *controller.BudgetError
	switch {
	case errors.Is(err, controller.ErrUnknownHost):
		return 404, err.Error()
	case errors.As(err, &be):
		return 429, be.Error()
	case errors.Is(err, controller.ErrConflict):
		return 409, err.Error() + "; try again once the host is running"
	case errors.Is(err, controller.ErrWakeRefused):
		return 403, err.Error()
	case errors.Is(err, controller.ErrStoreUnavailable):
		return 503, err.Error()
	}
	return 500, err.Error()
}
