package controller

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Price is what a host's backend costs per hour, in the operator's
// currency: while it runs, and while it sleeps (a suspended VM still pays
// for its memory and disks). The zero Price means the host is not priced.
type Price struct {
	Running   float64
	Suspended float64
	// Currency is an ISO 4217 code ("EUR"), or empty: amounts are then
	// shown as plain numbers.
	Currency string
}

// Priced reports whether the host has a price.
func (p Price) Priced() bool { return p.Running > 0 }

// Span is a stretch of time a host spent in one state, as its records
// tell. StateUnknown: nothing is recorded for it.
type Span struct {
	From, To time.Time
	State    State
}

// Asleep reports whether a state costs the sleeping price. A failed host
// counts as awake: waitingroom cannot tell whether the backend still runs
// (a wake that timed out may have left it booting), so savings are never
// overstated.
func Asleep(s State) bool { return s == StateStopped }

// Spans turns a host's transitions (oldest first, as Transitions returns
// them) and its current record into the states it was in between from and
// to. Before the first record the state is unknown; a current record newer
// than the last transition (a change whose record was lost) counts from its
// Changed time. Adjacent spans of one state are merged.
func Spans(ts []Transition, cur Record, from, to time.Time) []Span {
	if !to.After(from) {
		return nil
	}
	// The current record counts as one more change when it is newer.
	extra := cur.Version > 0 && cur.State.Valid() && !cur.Changed.IsZero() &&
		(len(ts) == 0 || cur.Changed.After(ts[len(ts)-1].At))
	out := make([]Span, 0, len(ts)+2) // a span per change at most
	add := func(a, b time.Time, s State) {
		if !b.After(a) {
			return
		}
		if n := len(out); n > 0 && out[n-1].State == s && out[n-1].To.Equal(a) {
			out[n-1].To = b
			return
		}
		out = append(out, Span{From: a, To: b, State: s})
	}
	state, at := StateUnknown, from
	n := len(ts)
	if extra {
		n++
	}
	for i := range n {
		cAt, cTo := cur.Changed, cur.State
		if i < len(ts) {
			cAt, cTo = ts[i].At, ts[i].To
		}
		if !cAt.After(from) {
			state = cTo
			continue
		}
		if !cAt.Before(to) {
			break
		}
		add(at, cAt, state)
		state, at = cTo, cAt
	}
	add(at, to, state)
	return out
}

// Tally is what a host's states add up to over a period.
type Tally struct {
	Awake   time.Duration // starting, running, stopping or failed
	Asleep  time.Duration // stopped
	Unknown time.Duration // before the records begin
	// Spent is what the backend cost (Running per hour awake, Suspended per
	// hour asleep); Saved what sleeping did not cost (Running − Suspended
	// per hour asleep). Both 0 for a host without a price.
	Spent, Saved float64
}

func (t *Tally) add(o Tally) {
	t.Awake += o.Awake
	t.Asleep += o.Asleep
	t.Unknown += o.Unknown
	t.Spent = micro(t.Spent + o.Spent)
	t.Saved = micro(t.Saved + o.Saved)
}

// micro rounds money to a millionth: float sums of hours times prices
// carry noise (314.10000000000014) that no currency has.
func micro(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// Tally adds up the spans' time between from and to at price p.
func (p Price) Tally(spans []Span, from, to time.Time) Tally {
	var t Tally
	for _, s := range spans {
		a, b := maxTime(s.From, from), minTime(s.To, to)
		if !b.After(a) {
			continue
		}
		d := b.Sub(a)
		switch {
		case s.State == StateUnknown:
			t.Unknown += d
		case Asleep(s.State):
			t.Asleep += d
		default:
			t.Awake += d
		}
	}
	if p.Priced() {
		t.Spent = micro(t.Awake.Hours()*p.Running + t.Asleep.Hours()*p.Suspended)
		t.Saved = micro(t.Asleep.Hours() * max(p.Running-p.Suspended, 0))
	}
	return t
}

// Day is one UTC calendar day of a ledger.
type Day struct {
	Start time.Time // midnight UTC
	Tally
}

// Ledger is a host's account over its last days: what it spent, what
// sleeping saved, from the transitions the store records.
type Ledger struct {
	Host  string
	Price Price
	// Days are UTC calendar days, oldest first; the last is today, up to
	// the ledger's Now.
	Days  []Day
	Total Tally
	Now   time.Time
	// Spans are the states over the ledger's days, Transitions the records
	// they came from (for the timeline), Current the host's record.
	Spans       []Span
	Transitions []Transition
	Current     Record
}

// LedgerDays is how many days the dashboard, the API and /metrics account
// for.
const LedgerDays = 30

// Account builds a host's ledger of the last days UTC calendar days, today
// (up to now) being the last, from its transitions (oldest first) and its
// current record. It is the one place savings are computed: the dashboard,
// /api/hosts and /metrics all show its figures.
func Account(host string, ts []Transition, cur Record, price Price, now time.Time, days int) Ledger {
	days = max(days, 1)
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	start := today.AddDate(0, 0, -(days - 1))
	l := Ledger{Host: host, Price: price, Now: now, Transitions: ts, Current: cur, Days: make([]Day, days)}
	l.Spans = Spans(ts, cur, start, now)
	// The spans are in order and do not overlap: each day tallies only
	// its own, so a month of a busy host costs one pass, not one per day.
	first := 0
	for i := range l.Days {
		d := start.AddDate(0, 0, i)
		end := minTime(d.AddDate(0, 0, 1), now)
		for first < len(l.Spans) && !l.Spans[first].To.After(d) {
			first++
		}
		last := first
		for last < len(l.Spans) && l.Spans[last].From.Before(end) {
			last++
		}
		l.Days[i] = Day{Start: d, Tally: price.Tally(l.Spans[first:last], d, end)}
		l.Total.add(l.Days[i].Tally)
	}
	return l
}

// Ledger accounts for a registered host's last days (see Account), read
// from the store, up to now on the controller's clock.
func (c *Controller) Ledger(ctx context.Context, host string, days int) (Ledger, error) {
	h, ok := c.registry.Lookup(host)
	if !ok {
		return Ledger{}, fmt.Errorf("%q: %w", host, ErrUnknownHost)
	}
	now := c.clock.Now()
	// From a day before the first: the newest record older than the
	// retention is kept, and it says what state the first day began in.
	ts, err := c.store.Transitions(ctx, host, time.Time{})
	if err != nil {
		return Ledger{}, fmt.Errorf("ledger %s: %w", host, err)
	}
	cur, err := c.store.Get(ctx, host)
	if err != nil {
		return Ledger{}, fmt.Errorf("ledger %s: %w", host, err)
	}
	return Account(host, ts, cur, h.Price, now, days), nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
