package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
)

func replicas(t testing.TB, n int, cfg string) []*proc.Waitingroom {
	t.Helper()
	ws := make([]*proc.Waitingroom, n)
	for i := range ws {
		ws[i] = proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	}
	return ws
}

// Three replicas on one Redis: a crowd spread across them makes exactly one
// start, every replica's event stream hears "running", and the idle sweep
// stops the host exactly once.
// crowd sends n waking requests spread over the replicas, at most 200 in
// flight, and fails the test unless every one got the waiting page (503).
func crowd(t testing.TB, ws []*proc.Waitingroom, host string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	var page, site, other atomic.Int32
	sem := make(chan struct{}, 200) // bounded in flight
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			switch wake(t, ws[i%len(ws)], host) {
			case http.StatusServiceUnavailable:
				page.Add(1)
			case http.StatusOK: // arrived once running: handed to the backend
				site.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	// On a busy machine the backend may be ready before the crowd has
	// passed; what arrives after that is handed off, which is right too.
	if other.Load() != 0 || page.Load() == 0 {
		t.Fatalf("of %d requests %d got the waiting page, %d the site, %d something else", n, page.Load(), site.Load(), other.Load())
	}
}

func TestReplicasShareOneWakeAndOneSweep(t *testing.T) {
	rs := redistest.Start(t)
	d := newDemoHost(t, "app.test", time.Second, "4s")
	stopCount := d.dir + "/stops"
	cfg := baseConfig + fmt.Sprintf("store:\n  redis_url: %q\nhosts:", rs.URL()) +
		strings.Replace(d.yaml(), `stop: [`, fmt.Sprintf(`stop: ["/bin/sh", "-c", "echo x >> %s; exec \"$0\" \"$@\"", `, stopCount), 1)
	ws := replicas(t, 3, cfg)
	for _, w := range ws {
		proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "app.test") == "stopped" }, "not reconciled")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	streams := make([]<-chan string, len(ws))
	for i, w := range ws {
		streams[i] = sse(ctx, t, w.Public, "app.test")
	}

	crowd(t, ws, "app.test", 1000)
	for i, s := range streams {
		for st := range s {
			if st == "running" {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("replica %d never heard running", i)
		}
	}
	if n := d.starts(); n != 1 {
		t.Fatalf("start ran %d times across 3 replicas, want 1", n)
	}
	proc.Eventually(t, 30*time.Second, func() bool { return status(t, ws[0], "app.test") == "stopped" }, "never stopped as idle")
	proc.Eventually(t, 5*time.Second, func() bool { return !d.processAlive() }, "backend still alive")
	stops := func() int { return countLines(stopCount) }
	if n := stops(); n != 1 {
		t.Fatalf("stop ran %d times, want exactly 1", n)
	}
}

// The replica that owns a wake dies mid-wake: another replica takes the
// expired lease over and finishes the wake without starting twice.
func TestReplicaDiesMidWakeAnotherFinishes(t *testing.T) {
	rs := redistest.Start(t)
	d := newDemoHost(t, "app.test", 4*time.Second, "1m")
	cfg := baseConfig + fmt.Sprintf("store:\n  redis_url: %q\nhosts:", rs.URL()) + d.yaml()
	ws := replicas(t, 2, cfg)
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, ws[1], "app.test") == "stopped" }, "not reconciled")
	if c := wake(t, ws[0], "app.test"); c != http.StatusServiceUnavailable {
		t.Fatalf("status %d", c)
	}
	proc.Eventually(t, 10*time.Second, func() bool { return d.starts() == 1 }, "start never ran")
	ws[0].Kill() // SIGKILL: no lease release, no cleanup
	proc.Eventually(t, 60*time.Second, func() bool { return status(t, ws[1], "app.test") == "running" },
		"the surviving replica never finished the wake")
	if n := d.starts(); n != 1 {
		t.Fatalf("start ran %d times, want 1 (the takeover checks readiness first)", n)
	}
	if !strings.Contains(ws[1].Output(), "taking over an unfinished wake") {
		t.Error("no takeover in the surviving replica's log")
	}
}
