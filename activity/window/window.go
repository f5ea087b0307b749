// Package window parses and evaluates warm windows: "CRON for DURATION",
// e.g. "0 9 * * 1-5 for 9h" (weekdays from 09:00 for nine hours). It imports
// nothing from waitingroom, so the config package can validate windows with
// it and the activity package can schedule them.
//
// The schedule is five standard cron fields (minute hour day-of-month month
// day-of-week); a window opens at each time the schedule fires and stays
// open for DURATION. Windows are read in a time zone the caller gives (the
// host's `timezone:`), never in the machine's local zone.
package window

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Example is a well-formed window, quoted in error messages.
const Example = `"0 9 * * 1-5 for 9h"`

// Window is one parsed warm window.
type Window struct {
	// Spec is the five cron fields, separated by single spaces.
	Spec string
	// Duration is how long the window stays open after each start.
	Duration time.Duration

	raw   string
	sched cron.Schedule
}

// fields describes the five cron fields, for error messages.
var fields = [5]struct {
	name   string
	option cron.ParseOption
	hint   string
}{
	{"minute", cron.Minute, "minutes are 0-59"},
	{"hour", cron.Hour, "hours are 0-23"},
	{"day-of-month", cron.Dom, "days of the month are 1-31"},
	{"month", cron.Month, "months are 1-12 or JAN-DEC"},
	{"day-of-week", cron.Dow, "days of the week are 0-6 (Sunday is 0) or SUN-SAT"},
}

const allFields = cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow

// reference is where Parse looks for a first activation: five years from
// it (robfig/cron's horizon) include a 29 February, so "0 0 29 2 *" is valid
// and "0 0 30 2 *" is not. A fixed date keeps validation deterministic.
var reference = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Parse reads "CRON for DURATION". Errors say what to write instead; the
// caller adds where the window was written (file:line, host).
func Parse(s string) (Window, error) {
	text := strings.TrimSpace(s)
	i := strings.LastIndex(text, " for ")
	if i < 0 {
		return Window{}, fmt.Errorf("write it as \"CRON for DURATION\", e.g. %s", Example)
	}
	specText, durText := strings.TrimSpace(text[:i]), strings.TrimSpace(text[i+len(" for "):])

	switch {
	case strings.HasPrefix(specText, "TZ=") || strings.HasPrefix(specText, "CRON_TZ="):
		return Window{}, errors.New("the time zone goes in the host's timezone: setting, not in the schedule")
	case strings.HasPrefix(specText, "@"):
		return Window{}, fmt.Errorf("%q is not supported; write five cron fields, e.g. \"0 0 * * *\" for @daily", specText)
	}
	parts := strings.Fields(specText)
	if len(parts) != len(fields) {
		return Window{}, fmt.Errorf("the schedule needs 5 cron fields (minute hour day-of-month month day-of-week), got %d; e.g. %s",
			len(parts), Example)
	}
	// Each field alone first: robfig/cron's message does not say which
	// field it did not like.
	for k, f := range fields {
		if _, err := cron.NewParser(f.option).Parse(parts[k]); err != nil {
			return Window{}, fmt.Errorf("%s field %q: %v (%s)", f.name, parts[k], err, f.hint)
		}
	}
	spec := strings.Join(parts, " ")
	sched, err := cron.NewParser(allFields).Parse(spec)
	if err != nil {
		return Window{}, fmt.Errorf("schedule %q: %w", spec, err)
	}
	if sched.Next(reference).IsZero() {
		return Window{}, fmt.Errorf("schedule %q never fires (no such date)", spec)
	}

	d, err := parseDuration(durText)
	if err != nil {
		return Window{}, err
	}
	return Window{Spec: spec, Duration: d, raw: spec + " for " + durText, sched: sched}, nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("the window needs a duration after \"for\", e.g. %s", Example)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if strings.HasSuffix(s, "d") {
			return 0, fmt.Errorf("duration %q: days are not a unit here; write hours, e.g. 24h", s)
		}
		return 0, fmt.Errorf("duration %q: write it like 30m, 9h or 1h30m", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q: the window must last longer than 0", s)
	}
	return d, nil
}

// String is the window as written (normalised spaces).
func (w Window) String() string { return w.raw }

// Next is the first start of the window strictly after t, read in loc
// (nil: UTC); the zero time when the schedule does not fire within five
// years.
func (w Window) Next(t time.Time, loc *time.Location) time.Time {
	if w.sched == nil {
		return time.Time{}
	}
	return w.sched.Next(t.In(orUTC(loc)))
}

// maxChain bounds how many back-to-back starts Active follows to find where
// an unbroken stretch of overlapping windows ends ("* * * * * for 1h" never
// ends): a day of minutes.
const maxChain = 24 * 60

// Active reports whether now is inside the window, read in loc (nil: UTC),
// and when the window closes. A window is open from each start s for
// Duration: [s, s+Duration). Windows that overlap or touch count as one,
// so end is when the unbroken stretch ends (at least that far when the
// stretch is longer than a day of starts).
func (w Window) Active(now time.Time, loc *time.Location) (end time.Time, ok bool) {
	if w.sched == nil || w.Duration <= 0 {
		return time.Time{}, false
	}
	t := now.In(orUTC(loc))
	// The earliest start whose window still covers now is after now-d.
	start := w.sched.Next(t.Add(-w.Duration))
	if start.IsZero() || start.After(t) {
		return time.Time{}, false
	}
	end = start.Add(w.Duration)
	for range maxChain {
		next := w.sched.Next(start)
		if next.IsZero() || next.After(end) {
			break
		}
		start, end = next, next.Add(w.Duration)
	}
	return end, true
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}
