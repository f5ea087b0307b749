package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// chartWakes is how many of the latest wakes the duration chart shows.
const chartWakes = 30

// wakeChart draws the durations of the latest wakes (newest last) as an
// inline SVG bar chart: rendered on the server, so it needs no script, and
// drawn with presentation attributes only, so the Content-Security-Policy
// (no inline style) does not get in its way. Failed wakes are red. Every
// text in it is escaped.
func wakeChart(wakes []controller.WakeRecord) template.HTML {
	if len(wakes) == 0 {
		return ""
	}
	n := min(len(wakes), chartWakes)
	const (
		width, height = 600.0, 180.0
		left, right   = 56.0, 8.0
		top, bottom   = 12.0, 24.0
	)
	plotW, plotH := width-left-right, height-top-bottom
	var longest time.Duration
	for _, w := range wakes[:n] {
		longest = max(longest, w.Duration)
	}
	scale := niceCeiling(longest)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %g %g" width="100%%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">`, width, height)
	fmt.Fprintf(&b, `<title>Durations of the last %d wakes, oldest on the left</title>`, n)
	// Axis and guide lines at 0, half and the top of the scale.
	for _, frac := range []float64{0, 0.5, 1} {
		y := top + plotH*(1-frac)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#8a94a6" stroke-width="0.5"/>`, left, y, width-right, y)
		label := durationText(time.Duration(float64(scale) * frac))
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="11" text-anchor="end" fill="#5b6577">%s</text>`, left-6, y+4, template.HTMLEscapeString(label))
	}
	// A few wakes get wide bars, the latest always at the right edge.
	slots := max(n, 10)
	slot := plotW / float64(slots)
	barW := slot * 0.7
	for i := range n {
		w := wakes[n-1-i] // oldest first, left to right
		h := 0.0
		if scale > 0 {
			h = plotH * float64(w.Duration) / float64(scale)
		}
		h = max(h, 1) // a zero-length wake still shows
		x := left + float64(slots-n+i)*slot + (slot-barW)/2
		y := top + plotH - h
		fill := "#2f8f5b"
		if w.Result != controller.WakeRunning {
			fill = "#c8402f"
		}
		title := fmt.Sprintf("%s: %s, %s", w.Requested.UTC().Format("2006-01-02 15:04:05 UTC"), durationText(w.Duration), w.Result)
		if w.Client != "" {
			title += ", by " + w.Client
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
			x, y, barW, h, fill, template.HTMLEscapeString(title))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" fill="#5b6577">older</text>`, left, height-6)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end" fill="#5b6577">latest</text>`, width-right, height-6)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped text above
}

// niceCeiling rounds a duration up to a round number for an axis.
func niceCeiling(d time.Duration) time.Duration {
	steps := []time.Duration{
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute, time.Hour,
	}
	for _, s := range steps {
		if d <= s {
			return s
		}
	}
	return d.Truncate(time.Hour) + time.Hour
}
