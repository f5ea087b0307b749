package window_test

import (
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/activity/window"
)

func TestParseAccepts(t *testing.T) {
	cases := []struct {
		in       string
		spec     string
		duration time.Duration
	}{
		{"0 9 * * 1-5 for 9h", "0 9 * * 1-5", 9 * time.Hour},
		{"  30   8 * * MON-FRI   for 1h30m ", "30 8 * * MON-FRI", 90 * time.Minute},
		{"*/15 * * * * for 5m", "*/15 * * * *", 5 * time.Minute},
		{"0 0 29 2 * for 24h", "0 0 29 2 *", 24 * time.Hour},
		{"0 6 1 JAN,JUL ? for 2h", "0 6 1 JAN,JUL ?", 2 * time.Hour},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			w, err := window.Parse(c.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			if w.Spec != c.spec || w.Duration != c.duration {
				t.Fatalf("Parse(%q) = %q for %s, want %q for %s", c.in, w.Spec, w.Duration, c.spec, c.duration)
			}
		})
	}
}

func TestParseErrorsSayWhatToWrite(t *testing.T) {
	cases := []struct{ in, want string }{
		{"0 9 * * 1-5", `write it as "CRON for DURATION"`},
		{"0 9 * * for 9h", "needs 5 cron fields"},
		{"0 0 9 * * 1-5 for 9h", "needs 5 cron fields"},
		{"60 9 * * * for 1h", `minute field "60"`},
		{"0 25 * * * for 1h", "hours are 0-23"},
		{"0 9 32 * * for 1h", "day-of-month field"},
		{"0 9 * 13 * for 1h", "months are 1-12"},
		{"0 9 * * 7 for 1h", "Sunday is 0"},
		{"0 9 * * MOX for 1h", `day-of-week field "MOX"`},
		{"0 0 30 2 * for 1h", "never fires"},
		{"0 9 * * * for 9", `write it like 30m`},
		{"0 9 * * * for 2d", "days are not a unit"},
		{"0 9 * * * for 0s", "longer than 0"},
		{"0 9 * * * for -1h", "longer than 0"},
		{"0 9 * * * for ", `write it as "CRON for DURATION"`},
		{"TZ=Europe/Paris 0 9 * * * for 1h", "timezone: setting"},
		{"@daily for 1h", "five cron fields"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := window.Parse(c.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", c.in)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse(%q) = %q, want it to mention %q", c.in, err, c.want)
			}
		})
	}
}

func mustParse(t *testing.T, s string) window.Window {
	t.Helper()
	w, err := window.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return w
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func TestActive(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		name    string
		window  string
		now     time.Time
		active  bool
		wantEnd time.Time
	}{
		// 2025-03-05 is a Wednesday.
		{"before start", "0 9 * * 1-5 for 9h", at("2025-03-05 08:59:59"), false, time.Time{}},
		{"at start", "0 9 * * 1-5 for 9h", at("2025-03-05 09:00:00"), true, at("2025-03-05 18:00:00")},
		{"inside", "0 9 * * 1-5 for 9h", at("2025-03-05 17:59:59"), true, at("2025-03-05 18:00:00")},
		{"at end (exclusive)", "0 9 * * 1-5 for 9h", at("2025-03-05 18:00:00"), false, time.Time{}},
		{"weekend", "0 9 * * 1-5 for 9h", at("2025-03-08 10:00:00"), false, time.Time{}},
		{"crosses midnight", "0 22 * * * for 4h", at("2025-03-06 01:00:00"), true, at("2025-03-06 02:00:00")},
		{"overlapping starts merge", "0 * * * * for 90m", at("2025-03-05 10:10:00"), true, at("2025-03-06 10:30:00")},
		{"touching windows merge", "0 9,12 * * * for 3h", at("2025-03-05 10:00:00"), true, at("2025-03-05 15:00:00")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := mustParse(t, c.window)
			end, ok := w.Active(c.now, paris)
			if ok != c.active {
				t.Fatalf("Active(%s) = %v, want %v", c.now, ok, c.active)
			}
			if c.active && c.name != "overlapping starts merge" && !end.Equal(c.wantEnd) {
				t.Fatalf("end = %s, want %s", end, c.wantEnd)
			}
			if c.name == "overlapping starts merge" && end.Before(c.wantEnd) {
				// Hourly starts for 90m never leave a gap: the stretch is
				// followed for a day of starts at least.
				t.Fatalf("end = %s, want at least %s", end, c.wantEnd)
			}
		})
	}
}

func TestActiveUsesTheGivenZone(t *testing.T) {
	w := mustParse(t, "0 9 * * * for 1h")
	tokyo := mustLoad(t, "Asia/Tokyo")
	now := time.Date(2025, 3, 5, 0, 30, 0, 0, time.UTC) // 09:30 in Tokyo
	if _, ok := w.Active(now, tokyo); !ok {
		t.Fatal("09:30 Tokyo should be inside 09:00 for 1h read in Asia/Tokyo")
	}
	if _, ok := w.Active(now, nil); ok {
		t.Fatal("00:30 UTC should be outside 09:00 for 1h read in UTC")
	}
}

func TestNext(t *testing.T) {
	w := mustParse(t, "0 9 * * 1-5 for 9h")
	paris := mustLoad(t, "Europe/Paris")
	fri := time.Date(2025, 3, 7, 10, 0, 0, 0, paris)
	want := time.Date(2025, 3, 10, 9, 0, 0, 0, paris) // Monday
	if got := w.Next(fri, paris); !got.Equal(want) {
		t.Fatalf("Next = %s, want %s", got, want)
	}
	if got := (window.Window{}).Next(fri, paris); !got.IsZero() {
		t.Fatalf("zero Window Next = %s, want zero", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0 9 * * 1-5 for 9h", "*/5 * * * * for 1m", "0 0 30 2 * for 1h", "x for y", " for ", "@every 1h for 1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := window.Parse(s)
		if err != nil {
			return
		}
		if w.Duration <= 0 {
			t.Fatalf("Parse(%q) accepted a non-positive duration", s)
		}
		// An accepted window fires and can be evaluated.
		now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		if w.Next(now, time.UTC).IsZero() && w.Next(now.AddDate(-3, 0, 0), time.UTC).IsZero() {
			t.Fatalf("Parse(%q) accepted a schedule that never fires", s)
		}
		w.Active(now, time.UTC)
		if _, err := window.Parse(w.String()); err != nil {
			t.Fatalf("String() of %q = %q does not parse again: %v", s, w.String(), err)
		}
	})
}
