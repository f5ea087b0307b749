package fake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
)

func TestClockMovesOnlyByHand(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := fake.NewClock(t0)
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after Advance: %s", got)
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("after Set: %s", got)
	}
}

func TestProvider(t *testing.T) {
	ctx := context.Background()
	a, b := controller.Target{Host: "a"}, controller.Target{Host: "b"}
	state := func(p *fake.Provider) controller.State {
		st, _ := p.Status(ctx, a)
		return st.State
	}

	p := &fake.Provider{}
	if s := state(p); s != controller.StateStopped {
		t.Fatalf("zero value reports %q, want stopped", s)
	}
	p.FailStarts(1)
	if err := p.Start(ctx, a); !errors.Is(err, fake.ErrStart) || state(p) != controller.StateStopped {
		t.Fatalf("first start: %v, state %q; want ErrStart and still stopped", err, state(p))
	}
	if err := p.Start(ctx, b); err != nil || state(p) != controller.StateRunning {
		t.Fatalf("second start: %v, state %q", err, state(p))
	}
	if p.Starts() != 2 || p.StartsOf("a") != 1 || p.StartsOf("b") != 1 {
		t.Fatalf("starts %d (a %d, b %d), want 2 (1, 1)", p.Starts(), p.StartsOf("a"), p.StartsOf("b"))
	}

	release := p.GateStops()
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(ctx, a) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v before the gate opened", err)
	case <-time.After(20 * time.Millisecond):
	}
	release()
	select {
	case err := <-stopped:
		if err != nil || state(p) != controller.StateStopped || p.StopsOf("a") != 1 {
			t.Fatalf("stop: %v, state %q, %d stops", err, state(p), p.StopsOf("a"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop still blocked 5 s after the gate opened")
	}

	p.SetStartState(controller.StateStarting)
	if err := p.Start(ctx, a); err != nil || state(p) != controller.StateStarting {
		t.Fatalf("start with start state starting: %v, %q", err, state(p))
	}

	p.SetHang(true)
	hctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := p.Start(hctx, a); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging start returned %v, want the context's error", err)
	}

	c := fake.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	q := &fake.Provider{}
	q.SetClock(c)
	_ = q.Start(ctx, a)
	if ts := q.StartTimes(); len(ts) != 1 || !ts[0].Equal(c.Now()) {
		t.Fatalf("start times %v, want [%s]", ts, c.Now())
	}
}
