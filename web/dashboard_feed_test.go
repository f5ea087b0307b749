package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

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
