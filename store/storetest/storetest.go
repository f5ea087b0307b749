// Package storetest is the contract every controller.Store passes. Each
// implementation's tests call Run with a constructor; a behaviour the
// controller relies on is proved once here, for all of them.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// wait bounds every wait for something that should happen (an event, a
// lease expiring): generous, because the machine may be busy.
const wait = 5 * time.Second

// Run runs the contract suite. newStore returns an empty store on the
// system clock (windows and leases use short real durations here, as
// Redis expiry is real time); stores must not share data between calls.
// The suite closes each store when its test ends, and may have closed it
// already: Close must be safe to call twice.
func Run(t *testing.T, newStore func(t *testing.T) controller.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s controller.Store)
	}{
		{"GetUnknownHostIsUnknownAtVersionZero", testGetUnknown},
		{"CompareAndSwapCreatesAndIncrementsVersion", testCASCreates},
		{"CompareAndSwapRefusesStaleVersion", testCASRefusesStale},
		{"CompareAndSwapClearsEmptiedFields", testCASClears},
		{"CompareAndSwapRaceHasOneWinner", testCASRace},
		{"CompareAndSwapIsLinearizable", testCASLinearizable},
		{"CompareAndSwapNeverWritesActivity", testCASKeepsActivity},
		{"TouchKeepsNewest", testTouchKeepsNewest},
		{"TouchLeavesStateAndVersion", testTouchLeavesState},
		{"TouchOfNewHostStoresOnlyActivity", testTouchNewHost},
		{"ListReturnsEveryRecordSortedByHost", testList},
		{"DeleteForgetsRecordAndHistory", testDelete},
		{"WakeHistoryNewestFirstCappedAndLimited", testWakes},
		{"TransitionsOldestFirstExactAndSince", testTransitions},
		{"TransitionsKeptForRetentionAndCapped", testTransitionRetention},
		{"IncrCountsWithinWindow", testIncrCounts},
		{"IncrKeysAndWindowsAreSeparate", testIncrSeparate},
		{"IncrConcurrentCountsEveryCall", testIncrConcurrent},
		{"IncrStartsOverInNextWindow", testIncrResets},
		{"LeaseOwnershipRenewAndRelease", testLeaseOwnership},
		{"LeaseExpiresThenAnotherOwnerTakesIt", testLeaseExpiry},
		{"LeaseRenewalExtendsIt", testLeaseRenewal},
		{"PublishReachesEverySubscriberInOrder", testPubSub},
		{"SubscriptionEndsWithContext", testSubscriptionEnds},
		{"SlowSubscriberNeverBlocksPublisher", testSlowSubscriber},
		{"CloseEndsSubscriptions", testCloseEndsSubscriptions},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// base is a time with nanoseconds, to prove times round-trip exactly.
var base = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)

// norm makes records comparable with ==: times in UTC without monotonic
// readings (stores may hand back another location).
func norm(r controller.Record) controller.Record {
	r.Changed = r.Changed.UTC()
	r.RetryAt = r.RetryAt.UTC()
	r.LastActivity = r.LastActivity.UTC()
	return r
}

func sameRecord(t *testing.T, what string, got, want controller.Record) {
	t.Helper()
	if norm(got) != norm(want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func mustCAS(t *testing.T, s controller.Store, expected uint64, next controller.Record) controller.Record {
	t.Helper()
	stored, ok, err := s.CompareAndSwap(t.Context(), expected, next)
	if err != nil || !ok {
		t.Fatalf("CompareAndSwap(%d, %s): ok=%v err=%v", expected, next.Host, ok, err)
	}
	return stored
}

func mustGet(t *testing.T, s controller.Store, host string) controller.Record {
	t.Helper()
	rec, err := s.Get(t.Context(), host)
	if err != nil {
		t.Fatalf("Get(%s): %v", host, err)
	}
	return rec
}

func fullRecord(host string) controller.Record {
	return controller.Record{
		Host:        host,
		State:       controller.StateStarting,
		Changed:     base,
		Reason:      "wake requested by 203.0.113.x",
		WakeID:      "w-1",
		Owner:       "replica-a",
		WakePending: true,
		Failures:    2,
		RetryAt:     base.Add(90 * time.Second),
	}
}

func testGetUnknown(t *testing.T, s controller.Store) {
	rec := mustGet(t, s, "nobody.example.com")
	sameRecord(t, "unknown host", rec, controller.Record{Host: "nobody.example.com", State: controller.StateUnknown})
	ws, err := s.Wakes(t.Context(), "nobody.example.com", 10)
	if err != nil || len(ws) != 0 {
		t.Errorf("Wakes of unknown host = %v, %v; want none", ws, err)
	}
}

func testCASCreates(t *testing.T, s controller.Store) {
	rec := fullRecord("app.example.com")
	stored := mustCAS(t, s, 0, rec)
	want := rec
	want.Version = 1
	sameRecord(t, "stored by first CAS", stored, want)
	sameRecord(t, "Get after first CAS", mustGet(t, s, rec.Host), want)

	next := stored
	next.State = controller.StateRunning
	next.Changed = base.Add(time.Minute)
	stored = mustCAS(t, s, 1, next)
	want = next
	want.Version = 2
	sameRecord(t, "stored by second CAS", stored, want)
	sameRecord(t, "Get after second CAS", mustGet(t, s, rec.Host), want)
}

func testCASRefusesStale(t *testing.T, s controller.Store) {
	rec := fullRecord("app.example.com")
	current := mustCAS(t, s, 0, rec)
	for _, expected := range []uint64{0, 2, 99} {
		t.Run(fmt.Sprint("expected=", expected), func(t *testing.T) {
			next := rec
			next.State = controller.StateFailed
			got, ok, err := s.CompareAndSwap(t.Context(), expected, next)
			if err != nil || ok {
				t.Fatalf("CompareAndSwap(%d) on version 1: ok=%v err=%v; want refused", expected, ok, err)
			}
			sameRecord(t, "record returned on refusal", got, current)
			sameRecord(t, "Get after refusal", mustGet(t, s, rec.Host), current)
		})
	}
}

func testCASClears(t *testing.T, s controller.Store) {
	stored := mustCAS(t, s, 0, fullRecord("app.example.com"))
	next := controller.Record{Host: "app.example.com", State: controller.StateStopped}
	mustCAS(t, s, stored.Version, next)
	want := next
	want.Version = 2
	sameRecord(t, "record after clearing fields", mustGet(t, s, "app.example.com"), want)
}

func testCASRace(t *testing.T, s controller.Store) {
	const racers = 100
	host := "race.example.com"
	mustCAS(t, s, 0, controller.Record{Host: host, State: controller.StateStopped})

	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	var errs []error
	for i := range racers {
		wg.Go(func() {
			next := controller.Record{Host: host, State: controller.StateStarting, Owner: fmt.Sprint("racer-", i)}
			<-start
			_, ok, err := s.CompareAndSwap(context.Background(), 1, next)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				winners = append(winners, next.Owner)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d CompareAndSwap calls failed, first: %v", len(errs), errs[0])
	}
	if len(winners) != 1 {
		t.Fatalf("%d racers won the same compare-and-swap (%v); want exactly 1", len(winners), winners)
	}
	got := mustGet(t, s, host)
	if got.Version != 2 || got.Owner != winners[0] || got.State != controller.StateStarting {
		t.Errorf("after the race: %+v; want version 2 owned by %s", got, winners[0])
	}
}

// testCASLinearizable has every goroutine read, modify and compare-and-swap
// until it succeeds: no increment may be lost.
func testCASLinearizable(t *testing.T, s controller.Store) {
	const workers = 20
	const perWorker = 5
	host := "counter.example.com"
	mustCAS(t, s, 0, controller.Record{Host: host, State: controller.StateStopped})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				for attempt := 0; ; attempt++ {
					if attempt == 1000 {
						errs <- errors.New("no success in 1000 attempts")
						return
					}
					cur, err := s.Get(context.Background(), host)
					if err != nil {
						errs <- err
						return
					}
					next := cur
					next.Failures++
					_, ok, err := s.CompareAndSwap(context.Background(), cur.Version, next)
					if err != nil {
						errs <- err
						return
					}
					if ok {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := mustGet(t, s, host)
	if got.Failures != workers*perWorker || got.Version != workers*perWorker+1 {
		t.Errorf("after %d read-modify-CAS loops: failures=%d version=%d; want %d and %d",
			workers*perWorker, got.Failures, got.Version, workers*perWorker, workers*perWorker+1)
	}
}

func testCASKeepsActivity(t *testing.T, s controller.Store) {
	ctx := t.Context()
	// Activity on a record that CAS creates is ignored.
	fresh := fullRecord("fresh.example.com")
	fresh.LastActivity = base
	fresh.ActivitySource = "page"
	stored := mustCAS(t, s, 0, fresh)
	if !stored.LastActivity.IsZero() || stored.ActivitySource != "" {
		t.Errorf("CAS wrote activity %v/%q; only Touch may", stored.LastActivity, stored.ActivitySource)
	}

	// Activity stored by Touch survives a CAS carrying other activity.
	host := "busy.example.com"
	first := mustCAS(t, s, 0, controller.Record{Host: host, State: controller.StateRunning})
	if err := s.Touch(ctx, host, controller.Activity{At: base, Source: "forwardauth"}); err != nil {
		t.Fatal(err)
	}
	next := first
	next.State = controller.StateStopping
	next.LastActivity = base.Add(-time.Hour)
	next.ActivitySource = "stale"
	stored = mustCAS(t, s, first.Version, next)
	for what, rec := range map[string]controller.Record{"returned": stored, "Get": mustGet(t, s, host)} {
		if !rec.LastActivity.Equal(base) || rec.ActivitySource != "forwardauth" {
			t.Errorf("%s after CAS: activity %v/%q; want %v/forwardauth", what, rec.LastActivity, rec.ActivitySource, base)
		}
		if rec.State != controller.StateStopping || rec.Version != 2 {
			t.Errorf("%s after CAS: %s v%d; want stopping v2", what, rec.State, rec.Version)
		}
	}
}

func testTouchKeepsNewest(t *testing.T, s controller.Store) {
	tests := []struct {
		name    string
		touches []controller.Activity
		want    controller.Activity
	}{
		{"newer replaces", []controller.Activity{act(base, "page"), act(base.Add(time.Second), "metrics")}, act(base.Add(time.Second), "metrics")},
		{"older is ignored", []controller.Activity{act(base, "page"), act(base.Add(-time.Second), "metrics")}, act(base, "page")},
		{"one nanosecond newer replaces", []controller.Activity{act(base, "page"), act(base.Add(time.Nanosecond), "metrics")}, act(base.Add(time.Nanosecond), "metrics")},
		{"equal keeps the stored one", []controller.Activity{act(base, "page"), act(base, "metrics")}, act(base, "page")},
		{"out of order keeps the newest", []controller.Activity{act(base, "a"), act(base.Add(time.Hour), "b"), act(base.Add(time.Minute), "c")}, act(base.Add(time.Hour), "b")},
		{"newer across a digit boundary", []controller.Activity{act(time.Unix(9, 0), "a"), act(time.Unix(10, 0), "b")}, act(time.Unix(10, 0), "b")},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := fmt.Sprintf("touch%d.example.com", i)
			for _, a := range tc.touches {
				if err := s.Touch(t.Context(), host, a); err != nil {
					t.Fatalf("Touch(%v): %v", a, err)
				}
			}
			rec := mustGet(t, s, host)
			if !rec.LastActivity.Equal(tc.want.At) || rec.ActivitySource != tc.want.Source {
				t.Errorf("activity %v/%q; want %v/%q", rec.LastActivity, rec.ActivitySource, tc.want.At, tc.want.Source)
			}
		})
	}
}

func act(at time.Time, source string) controller.Activity {
	return controller.Activity{At: at, Source: source}
}

func testTouchLeavesState(t *testing.T, s controller.Store) {
	host := "app.example.com"
	stored := mustCAS(t, s, 0, fullRecord(host))
	if err := s.Touch(t.Context(), host, controller.Activity{At: base, Source: "page"}); err != nil {
		t.Fatal(err)
	}
	want := stored
	want.LastActivity = base
	want.ActivitySource = "page"
	sameRecord(t, "after Touch", mustGet(t, s, host), want)
	// A transition read before the touch still wins its race.
	next := stored
	next.State = controller.StateRunning
	mustCAS(t, s, stored.Version, next)
}

func testTouchNewHost(t *testing.T, s controller.Store) {
	host := "new.example.com"
	if err := s.Touch(t.Context(), host, controller.Activity{At: base, Source: "metrics"}); err != nil {
		t.Fatal(err)
	}
	want := controller.Record{Host: host, State: controller.StateUnknown, LastActivity: base, ActivitySource: "metrics"}
	sameRecord(t, "touched, never stored", mustGet(t, s, host), want)
	// The first transition still expects version 0 and keeps the activity.
	stored := mustCAS(t, s, 0, controller.Record{Host: host, State: controller.StateStopped})
	want.State, want.Version = controller.StateStopped, 1
	sameRecord(t, "first CAS after Touch", stored, want)
}

func testList(t *testing.T, s controller.Store) {
	ctx := t.Context()
	recs, err := s.List(ctx)
	if err != nil || len(recs) != 0 {
		t.Fatalf("List of empty store = %v, %v; want none", recs, err)
	}
	var want []controller.Record
	for _, h := range []string{"c.example.com", "a.example.com", "b.example.com"} {
		want = append(want, mustCAS(t, s, 0, controller.Record{Host: h, State: controller.StateRunning, Changed: base}))
	}
	if err := s.Touch(ctx, "d.example.com", controller.Activity{At: base, Source: "page"}); err != nil {
		t.Fatal(err)
	}
	want = append(want, controller.Record{Host: "d.example.com", State: controller.StateUnknown, LastActivity: base, ActivitySource: "page"})
	want[0], want[1], want[2] = want[1], want[2], want[0] // a, b, c, d

	recs, err = s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(want) {
		t.Fatalf("List = %d records %v; want %d", len(recs), recs, len(want))
	}
	for i := range want {
		sameRecord(t, fmt.Sprint("List[", i, "]"), recs[i], want[i])
	}

	if err := s.Delete(ctx, "b.example.com"); err != nil {
		t.Fatal(err)
	}
	recs, err = s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, r := range recs {
		hosts = append(hosts, r.Host)
	}
	if fmt.Sprint(hosts) != "[a.example.com c.example.com d.example.com]" {
		t.Errorf("List after Delete = %v", hosts)
	}
}

func testDelete(t *testing.T, s controller.Store) {
	ctx := t.Context()
	host := "gone.example.com"
	mustCAS(t, s, 0, fullRecord(host))
	if err := s.Touch(ctx, host, controller.Activity{At: base, Source: "page"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddWake(ctx, controller.WakeRecord{ID: "w1", Host: host, Result: controller.WakeRunning}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTransition(ctx, controller.Transition{Host: host, At: base, From: controller.StateRunning, To: controller.StateStopping}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, host); err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "Get after Delete", mustGet(t, s, host), controller.Record{Host: host, State: controller.StateUnknown})
	if ws, err := s.Wakes(ctx, host, 0); err != nil || len(ws) != 0 {
		t.Errorf("Wakes after Delete = %v, %v; want none", ws, err)
	}
	if ts, err := s.Transitions(ctx, host, time.Time{}); err != nil || len(ts) != 0 {
		t.Errorf("Transitions after Delete = %v, %v; want none", ts, err)
	}
	// The host can be stored afresh.
	if got := mustCAS(t, s, 0, controller.Record{Host: host, State: controller.StateStopped}); got.Version != 1 {
		t.Errorf("version after re-creating = %d; want 1", got.Version)
	}
	if err := s.Delete(ctx, "never.example.com"); err != nil {
		t.Errorf("Delete of unknown host: %v", err)
	}
}

func testWakes(t *testing.T, s controller.Store) {
	ctx := t.Context()
	host := "app.example.com"
	const added = 105
	for i := range added {
		w := controller.WakeRecord{
			ID: fmt.Sprintf("w%03d", i), Host: host,
			Requested: base.Add(time.Duration(i) * time.Minute),
			Finished:  base.Add(time.Duration(i)*time.Minute + 7*time.Second),
			Duration:  7*time.Second + time.Duration(i)*time.Millisecond,
			Result:    controller.WakeRunning, Client: "203.0.113.x", Source: "page",
		}
		if i%10 == 0 {
			w.Result, w.Reason = controller.WakeFailed, "start: exit status 1"
		}
		if err := s.AddWake(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddWake(ctx, controller.WakeRecord{ID: "other", Host: "other.example.com"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		limit           int
		wantLen         int
		wantFirst, last string
	}{
		{0, 100, "w104", "w005"},
		{-1, 100, "w104", "w005"},
		{1000, 100, "w104", "w005"},
		{3, 3, "w104", "w102"},
		{1, 1, "w104", "w104"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("limit=", tc.limit), func(t *testing.T) {
			ws, err := s.Wakes(ctx, host, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != tc.wantLen {
				t.Fatalf("Wakes(%d): %d entries; want %d", tc.limit, len(ws), tc.wantLen)
			}
			if ws[0].ID != tc.wantFirst || ws[len(ws)-1].ID != tc.last {
				t.Fatalf("Wakes(%d): %d entries %s..%s; want %d %s..%s", tc.limit, len(ws), ws[0].ID, ws[len(ws)-1].ID, tc.wantLen, tc.wantFirst, tc.last)
			}
			for i := 1; i < len(ws); i++ {
				if ws[i-1].ID <= ws[i].ID {
					t.Fatalf("Wakes not newest first at %d: %s then %s", i, ws[i-1].ID, ws[i].ID)
				}
			}
		})
	}

	ws, err := s.Wakes(ctx, host, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 {
		t.Fatalf("Wakes(1) = %d entries", len(ws))
	}
	got := ws[0]
	want := controller.WakeRecord{
		ID: "w104", Host: host, Requested: base.Add(104 * time.Minute), Finished: base.Add(104*time.Minute + 7*time.Second),
		Duration: 7*time.Second + 104*time.Millisecond, Result: controller.WakeRunning, Client: "203.0.113.x", Source: "page",
	}
	got.Requested, got.Finished = got.Requested.UTC(), got.Finished.UTC()
	if got != want {
		t.Errorf("wake record round trip:\n got  %+v\n want %+v", got, want)
	}
	if ws, _ := s.Wakes(ctx, "other.example.com", 0); len(ws) != 1 || ws[0].ID != "other" {
		t.Errorf("other host's history = %v; want just its own entry", ws)
	}
}

func normTransitions(ts []controller.Transition) []controller.Transition {
	out := make([]controller.Transition, len(ts))
	for i, t := range ts {
		t.At = t.At.UTC()
		out[i] = t
	}
	return out
}

func sameTransitions(t *testing.T, what string, got, want []controller.Transition) {
	t.Helper()
	got, want = normTransitions(got), normTransitions(want)
	if len(got) != len(want) {
		t.Errorf("%s: %d records; want %d\n got  %+v\n want %+v", what, len(got), len(want), got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: record %d:\n got  %+v\n want %+v", what, i, got[i], want[i])
		}
	}
}

func testTransitions(t *testing.T, s controller.Store) {
	ctx := t.Context()
	host := "app.example.com"
	// A wake and a stop, with the nanoseconds of real clocks; two records
	// in one millisecond, and one added late (another replica's clock).
	wake := controller.Transition{Host: host, At: base, From: controller.StateStopped, To: controller.StateStarting,
		Reason: "wake requested", By: "203.0.113.x (browser)"}
	ready := controller.Transition{Host: host, At: base.Add(7*time.Second + 3), From: controller.StateStarting, To: controller.StateRunning,
		By: "203.0.113.x (browser)", Took: 7*time.Second + 3}
	stopping := controller.Transition{Host: host, At: base.Add(time.Hour), From: controller.StateRunning, To: controller.StateStopping,
		Reason: "idle for 15m0s"}
	stopped := controller.Transition{Host: host, At: base.Add(time.Hour + 1), From: controller.StateStopping, To: controller.StateStopped,
		Took: 1}
	for _, tr := range []controller.Transition{ready, wake, stopped, stopping} {
		if err := s.AddTransition(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddTransition(ctx, controller.Transition{Host: "other.example.com", At: base, To: controller.StateStopped}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTransition(ctx, controller.Transition{At: base}); err == nil {
		t.Error("AddTransition without a host succeeded")
	}
	all := []controller.Transition{wake, ready, stopping, stopped}
	tests := []struct {
		name  string
		since time.Time
		want  []controller.Transition
	}{
		{"zero time", time.Time{}, all},
		{"before the first", base.Add(-time.Hour), all},
		{"exactly the first", base, all},
		{"a nanosecond after the first", base.Add(1), all[1:]},
		{"exactly the stop", stopping.At, all[2:]},
		{"between stop and stopped", stopping.At.Add(1), all[3:]},
		{"after the last", stopped.At.Add(1), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Transitions(ctx, host, tc.since)
			if err != nil {
				t.Fatal(err)
			}
			sameTransitions(t, "Transitions", got, tc.want)
		})
	}
	if got, err := s.Transitions(ctx, "nobody.example.com", time.Time{}); err != nil || len(got) != 0 {
		t.Errorf("Transitions of an unknown host = %v, %v; want none", got, err)
	}
}

func testTransitionRetention(t *testing.T, s controller.Store) {
	ctx := t.Context()
	add := func(host string, at time.Time) {
		t.Helper()
		if err := s.AddTransition(ctx, controller.Transition{Host: host, At: at, From: controller.StateRunning, To: controller.StateStopping}); err != nil {
			t.Fatal(err)
		}
	}
	times := func(host string) []time.Time {
		t.Helper()
		ts, err := s.Transitions(ctx, host, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]time.Time, len(ts))
		for i, tr := range ts {
			out[i] = tr.At.UTC()
		}
		return out
	}

	// Retention counts back from the newest record, and keeps the newest
	// of the older ones: it says which state the retained period began in.
	old := "old.example.com"
	ret := controller.TransitionRetention
	add(old, base)
	add(old, base.Add(time.Hour))
	add(old, base.Add(2*time.Hour))
	add(old, base.Add(ret+time.Hour+time.Millisecond))
	if got, want := times(old), []time.Time{base.Add(time.Hour), base.Add(2 * time.Hour), base.Add(ret + time.Hour + time.Millisecond)}; !slices.Equal(got, want) {
		t.Errorf("after a record %s later: kept %v; want %v", ret, got, want)
	}

	// The cap drops the oldest.
	busy := "busy.example.com"
	const extra = 3
	for i := range controller.TransitionCap + extra {
		add(busy, base.Add(time.Duration(i)*time.Second))
	}
	got := times(busy)
	if len(got) != controller.TransitionCap {
		t.Fatalf("kept %d records of %d; want the cap, %d", len(got), controller.TransitionCap+extra, controller.TransitionCap)
	}
	if want := base.Add(extra * time.Second); !got[0].Equal(want) {
		t.Errorf("oldest kept is %v; want %v (the %d oldest dropped)", got[0], want, extra)
	}
}

// incrN calls Incr n times and returns the counts. If the calls straddled
// a window boundary (possible, if unlikely, with any window on a real
// clock) it starts over; fresh reports that the counts began in a window
// nobody had counted in before.
func incrN(t *testing.T, s controller.Store, key string, win time.Duration, n int) (counts []int64, resets time.Time, fresh bool) {
	t.Helper()
	for attempt := 0; attempt < 3; attempt++ {
		counts = counts[:0]
		straddled := false
		for i := 0; i < n; i++ {
			c, r, err := s.Incr(t.Context(), key, win)
			if err != nil {
				t.Fatalf("Incr(%s, %s): %v", key, win, err)
			}
			if i > 0 && !r.Equal(resets) {
				straddled = true
			}
			counts, resets = append(counts, c), r
		}
		if !straddled {
			for i := 1; i < len(counts); i++ {
				if counts[i] != counts[i-1]+1 {
					t.Fatalf("Incr(%s) counts %v are not consecutive", key, counts)
				}
			}
			return counts, resets, attempt == 0
		}
	}
	t.Fatalf("Incr(%s) crossed a window boundary three times in a row", key)
	return nil, time.Time{}, false
}

func testIncrCounts(t *testing.T, s controller.Store) {
	before := time.Now()
	counts, resets, fresh := incrN(t, s, "host:app.example.com:day", time.Hour, 3)
	if fresh && counts[0] != 1 {
		t.Errorf("counts = %v; want [1 2 3]", counts)
	}
	if !resets.After(before) || resets.After(before.Add(time.Hour+time.Second)) {
		t.Errorf("resets = %v; want within the hour after %v", resets, before)
	}
	n, err := s.Count(t.Context(), "host:app.example.com:day", time.Hour)
	if err != nil || n != counts[len(counts)-1] {
		t.Errorf("Count = %d, %v; want %d", n, err, counts[len(counts)-1])
	}
}

func testIncrSeparate(t *testing.T, s controller.Store) {
	ctx := t.Context()
	incrN(t, s, "a", time.Hour, 3)
	if n, err := s.Count(ctx, "b", time.Hour); err != nil || n != 0 {
		t.Errorf("Count of another key = %d, %v; want 0", n, err)
	}
	if counts, _, _ := incrN(t, s, "b", time.Hour, 1); counts[0] != 1 {
		t.Errorf("first Incr of another key = %d; want 1", counts[0])
	}
	// The same key in a window of another length is another counter
	// (an hourly and a daily budget may share a name).
	if counts, _, _ := incrN(t, s, "a", 24*time.Hour, 1); counts[0] != 1 {
		t.Errorf("first Incr of key a in a 24h window = %d; want 1", counts[0])
	}
}

func testIncrConcurrent(t *testing.T, s controller.Store) {
	const callers = 50
	type result struct {
		count  int64
		resets time.Time
		err    error
	}
	results := make(chan result, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			c, r, err := s.Incr(context.Background(), "shared", time.Hour)
			results <- result{c, r, err}
		})
	}
	wg.Wait()
	close(results)
	// Per window, the counts handed out are exactly 1..n.
	seen := map[int64]map[int64]bool{}
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		w := r.resets.UnixNano()
		if seen[w] == nil {
			seen[w] = map[int64]bool{}
		}
		if seen[w][r.count] {
			t.Fatalf("count %d handed out twice", r.count)
		}
		seen[w][r.count] = true
	}
	total := 0
	for _, counts := range seen {
		for i := int64(1); i <= int64(len(counts)); i++ {
			if !counts[i] {
				t.Fatalf("counts %v skip %d", counts, i)
			}
		}
		total += len(counts)
	}
	if total != callers {
		t.Errorf("%d counts for %d calls", total, callers)
	}
}

func testIncrResets(t *testing.T, s controller.Store) {
	ctx := t.Context()
	const win = 250 * time.Millisecond
	_, first, err := s.Incr(ctx, "short", win)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Incr(ctx, "short", win); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the window to end", func() bool { return time.Now().After(first) })
	if n, err := s.Count(ctx, "short", win); err != nil || n != 0 {
		t.Errorf("Count in the next window = %d, %v; want 0", n, err)
	}
	n, second, err := s.Incr(ctx, "short", win)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || !second.After(first) {
		t.Errorf("Incr in the next window = %d resets %v; want 1, after %v", n, second, first)
	}
}

func testLeaseOwnership(t *testing.T, s controller.Store) {
	ctx := t.Context()
	steps := []struct {
		do      string // acquire or release
		owner   string
		wantGot bool
	}{
		{"acquire", "a", true},
		{"acquire", "a", true}, // renewal by the holder
		{"acquire", "b", false},
		{"release", "b", false}, // not the holder: nothing happens
		{"acquire", "b", false},
		{"release", "a", false},
		{"acquire", "b", true},
		{"acquire", "a", false},
	}
	for i, st := range steps {
		switch st.do {
		case "acquire":
			got, err := s.AcquireLease(ctx, "wake:app.example.com", st.owner, 10*time.Second)
			if err != nil || got != st.wantGot {
				t.Fatalf("step %d: AcquireLease(%s) = %v, %v; want %v", i, st.owner, got, err, st.wantGot)
			}
		case "release":
			if err := s.ReleaseLease(ctx, "wake:app.example.com", st.owner); err != nil {
				t.Fatalf("step %d: ReleaseLease(%s): %v", i, st.owner, err)
			}
		}
	}
	// Leases are independent of each other.
	if got, err := s.AcquireLease(ctx, "wake:other.example.com", "a", 10*time.Second); err != nil || !got {
		t.Errorf("another lease: %v, %v; want it free", got, err)
	}
	if err := s.ReleaseLease(ctx, "never-taken", "a"); err != nil {
		t.Errorf("releasing a lease never taken: %v", err)
	}
}

func testLeaseExpiry(t *testing.T, s controller.Store) {
	ctx := t.Context()
	const ttl = 300 * time.Millisecond
	before := time.Now()
	if got, err := s.AcquireLease(ctx, "sweep", "a", ttl); err != nil || !got {
		t.Fatalf("AcquireLease(a) = %v, %v", got, err)
	}
	got, err := s.AcquireLease(ctx, "sweep", "b", ttl)
	if err != nil {
		t.Fatal(err)
	}
	// On a stalled machine the lease may really have expired by now.
	if got && time.Since(before) < ttl {
		t.Fatalf("AcquireLease(b) while a holds it succeeded; want false")
	}
	waitUntil(t, "b to take the expired lease", func() bool {
		got, err := s.AcquireLease(ctx, "sweep", "b", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return got
	})
	if since := time.Since(before); since < ttl {
		t.Errorf("lease taken over after %s; it was granted for %s", since, ttl)
	}
	// The old holder's late release must not free the new holder's lease.
	if err := s.ReleaseLease(ctx, "sweep", "a"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AcquireLease(ctx, "sweep", "c", ttl); err != nil || got {
		t.Errorf("AcquireLease(c) after a's late release = %v, %v; want false (b holds it)", got, err)
	}
}

func testLeaseRenewal(t *testing.T, s controller.Store) {
	ctx := t.Context()
	const short = 200 * time.Millisecond
	granted := time.Now()
	for _, ttl := range []time.Duration{short, 10 * time.Second} {
		if got, err := s.AcquireLease(ctx, "wake:x", "a", ttl); err != nil || !got {
			t.Fatalf("AcquireLease(a, %s) = %v, %v", ttl, got, err)
		}
	}
	// Waiting past the first TTL is the point of this test.
	time.Sleep(time.Until(granted.Add(2 * short)))
	if got, err := s.AcquireLease(ctx, "wake:x", "b", short); err != nil || got {
		t.Errorf("AcquireLease(b) after a renewed for 10s = %v, %v; want false", got, err)
	}
}

func event(host string, i int) controller.Event {
	return controller.Event{
		Host: host, From: controller.StateStarting, To: controller.StateRunning,
		Reason: fmt.Sprint("event ", i), At: base.Add(time.Duration(i) * time.Second), Duration: time.Duration(i) * time.Millisecond,
	}
}

// Recv waits up to 5 s for one event on ch; stores' own tests use it too.
func Recv(t *testing.T, ch <-chan controller.Event) controller.Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed while waiting for an event")
		}
		return e
	case <-time.After(wait):
		t.Fatalf("no event within %s", wait)
	}
	return controller.Event{}
}

// WaitClosed drains ch until it is closed, failing the test after limit;
// why says what should have closed it.
func WaitClosed(t *testing.T, ch <-chan controller.Event, why string, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("subscription still open %s after %s", why, limit)
		}
	}
}

func sameEvent(t *testing.T, got, want controller.Event) {
	t.Helper()
	got.At, want.At = got.At.UTC(), want.At.UTC()
	if got != want {
		t.Errorf("event:\n got  %+v\n want %+v", got, want)
	}
}

func testPubSub(t *testing.T, s controller.Store) {
	ctx := t.Context()
	if err := s.Publish(ctx, event("nobody.example.com", 0)); err != nil {
		t.Fatalf("Publish with no subscriber: %v", err)
	}
	subs := make([]<-chan controller.Event, 2)
	for i := range subs {
		ch, err := s.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = ch
	}
	for i := 1; i <= 3; i++ {
		if err := s.Publish(ctx, event("app.example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	for n, ch := range subs {
		for i := 1; i <= 3; i++ {
			t.Logf("subscriber %d, event %d", n, i)
			sameEvent(t, Recv(t, ch), event("app.example.com", i))
		}
	}
}

func testSubscriptionEnds(t *testing.T, s controller.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keep, err := s.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	WaitClosed(t, ch, "after its context ended", wait)
	// Publishing afterwards neither fails nor disturbs the others.
	if err := s.Publish(t.Context(), event("app.example.com", 1)); err != nil {
		t.Fatal(err)
	}
	sameEvent(t, Recv(t, keep), event("app.example.com", 1))
}

func testSlowSubscriber(t *testing.T, s controller.Store) {
	ctx := t.Context()
	if _, err := s.Subscribe(ctx); err != nil { // never read
		t.Fatal(err)
	}
	const burst = 500
	done := make(chan error, 1)
	go func() {
		for i := range burst {
			if err := s.Publish(ctx, event("app.example.com", i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * wait):
		t.Fatalf("%d publishes to a subscriber that never reads did not finish within %s", burst, 2*wait)
	}
	// A subscriber that does read still gets what comes next.
	fresh, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, event("last.example.com", 1)); err != nil {
		t.Fatal(err)
	}
	for {
		e := Recv(t, fresh)
		if e.Host == "last.example.com" {
			break
		}
	}
}

func testCloseEndsSubscriptions(t *testing.T, s controller.Store) {
	ch, err := s.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	WaitClosed(t, ch, "after Close", wait)
}

func testPing(t *testing.T, s controller.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// waitUntil polls cond until it holds, failing the test after wait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
