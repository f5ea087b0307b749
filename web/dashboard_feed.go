package web

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/redact"
)

// logEntry is one line of the dashboard's event log, and the data of an
// `event: event` on /api/events.
type logEntry struct {
	At     time.Time        `json:"at"`
	Host   string           `json:"host"`
	From   controller.State `json:"from"`
	State  controller.State `json:"state"`
	Reason string           `json:"reason,omitempty"`
	// DurationSeconds is the wake's duration on starting → running.
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	// Text says what happened in words: "wake requested by 203.0.113.x
	// (browser)", "started in 12.3 s", "stopped", "failed: ...".
	Text string `json:"text"`
	// Level is info, ok, warn or error (the log's colour).
	Level string `json:"level"`
}

func entryOf(e controller.Event) logEntry {
	e.Reason = redact.Text(e.Reason)
	le := logEntry{At: e.At.UTC(), Host: e.Host, From: e.From, State: e.To, Reason: e.Reason, Level: "info"}
	if e.Duration > 0 {
		le.DurationSeconds = e.Duration.Seconds()
	}
	switch {
	case e.To == controller.StateStarting && e.Reason != "":
		le.Text = e.Reason // "wake requested by ..." / "found starting"
	case e.To == controller.StateStarting:
		le.Text = "starting"
	case e.To == controller.StateRunning && e.From == controller.StateStarting && e.Duration > 0:
		le.Text, le.Level = "started in "+durationText(e.Duration), "ok"
	case e.To == controller.StateRunning:
		le.Text, le.Level = "running"+suffix(e.Reason), "ok"
	case e.To == controller.StateStopping:
		le.Text = "stopping" + suffix(e.Reason)
	case e.To == controller.StateStopped && e.From == controller.StateStopping:
		le.Text = "stopped"
	case e.To == controller.StateStopped:
		le.Text = "stopped" + suffix(e.Reason)
	case e.To == controller.StateFailed:
		le.Text, le.Level = "failed"+suffixColon(e.Reason), "error"
	default:
		le.Text, le.Level = string(e.To)+suffix(e.Reason), "warn"
	}
	return le
}

func suffix(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

func suffixColon(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// eventFeed keeps the recent events of every host (the event log). It
// lives in memory: after a restart the log starts empty.
type eventFeed struct {
	size int

	mu   sync.Mutex
	ring []logEntry // oldest first once full: next is the oldest
	next int
}

func newEventFeed(size int) *eventFeed {
	return &eventFeed{size: size, ring: make([]logEntry, 0, size)}
}

func (f *eventFeed) add(e controller.Event) logEntry {
	le := entryOf(e)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ring) < f.size {
		f.ring = append(f.ring, le)
	} else {
		f.ring[f.next] = le
		f.next = (f.next + 1) % f.size
	}
	return le
}

// entries returns the log, newest first, optionally of one host only.
func (f *eventFeed) entries(host string, limit int) []logEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []logEntry
	n := len(f.ring)
	for i := 0; i < n && len(out) < limit; i++ {
		// Newest is just before next once the ring wrapped, else last.
		idx := (f.next - 1 - i + 2*n) % n
		if len(f.ring) < f.size {
			idx = n - 1 - i
		}
		if host == "" || f.ring[idx].Host == host {
			out = append(out, f.ring[idx])
		}
	}
	return out
}

// Run feeds the dashboard's event log (and drops cached history) from every
// replica's events until ctx is done. The event streams of /api/events
// work without it; the log needs it.
func (a *Admin) Run(ctx context.Context) error {
	events := a.ctl.Subscribe(ctx, "")
	a.feedOnce.Do(func() { close(a.feeding) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				return nil
			}
			a.wakeCache.forget(e.Host)
			le := a.feed.add(e)
			a.log.Debug("event", "host", e.Host, "what", le.Text)
		}
	}
}

// Feeding is closed once Run has subscribed: events from then on reach the
// event log.
func (a *Admin) Feeding() <-chan struct{} { return a.feeding }

// durationText writes a duration the way the dashboard shows it: "850
// ms", "12.3 s", "4 min 5 s", "2 h 5 min".
func durationText(d time.Duration) string {
	switch {
	case d < 0:
		return "0 s"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if s == 0 {
			return fmt.Sprintf("%d min", m)
		}
		return fmt.Sprintf("%d min %d s", m, s)
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// agoText writes how long ago t was: "12 s ago", "5 min ago", "3 h ago",
// "2 d ago"; "never" for the zero time.
func agoText(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d d ago", int(d.Hours()/24))
}
