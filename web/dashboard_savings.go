package web

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// savingsJSON is what sleeping saved a host, and what it spent, over the
// ledger's days (controller.Account): the same figures as /metrics.
type savingsJSON struct {
	// Priced is false for a host without a price: the hours are still
	// counted, the money is 0.
	Priced         bool    `json:"priced"`
	Currency       string  `json:"currency,omitempty"`
	PriceRunning   float64 `json:"price_running_per_hour,omitempty"`
	PriceSuspended float64 `json:"price_suspended_per_hour,omitempty"`
	Days           int     `json:"days"`
	Saved          float64 `json:"saved"`
	Spent          float64 `json:"spent"`
	SavedToday     float64 `json:"saved_today"`
	SpentToday     float64 `json:"spent_today"`
	AwakeHours     float64 `json:"awake_hours"`
	AsleepHours    float64 `json:"asleep_hours"`
	// UnknownHours are before the store's records of the host begin.
	UnknownHours float64   `json:"unknown_hours"`
	Daily        []dayJSON `json:"daily"` // UTC days, oldest first; the last is today
}

// dayJSON is one UTC day of a host's savings.
type dayJSON struct {
	Date         string  `json:"date"` // YYYY-MM-DD, UTC
	AwakeHours   float64 `json:"awake_hours"`
	AsleepHours  float64 `json:"asleep_hours"`
	UnknownHours float64 `json:"unknown_hours"`
	Saved        float64 `json:"saved"`
	Spent        float64 `json:"spent"`
}

// asleepWindow is the period of the dashboard's "asleep, 7 days" column.
const asleepWindow = 7 * 24 * time.Hour

// round4 keeps money and hours readable in JSON (a ten-thousandth of a
// currency unit, a third of a second).
func round4(f float64) float64 { return math.Round(f*1e4) / 1e4 }

func hoursOf(d time.Duration) float64 { return round4(d.Hours()) }

func savingsOf(l controller.Ledger) *savingsJSON {
	s := &savingsJSON{
		Priced: l.Price.Priced(), Currency: l.Price.Currency,
		PriceRunning: l.Price.Running, PriceSuspended: l.Price.Suspended,
		Days: len(l.Days), Saved: round4(l.Total.Saved), Spent: round4(l.Total.Spent),
		AwakeHours: hoursOf(l.Total.Awake), AsleepHours: hoursOf(l.Total.Asleep), UnknownHours: hoursOf(l.Total.Unknown),
		Daily: make([]dayJSON, len(l.Days)),
	}
	for i, d := range l.Days {
		s.Daily[i] = dayJSON{
			Date:       d.Start.Format(time.DateOnly),
			AwakeHours: hoursOf(d.Awake), AsleepHours: hoursOf(d.Asleep), UnknownHours: hoursOf(d.Unknown),
			Saved: round4(d.Saved), Spent: round4(d.Spent),
		}
	}
	if n := len(l.Days); n > 0 {
		s.SavedToday, s.SpentToday = round4(l.Days[n-1].Saved), round4(l.Days[n-1].Spent)
	}
	return s
}

// savingsTotal adds up the priced hosts of one currency: the dashboard's
// totals and GET /api/hosts' "savings".
type savingsTotal struct {
	Currency   string    `json:"currency,omitempty"`
	Hosts      int       `json:"hosts"` // priced hosts counted
	Saved      float64   `json:"saved"`
	Spent      float64   `json:"spent"`
	SavedToday float64   `json:"saved_today"`
	SpentToday float64   `json:"spent_today"`
	Daily      []dayJSON `json:"daily"`
}

// savingsTotals sums the priced hosts' savings per currency, the most
// used currency first.
func savingsTotals(hosts []hostJSON) []savingsTotal {
	byCur := map[string]*savingsTotal{}
	for _, h := range hosts {
		s := h.Savings
		if s == nil || !s.Priced {
			continue
		}
		t := byCur[s.Currency]
		if t == nil {
			t = &savingsTotal{Currency: s.Currency, Daily: make([]dayJSON, len(s.Daily))}
			for i, d := range s.Daily {
				t.Daily[i].Date = d.Date
			}
			byCur[s.Currency] = t
		}
		t.Hosts++
		t.Saved += s.Saved
		t.Spent += s.Spent
		t.SavedToday += s.SavedToday
		t.SpentToday += s.SpentToday
		for i, d := range s.Daily {
			if i < len(t.Daily) && t.Daily[i].Date == d.Date {
				t.Daily[i].AwakeHours += d.AwakeHours
				t.Daily[i].AsleepHours += d.AsleepHours
				t.Daily[i].UnknownHours += d.UnknownHours
				t.Daily[i].Saved += d.Saved
				t.Daily[i].Spent += d.Spent
			}
		}
	}
	out := make([]savingsTotal, 0, len(byCur))
	for _, t := range byCur {
		t.Saved, t.Spent = round4(t.Saved), round4(t.Spent)
		t.SavedToday, t.SpentToday = round4(t.SavedToday), round4(t.SpentToday)
		for i := range t.Daily {
			d := &t.Daily[i]
			d.AwakeHours, d.AsleepHours, d.UnknownHours = round4(d.AwakeHours), round4(d.AsleepHours), round4(d.UnknownHours)
			d.Saved, d.Spent = round4(d.Saved), round4(d.Spent)
		}
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b savingsTotal) int {
		return cmp.Or(cmp.Compare(b.Hosts, a.Hosts), cmp.Compare(a.Currency, b.Currency))
	})
	return out
}

// moneyText writes an amount with two decimals and its currency code.
func moneyText(amount float64, currency string) string {
	s := strconv.FormatFloat(amount, 'f', 2, 64)
	if currency != "" {
		s += " " + currency
	}
	return s
}

// percentText is part of whole in whole percent ("78 %"); "—" of nothing.
func percentText(part, whole float64) string {
	if whole <= 0 {
		return "—"
	}
	return strconv.FormatFloat(100*part/whole, 'f', 0, 64) + " %"
}

// savedText is the host table's "saved, 30 days" column.
func savedText(h hostJSON) string {
	if h.Savings == nil || !h.Savings.Priced {
		return "—"
	}
	return moneyText(h.Savings.Saved, h.Savings.Currency)
}

// asleepText is the "asleep, 7 days" column: hours asleep, and how much of
// the week the store's records cover when they begin inside it (a host
// known for minutes is not shown asleep for a week).
func asleepText(h hostJSON) string {
	asleep := strconv.FormatFloat(h.AsleepHours7d, 'f', 1, 64) + " h"
	switch known := h.RecordedHours7d; {
	case known <= 0 && h.Version == 0:
		return "— (nothing recorded yet)"
	case known < asleepWindow.Hours()-0.05:
		return asleep + " of " + strconv.FormatFloat(known, 'f', 1, 64) + " h recorded"
	}
	return asleep
}

// savingsChart draws the totals' days as stacked bars, spent below and
// saved above, on the server and with presentation attributes only (see
// wakeChart: the CSP allows no inline style).
func savingsChart(t savingsTotal) template.HTML {
	n := len(t.Daily)
	if n == 0 {
		return ""
	}
	const (
		width, height = 600.0, 160.0
		left, right   = 56.0, 8.0
		top, bottom   = 10.0, 22.0
	)
	plotW, plotH := width-left-right, height-top-bottom
	most := 0.0
	for _, d := range t.Daily {
		most = max(most, d.Saved+d.Spent)
	}
	scale := niceAmount(most)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart savings-chart" role="img" viewBox="0 0 %g %g" width="100%%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">`, width, height)
	fmt.Fprintf(&b, `<title>Saved (green) and spent (grey) per day over the last %d days, in %s</title>`, n, template.HTMLEscapeString(cmp.Or(t.Currency, "the hosts' currency")))
	for _, frac := range []float64{0, 0.5, 1} {
		y := top + plotH*(1-frac)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#8a94a6" stroke-width="0.5"/>`, left, y, width-right, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="11" text-anchor="end" fill="#8a94a6">%s</text>`, left-6, y+4,
			template.HTMLEscapeString(strconv.FormatFloat(scale*frac, 'f', -1, 64)))
	}
	slot := plotW / float64(n)
	barW := slot * 0.75
	for i, d := range t.Daily {
		x := left + float64(i)*slot + (slot-barW)/2
		base := top + plotH
		title := template.HTMLEscapeString(fmt.Sprintf("%s: saved %s, spent %s", d.Date, moneyText(d.Saved, t.Currency), moneyText(d.Spent, t.Currency)))
		b.WriteString(`<g>`)
		fmt.Fprintf(&b, `<title>%s</title>`, title)
		for _, part := range []struct {
			v    float64
			fill string
		}{{d.Spent, "#8a94a6"}, {d.Saved, "#2f8f5b"}} {
			if part.v <= 0 || scale <= 0 {
				continue
			}
			h := plotH * part.v / scale
			base -= h
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x, base, barW, h, part.fill)
		}
		b.WriteString(`</g>`)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" fill="#8a94a6">%s</text>`, left, height-6, template.HTMLEscapeString(t.Daily[0].Date))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end" fill="#8a94a6">today</text>`, width-right, height-6)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped text above
}

// niceAmount rounds an amount up to 1, 2 or 5 times a power of ten.
func niceAmount(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
