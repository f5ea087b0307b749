package redistest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
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
