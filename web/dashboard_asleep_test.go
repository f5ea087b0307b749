package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

func TestAsleepWithin(t *testing.T) {
	now := time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)
	from := now.Add(-asleepWindow)
	h := func(d float64) time.Duration { return time.Duration(d * float64(time.Hour)) }
	ago := func(hours float64) time.Time { return now.Add(-h(hours)) }
	wake := func(requestedAgo, seconds float64, ok bool) controller.WakeRecord {
		w := controller.WakeRecord{Requested: ago(requestedAgo), Duration: time.Duration(seconds * float64(time.Second)), Result: controller.WakeRunning}
		w.Finished = w.Requested.Add(w.Duration)
		if !ok {
			w.Result = controller.WakeFailed
		}
		return w
	}
	rec := func(s controller.State, changedAgo float64) controller.Record {
		return controller.Record{State: s, Changed: ago(changedAgo), Version: 3}
	}
	tests := []struct {
		name  string
		idle  time.Duration
		wakes []controller.WakeRecord // newest first, as the store returns them
		seen  []transition
		rec   controller.Record
		want  time.Duration
	}{
		{name: "never woken, nothing known", idle: 30 * time.Minute, want: asleepWindow},
		{name: "stopped for ten days", rec: rec(controller.StateStopped, 240), want: asleepWindow},
		{name: "running for ten days", rec: rec(controller.StateRunning, 240), want: 0},
		{
			name: "one wake from history, idle timeout counted awake", idle: time.Hour,
			wakes: []controller.WakeRecord{wake(50, 0, true)},
			rec:   rec(controller.StateStopped, 48.9),
			// Awake from the request for the idle timeout; the record's
			// stop (which may be a restart's "found stopped") is not
			// taken to mean it was awake until then.
			want: asleepWindow - h(1),
		},
		{
			name: "history only (record older): idle timeout is the estimate", idle: time.Hour,
			wakes: []controller.WakeRecord{wake(10, 0, true), wake(30, 0, true)},
			rec:   rec(controller.StateUnknown, 0), want: asleepWindow - h(2),
		},
		{
			name: "a wake before the previous one's idle timeout ran out keeps it awake", idle: 2 * time.Hour,
			wakes: []controller.WakeRecord{wake(29, 0, true), wake(30, 0, true)},
			rec:   controller.Record{}, want: asleepWindow - h(3),
		},
		{
			name: "failed wake sleeps again when it failed", idle: time.Hour,
			wakes: []controller.WakeRecord{wake(20, 360, false)},
			want:  asleepWindow - 6*time.Minute,
		},
		{
			name: "seen stop beats the idle-timeout guess", idle: time.Hour,
			wakes: []controller.WakeRecord{wake(10, 0, true)},
			seen: []transition{
				{at: ago(10), state: controller.StateStarting}, {at: ago(10), state: controller.StateRunning},
				{at: ago(5), state: controller.StateStopping}, {at: ago(5), state: controller.StateStopped},
			},
			rec: rec(controller.StateStopped, 5), want: asleepWindow - h(5),
		},
		{
			name: "running now since a wake three hours ago", idle: 30 * time.Minute,
			wakes: []controller.WakeRecord{wake(3, 0, true)},
			rec:   rec(controller.StateRunning, 3), want: asleepWindow - h(3),
		},
		{
			name: "awake since before the window", idle: time.Hour,
			seen: []transition{{at: ago(200), state: controller.StateRunning}, {at: ago(24), state: controller.StateStopped}},
			rec:  rec(controller.StateStopped, 24), want: h(24),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := asleepWithin(from, now, tt.idle, tt.wakes, tt.seen, tt.rec)
			if got != tt.want {
				t.Errorf("asleep %s, want %s", got, tt.want)
			}
		})
	}
}

func TestEventFeedKeepsNewestFirstAndBounded(t *testing.T) {
	f := newEventFeed(5)
	at := time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)
	for i := range 12 {
		host := "a.example.com"
		if i%2 == 1 {
			host = "b.example.com"
		}
		f.add(controller.Event{Host: host, From: controller.StateStopped, To: controller.StateStarting,
			Reason: fmt.Sprintf("wake %d", i), At: at.Add(time.Duration(i) * time.Second)})
	}
	all := f.entries("", 100)
	if len(all) != 5 || all[0].Reason != "wake 11" || all[4].Reason != "wake 7" {
		t.Fatalf("entries: %+v", all)
	}
	b := f.entries("b.example.com", 100)
	if len(b) != 3 || b[0].Reason != "wake 11" || b[2].Reason != "wake 7" {
		t.Errorf("b's entries: %+v", b)
	}
	if n := len(f.transitions("a.example.com")); n != 6 {
		t.Errorf("a has %d transitions, want 6", n)
	}
}

func TestEventTexts(t *testing.T) {
	tests := []struct {
		e     controller.Event
		text  string
		level string
	}{
		{controller.Event{From: "stopped", To: "starting", Reason: "wake requested by 203.0.113.x (browser)"}, "wake requested by 203.0.113.x (browser)", "info"},
		{controller.Event{From: "starting", To: "running", Duration: 12300 * time.Millisecond}, "started in 12 s", "ok"},
		{controller.Event{From: "running", To: "stopping", Reason: "idle for 30m0s"}, "stopping (idle for 30m0s)", "info"},
		{controller.Event{From: "stopping", To: "stopped"}, "stopped", "info"},
		{controller.Event{From: "starting", To: "failed", Reason: "start: no such container"}, "failed: start: no such container", "error"},
		{controller.Event{From: "unknown", To: "running", Reason: "found running"}, "running (found running)", "ok"},
	}
	for _, tt := range tests {
		le := entryOf(tt.e)
		if le.Text != tt.text || le.Level != tt.level {
			t.Errorf("%v: %q %s, want %q %s", tt.e, le.Text, le.Level, tt.text, tt.level)
		}
	}
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond: "850 ms", 1230 * time.Millisecond: "1.2 s", 42 * time.Second: "42 s",
		4*time.Minute + 5*time.Second: "4 min 5 s", 30 * time.Minute: "30 min", 2*time.Hour + 5*time.Minute: "2 h 5 min", 3 * time.Hour: "3 h",
	} {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestWakeChart(t *testing.T) {
	if wakeChart(nil) != "" {
		t.Error("a chart without wakes")
	}
	at := time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)
	var ws []controller.WakeRecord
	for i := range 40 {
		ws = append(ws, controller.WakeRecord{Requested: at.Add(-time.Duration(i) * time.Hour), Duration: time.Duration(i+1) * time.Second,
			Result: controller.WakeRunning, Client: `<script>x</script>`})
	}
	ws[0].Result = controller.WakeFailed
	svg := string(wakeChart(ws))
	if n := strings.Count(svg, "<rect "); n != chartWakes {
		t.Errorf("%d bars, want %d", n, chartWakes)
	}
	if strings.Contains(svg, "<script>") || !strings.Contains(svg, "&lt;script&gt;") || !strings.Contains(svg, `fill="#c8402f"`) {
		t.Errorf("chart: %s", svg)
	}
	if !strings.Contains(svg, ">30 s<") {
		t.Errorf("the axis does not end at 30 s: %s", svg)
	}
}
