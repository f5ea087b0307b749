package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

func TestTimelineChart(t *testing.T) {
	now := time.Date(2030, 3, 10, 12, 0, 0, 0, time.UTC)
	host := "app.example.com"
	tr := func(ago time.Duration, from, to controller.State, by, reason string, took time.Duration) controller.Transition {
		return controller.Transition{Host: host, At: now.Add(-ago), From: from, To: to, By: by, Reason: reason, Took: took}
	}
	ts := []controller.Transition{
		tr(20*time.Hour, controller.StateStopping, controller.StateStopped, "", "", time.Second),
		tr(10*time.Hour, controller.StateStopped, controller.StateStarting, "203.0.113.x (browser)", "wake requested by 203.0.113.x (browser)", 0),
		tr(10*time.Hour-12*time.Second, controller.StateStarting, controller.StateRunning, "203.0.113.x (browser)", "", 12*time.Second),
		tr(6*time.Hour, controller.StateRunning, controller.StateStopping, "", "idle for 30m0s", 0),
		tr(6*time.Hour-time.Second, controller.StateStopping, controller.StateStopped, "", "", time.Second),
		tr(2*time.Hour, controller.StateStopped, controller.StateStarting, "<script>", "", 0),
		tr(2*time.Hour-time.Minute, controller.StateStarting, controller.StateFailed, "<script>", "start: token=hunter2 refused", time.Minute),
	}
	l := controller.Ledger{Transitions: ts, Current: controller.Record{Host: host, State: controller.StateFailed, Version: 9, Changed: now.Add(-2*time.Hour + time.Minute)}}
	tests := []struct {
		name      string
		from      time.Time
		want      []string
		wantCount map[string]int
		absent    []string
	}{
		{"the last day", now.Add(-24 * time.Hour), []string{
			"nothing recorded for 4 h",
			"ready after 12 s, woken by 203.0.113.x (browser)",
			"put to sleep (idle for 30m0s)",
			"failed after 1 min",
			"&lt;script&gt;",
		}, map[string]int{`class="mark mark-wake"`: 1, `class="mark mark-failed"`: 1, `class="mark mark-stop"`: 1, `class="span span-running"`: 1}, []string{"hunter2", "<script>"}},
		{"the last 8 hours: the wake is before it", now.Add(-8 * time.Hour), []string{"put to sleep"},
			map[string]int{`class="mark mark-wake"`: 0, `class="span span-unknown"`: 0, `class="span span-running"`: 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(timelineChart(l, tc.from, now, "test"))
			if !strings.HasPrefix(got, "<svg") || !strings.HasSuffix(got, "</svg>") {
				t.Fatalf("not an SVG: %.80s", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q", w)
				}
			}
			for k, n := range tc.wantCount {
				if c := strings.Count(got, k); c != n {
					t.Errorf("%d × %s; want %d", c, k, n)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(got, a) {
					t.Errorf("shows %q", a)
				}
			}
			if strings.Contains(got, "style=") {
				t.Error("uses inline style, which the CSP refuses")
			}
		})
	}
	if timelineChart(l, now, now, "empty") != "" {
		t.Error("an empty period drew a chart")
	}
}

func TestTimelineMarksAreBounded(t *testing.T) {
	now := time.Date(2030, 3, 10, 12, 0, 0, 0, time.UTC)
	var ts []controller.Transition
	for i := range 2000 {
		at := now.Add(-time.Duration(2000-i) * time.Minute)
		to := controller.StateStopping
		if i%100 == 0 {
			to = controller.StateFailed
		}
		ts = append(ts, controller.Transition{Host: "h", At: at, From: controller.StateRunning, To: to, Reason: fmt.Sprint(i)})
	}
	marks := timelineMarksOf(ts, now.Add(-48*time.Hour), now)
	failed := 0
	for _, m := range marks {
		if m.kind == "failed" {
			failed++
		}
	}
	if len(marks) != timelineMarks || failed != 20 {
		t.Errorf("%d marks, %d failures; want %d with all 20 failures", len(marks), failed, timelineMarks)
	}
	if last := marks[len(marks)-1]; !strings.Contains(last.title, "(1999)") {
		t.Errorf("the newest stop is missing: last mark %q", last.title)
	}
}
