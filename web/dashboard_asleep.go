package web

import (
	"slices"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// asleepWindow is the period of the dashboard's "hours asleep" column.
const asleepWindow = 7 * 24 * time.Hour

// awake tells the states in which a backend runs (and costs money).
func awake(s controller.State) bool {
	return s == controller.StateStarting || s == controller.StateRunning || s == controller.StateStopping
}

// asleepWithin estimates how long the host slept between from and to.
// The store keeps no stop history, so the estimate is pieced together, in
// order of trust:
//
//  1. the host's record: it is in rec.State since rec.Changed (exact);
//  2. the state changes this process saw (seen, from Admin.Run): exact
//     from the moment Run started;
//  3. before both, the wake history: a host is awake from a wake's request;
//     a failed wake sleeps again when it failed; a successful one is
//     counted awake until the next wake or for its idle timeout after it
//     became ready, whichever is first — the shortest it can have stayed
//     up, since the idle timer starts then. A host kept busy longer than
//     that is counted asleep too early, so the figure errs towards
//     more sleep for history older than the process.
//
// Time before anything is known counts as asleep.
func asleepWithin(from, to time.Time, idle time.Duration, wakes []controller.WakeRecord, seen []transition, rec controller.Record) time.Duration {
	if !to.After(from) {
		return 0
	}
	var known []transition // exact knowledge
	known = append(known, seen...)
	cutoff := to
	if len(seen) > 0 {
		cutoff = seen[0].at
	}
	if rec.Version > 0 && rec.State.Valid() && !rec.Changed.IsZero() {
		known = append(known, transition{at: rec.Changed, state: rec.State})
		if rec.Changed.Before(cutoff) {
			cutoff = rec.Changed
		}
	}

	// History, oldest first, used only before exact knowledge begins.
	hist := slices.Clone(wakes)
	slices.SortFunc(hist, func(a, b controller.WakeRecord) int { return a.Requested.Compare(b.Requested) })
	var guessed []transition
	for i, w := range hist {
		guessed = append(guessed, transition{at: w.Requested, state: controller.StateStarting})
		if w.Result != controller.WakeRunning {
			guessed = append(guessed, transition{at: w.Finished, state: controller.StateFailed})
			continue
		}
		guessed = append(guessed, transition{at: w.Finished, state: controller.StateRunning})
		if idle > 0 {
			sleep := w.Finished.Add(idle)
			if i+1 == len(hist) || sleep.Before(hist[i+1].Requested) {
				guessed = append(guessed, transition{at: sleep, state: controller.StateStopped})
			}
		}
	}
	all := known
	for _, g := range guessed {
		if g.at.Before(cutoff) {
			all = append(all, g)
		}
	}
	slices.SortStableFunc(all, func(a, b transition) int { return a.at.Compare(b.at) })

	asleep := time.Duration(0)
	state := controller.StateStopped // before anything is known
	at := from
	for _, t := range all {
		if !t.at.After(from) {
			state = t.state
			continue
		}
		if !t.at.Before(to) {
			break
		}
		if !awake(state) {
			asleep += t.at.Sub(at)
		}
		state, at = t.state, t.at
	}
	if !awake(state) {
		asleep += to.Sub(at)
	}
	return asleep
}
