package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/redact"
)

// timelineMarks bounds the marks (wakes, failures, stops) one timeline
// draws: a host woken every few minutes for a month would otherwise put
// thousands of elements on the page. Failures are kept first.
const timelineMarks = 300

// stateFill is each state's colour on the timeline, the dashboard's own.
func stateFill(s controller.State) string {
	switch s {
	case controller.StateRunning:
		return "#2f8f5b"
	case controller.StateStarting, controller.StateStopping:
		return "#d99a1e"
	case controller.StateStopped:
		return "#8a94a6"
	case controller.StateFailed:
		return "#c8402f"
	}
	return "none" // unknown: nothing recorded, the band's outline shows through
}

// timelineChart draws a host's states between from and to as one band,
// with a mark for each wake (who asked, how long it took), failure and
// stop above it; every piece has its words in a <title>. Server-rendered,
// presentation attributes only (the CSP allows no inline style), like
// wakeChart.
func timelineChart(l controller.Ledger, from, to time.Time, what string) template.HTML {
	if !to.After(from) {
		return ""
	}
	const (
		width, height = 720.0, 100.0
		left, right   = 8.0, 8.0
		bandTop       = 38.0
		bandH         = 26.0
	)
	plotW := width - left - right
	total := to.Sub(from).Seconds()
	x := func(t time.Time) float64 { return left + plotW*t.Sub(from).Seconds()/total }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart timeline" role="img" viewBox="0 0 %g %g" width="100%%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">`, width, height)
	fmt.Fprintf(&b, `<title>%s: when the host slept, woke and failed, %s to %s</title>`, template.HTMLEscapeString(what), utcText(from), utcText(to))
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#8a94a6" stroke-width="0.5" stroke-dasharray="3 2"/>`, left, bandTop, plotW, bandH)
	for _, s := range controller.Spans(l.Transitions, l.Current, from, to) {
		x0, x1 := x(s.From), x(s.To)
		words := s.State.Words()
		if s.State == controller.StateUnknown {
			words = "nothing recorded"
		}
		title := fmt.Sprintf("%s for %s, %s to %s", words, durationText(s.To.Sub(s.From)), utcText(s.From), utcText(s.To))
		fmt.Fprintf(&b, `<rect class="span span-%s" x="%.2f" y="%g" width="%.2f" height="%g" fill="%s"><title>%s</title></rect>`,
			s.State, x0, bandTop, max(x1-x0, 0.5), bandH, stateFill(s.State), template.HTMLEscapeString(title))
	}
	for _, m := range timelineMarksOf(l.Transitions, from, to) {
		fmt.Fprintf(&b, `<g class="mark mark-%s"><title>%s</title><line x1="%.2f" y1="%g" x2="%.2f" y2="%g" stroke="%s" stroke-width="1.5"/><circle cx="%.2f" cy="%g" r="3.5" fill="%s"/></g>`,
			m.kind, template.HTMLEscapeString(m.title), x(m.at), bandTop-12, x(m.at), bandTop+bandH, m.colour, x(m.at), bandTop-14, m.colour)
	}
	// Axis: the ends and the middle.
	for _, at := range []time.Time{from, from.Add(to.Sub(from) / 2), to} {
		anchor := "middle"
		switch {
		case at.Equal(from):
			anchor = "start"
		case at.Equal(to):
			anchor = "end"
		}
		label := at.UTC().Format("Jan 2 15:04")
		if to.Sub(from) > 48*time.Hour {
			label = at.UTC().Format("Jan 2")
		}
		fmt.Fprintf(&b, `<text x="%.2f" y="%g" font-size="11" text-anchor="%s" fill="#8a94a6">%s</text>`, x(at), bandTop+bandH+16, anchor, label)
	}
	// Legend.
	lx := left
	for _, st := range []controller.State{controller.StateRunning, controller.StateStarting, controller.StateStopped, controller.StateFailed} {
		fmt.Fprintf(&b, `<rect x="%g" y="4" width="10" height="10" fill="%s"/><text x="%g" y="13" font-size="11" fill="#8a94a6">%s</text>`,
			lx, stateFill(st), lx+14, st.Words())
		lx += 14 + 7*float64(len(st.Words())) + 14
	}
	fmt.Fprintf(&b, `<text x="%g" y="13" font-size="11" text-anchor="end" fill="#8a94a6">UTC</text>`, width-right)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped text above
}

type timelineMark struct {
	at     time.Time
	kind   string // wake, failed, stop
	colour string
	title  string
}

// timelineMarksOf picks the transitions worth a mark between from and
// to: wakes (with who asked and how long they took), failures (with
// why) and stops (with why), failures first when there are too many.
func timelineMarksOf(ts []controller.Transition, from, to time.Time) []timelineMark {
	var failures, others []timelineMark
	// A wake's end says how long it took: its mark stands at the request.
	for _, t := range ts {
		if t.At.Before(from) || !t.At.Before(to) {
			continue
		}
		when := utcText(t.At)
		switch {
		case t.From == controller.StateStarting && t.To == controller.StateRunning:
			title := fmt.Sprintf("%s: ready after %s", when, durationText(t.Took))
			if t.By != "" {
				title += ", woken by " + t.By
			}
			others = append(others, timelineMark{at: t.At.Add(-t.Took), kind: "wake", colour: "#2f8f5b", title: title})
		case t.To == controller.StateFailed:
			title := fmt.Sprintf("%s: failed", when)
			if t.Took > 0 {
				title += " after " + durationText(t.Took)
			}
			if t.Reason != "" {
				title += ": " + redact.Text(t.Reason)
			}
			if t.By != "" && t.From == controller.StateStarting {
				title += " (woken by " + t.By + ")"
			}
			failures = append(failures, timelineMark{at: t.At, kind: "failed", colour: "#c8402f", title: title})
		case t.To == controller.StateStopping:
			title := fmt.Sprintf("%s: put to sleep", when)
			if t.Reason != "" {
				title += " (" + redact.Text(t.Reason) + ")"
			}
			others = append(others, timelineMark{at: t.At, kind: "stop", colour: "#5b6577", title: title})
		}
	}
	out := failures
	if room := timelineMarks - len(out); room > 0 {
		if len(others) > room {
			others = others[len(others)-room:] // the newest
		}
		out = append(out, others...)
	}
	return out
}
