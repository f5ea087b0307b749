package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/store/memory"
	"github.com/waitingroom/waitingroom/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) controller.Store { return memory.New(nil) })
}

func TestIncrFollowsInjectedClock(t *testing.T) {
	clock := fake.NewClock(time.Date(2030, 1, 2, 23, 0, 0, 0, time.UTC))
	s := memory.New(clock)
	ctx := t.Context()
	steps := []struct {
		advance    time.Duration
		wantCount  int64
		wantResets time.Time
	}{
		{0, 1, time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)},
		{59 * time.Minute, 2, time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)},
		{time.Minute, 1, time.Date(2030, 1, 4, 0, 0, 0, 0, time.UTC)}, // midnight UTC: a new day
		{23 * time.Hour, 2, time.Date(2030, 1, 4, 0, 0, 0, 0, time.UTC)},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		n, resets, err := s.Incr(ctx, "host:app.example.com:day", 24*time.Hour)
		if err != nil || n != st.wantCount || !resets.Equal(st.wantResets) {
			t.Errorf("step %d: Incr = %d, %v, %v; want %d, %v", i, n, resets, err, st.wantCount, st.wantResets)
		}
	}
}

func TestLeaseFollowsInjectedClock(t *testing.T) {
	clock := fake.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := memory.New(clock)
	ctx := t.Context()
	if ok, _ := s.AcquireLease(ctx, "wake:x", "a", 15*time.Second); !ok {
		t.Fatal("a could not take a free lease")
	}
	clock.Advance(14 * time.Second)
	if ok, _ := s.AcquireLease(ctx, "wake:x", "b", 15*time.Second); ok {
		t.Fatal("b took the lease 1s before it expired")
	}
	clock.Advance(time.Second)
	if ok, _ := s.AcquireLease(ctx, "wake:x", "b", 15*time.Second); !ok {
		t.Fatal("b could not take the lease when it expired")
	}
}

// Counters keyed on client addresses expire; a long-running process must
// not keep every one it ever saw.
func TestExpiredCountersAreForgotten(t *testing.T) {
	clock := fake.NewClock(time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC))
	s := memory.New(clock)
	ctx := t.Context()
	for i := range 1000 {
		if _, _, err := s.Incr(ctx, fmt.Sprint("client:", i), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Hour)
	for range 512 {
		if _, _, err := s.Incr(ctx, "client:new", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n := memory.Counters(s); n > 1 {
		t.Errorf("%d counters kept after their windows ended; want 1", n)
	}
}
