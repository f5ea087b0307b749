package docker

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"unknown sleep", Options{Name: "docker", Sleep: "suspend"}, `sleep "suspend" is not supported by docker`},
		{"negative stop timeout", Options{Name: "docker", StopTimeout: -time.Second}, "stop_timeout -1s is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want an error containing %q", tc.o, err, tc.want)
			}
		})
	}
}

func TestTargetSleepIsChecked(t *testing.T) {
	p := newTestProvider(t, Options{Host: "unix://" + filepath.Join(t.TempDir(), "none.sock")})
	tg := target("app")
	tg.Sleep = "suspend"
	err := p.Stop(context.Background(), tg)
	if err == nil || !strings.Contains(err.Error(), `sleep "suspend" is not supported by docker`) {
		t.Fatalf("Stop with sleep suspend: %v", err)
	}
}

// TestUnreachableEngine needs no engine: DOCKER_HOST points at a socket
// with nothing behind it (missing, or a file nobody listens on). Every call
// must fail fast with an error wrapping controller.ErrUnavailable that names
// the address, and nothing may crash.
func TestUnreachableEngine(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nothing.sock")
	dead := filepath.Join(dir, "dead.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: dead, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close() // the socket file stays; connecting is refused

	for name, sock := range map[string]string{"missing socket": missing, "nobody listening": dead} {
		t.Run(name, func(t *testing.T) {
			host := "unix://" + sock
			t.Setenv("DOCKER_HOST", host)
			p := newTestProvider(t, Options{Labels: true})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tg := target("app")

			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, controller.ErrUnavailable) {
					t.Errorf("%s: %v; want an error wrapping controller.ErrUnavailable", op, err)
					return
				}
				if !strings.Contains(err.Error(), host) || !strings.Contains(err.Error(), "unreachable") {
					t.Errorf("%s: %q does not say that %s is unreachable", op, err, host)
				}
			}
			check("Check", p.Check(ctx))
			check("Start", p.Start(ctx, tg))
			check("Stop", p.Stop(ctx, tg))
			st, err := p.Status(ctx, tg)
			check("Status", err)
			if st.State != controller.StateUnknown {
				t.Errorf("Status state %s, want unknown", st.State)
			}
			_, err = p.Discover(ctx)
			check("Discover", err)

			// Watch keeps retrying without crashing and returns when asked.
			wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer wcancel()
			done := make(chan error, 1)
			go func() {
				done <- p.Watch(wctx, func() []controller.Target { return []controller.Target{tg} },
					func(controller.Target, controller.Status) { t.Error("observe called without an engine") })
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Watch returned %v after its context ended, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Watch did not return after its context ended")
			}
		})
	}
}
