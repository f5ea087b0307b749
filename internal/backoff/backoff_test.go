package backoff

import (
	"testing"
	"time"
)

func TestDelayDoublesUpToMax(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{-1, 100 * time.Millisecond},
		{0, 100 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{1000, time.Second}, // no overflow however many failures
	}
	for _, tt := range tests {
		if got := p.Delay(tt.n); got != tt.want {
			t.Errorf("Delay(%d) = %s, want %s", tt.n, got, tt.want)
		}
	}
}

func TestJitteredStaysInTheUpperHalf(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for n := 1; n <= 8; n++ {
		d := p.Delay(n)
		seen := map[time.Duration]bool{}
		for range 200 {
			j := p.Jittered(n)
			if j < d/2 || j > d {
				t.Fatalf("Jittered(%d) = %s, outside [%s, %s]", n, j, d/2, d)
			}
			seen[j] = true
		}
		if len(seen) < 2 {
			t.Errorf("Jittered(%d) gave one value in 200 draws: no jitter", n)
		}
	}
	if got := (Policy{}).Jittered(3); got != 0 {
		t.Errorf("zero policy: %s, want 0", got)
	}
}
