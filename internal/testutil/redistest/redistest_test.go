package redistest

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("started server does not answer: %v", err)
	}
	s.Stop()
	if err := ping(s.Addr()); err == nil {
		t.Fatal("stopped server still answers")
	}
	s.Stop() // twice is fine
	s.Restart()
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("restarted server does not answer: %v", err)
	}
	if !strings.HasPrefix(s.URL(), "redis://127.0.0.1:") {
		t.Errorf("URL = %s", s.URL())
	}
}

// recorder stands in for testing.T to see whether Start fails or skips.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) {
	r.skip = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestMissingRedisFailsInCIAndSkipsOutside(t *testing.T) {
	tests := []struct {
		ci       string
		wantFail bool
	}{
		{"true", true},
		{"", false},
	}
	for _, tc := range tests {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir())
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Start(r)
			}()
			<-done
			got := r.skip
			if tc.wantFail {
				got = r.fatal
			}
			if !strings.Contains(got, "apt-get install -y redis-server") {
				t.Errorf("fatal=%q skip=%q; want the install hint in the %s message", r.fatal, r.skip, map[bool]string{true: "fatal", false: "skip"}[tc.wantFail])
			}
		})
	}
}

func TestMissingBinariesFailTheTopologyInCI(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		StartTopology(r)
	}()
	<-done
	if !strings.Contains(r.fatal, "apt-get install -y redis-server") {
		t.Errorf("fatal=%q skip=%q; want a failure with the install hint", r.fatal, r.skip)
	}
}

func TestTopologyFailsOverToTheReplica(t *testing.T) {
	top := StartTopology(t)
	ctx := t.Context()
	if got := top.PrimaryAddr(ctx); got != top.Primary.Addr() {
		t.Fatalf("sentinels name %q as primary; want %s", got, top.Primary.Addr())
	}
	for _, s := range top.Sentinels {
		// A map in RESP3 (go-redis's default), pairs in a list in RESP2.
		params, err := top.client(s.Addr()).Do(ctx, "SENTINEL", "DEBUG").Result()
		if err != nil {
			t.Fatalf("SENTINEL DEBUG on %s: %v", s.Addr(), err)
		}
		var got any
		switch p := params.(type) {
		case map[any]any:
			got = p["TILT-TRIGGER"]
		case []any:
			if i := slices.Index(p, any("TILT-TRIGGER")); i >= 0 && i+1 < len(p) {
				got = p[i+1]
			}
		}
		if fmt.Sprint(got) != strconv.FormatInt(TiltTrigger.Milliseconds(), 10) {
			t.Errorf("sentinel %s: %v; want TILT-TRIGGER %d", s.Addr(), params, TiltTrigger.Milliseconds())
		}
	}
	if err := top.client(top.Primary.Addr()).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// WAIT: the replica has the write before the primary dies.
	if n, err := top.client(top.Primary.Addr()).Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT = %d, %v", n, err)
	}
	top.KillPrimary()
	top.WaitFailover(30 * time.Second)
	if got, err := top.client(top.Replica.Addr()).Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("after failover k = %q, %v; want v", got, err)
	}
}
