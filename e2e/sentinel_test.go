package e2e

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
)

// sentinelConfig is baseConfig with the store found through top's
// sentinels, and hosts.
func sentinelConfig(top *redistest.Topology, hosts string) string {
	return baseConfig + fmt.Sprintf("store:\n  sentinel:\n    master: %s\n    addrs: [%s]\nhosts:", redistest.MasterName,
		strings.Join(top.SentinelAddrs(), ", ")) + hosts
}

// storeProblem is the page's words when waitingroom cannot reach Redis.
const storeProblem = "cannot reach its state store"

// answers counts the answers of a bounded request loop by kind.
type answers struct {
	mu    sync.Mutex
	kinds map[string]int
	// firstWake is when the first waiting page without a store problem
	// came back after the mark (the primary's death).
	mark, firstWake time.Time
}

func (a *answers) add(kind string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.kinds == nil {
		a.kinds = map[string]int{}
	}
	a.kinds[kind]++
	if kind == "503 waiting page" && !a.mark.IsZero() && a.firstWake.IsZero() && at.After(a.mark) {
		a.firstWake = at
	}
}

func (a *answers) setMark(t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mark = t
}

func (a *answers) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(a.kinds)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, a.kinds[k]))
	}
	return strings.Join(parts, ", ")
}

// browserVisit sends a browser's request for host and says what came back.
func browserVisit(w *proc.Waitingroom, host string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := w.Get(ctx, host, "/", "Accept", "text/html", "User-Agent", "Mozilla/5.0 Chrome/130")
	if err != nil {
		return "no answer"
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), storeProblem):
		return "503 store unavailable"
	case resp.StatusCode == http.StatusServiceUnavailable:
		return "503 waiting page"
	}
	return fmt.Sprint(resp.StatusCode)
}

// crowd runs workers visiting host across ws until stop is closed, each
// at most max requests, one every pause, and returns when they are done.
func crowdUntil(ws []*proc.Waitingroom, host string, workers, max int, pause time.Duration, stop <-chan struct{}, a *answers) {
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := ws[i%len(ws)]
			for range max {
				select {
				case <-stop:
					return
				default:
				}
				a.add(browserVisit(w, host), time.Now())
				time.Sleep(pause)
			}
		}()
	}
	wg.Wait()
}

// Three waitingroom processes on a primary, a replica and three sentinels.
// A crowd asks for a sleeping host; once its start command has run, the
// primary is SIGKILLed mid-wake and mid-crowd. The sentinels promote the
// replica, every replica follows it, the wake finishes: the host runs, the
// start command ran once, and every request got an answer (the waiting
// page, or the page saying the store is unreachable).
func TestSentinelFailoverMidWakeWithThreeReplicas(t *testing.T) {
	top := redistest.StartTopology(t)
	d := newDemoHost(t, "app.test", 3*time.Second, "10m")
	ws := replicas(t, 3, sentinelConfig(top, d.yaml()))
	for _, w := range ws {
		proc.Eventually(t, 20*time.Second, func() bool { return status(t, w, "app.test") == "stopped" }, "not reconciled")
	}

	stop := make(chan struct{})
	var a answers
	done := make(chan struct{})
	go func() {
		defer close(done)
		crowdUntil(ws, "app.test", 12, 2000, 20*time.Millisecond, stop, &a)
	}()
	stopCrowd := sync.OnceFunc(func() { close(stop); <-done })
	defer stopCrowd()

	proc.Eventually(t, 20*time.Second, func() bool { return d.starts() == 1 }, "the start command never ran")
	// The wake's record is on the replica before the primary dies: a write
	// lost with the primary may cost one more start (docs/operations.md),
	// which store/redis's TestFailoverLosingAnAcknowledgedWakeLeavesNoHostStuck covers.
	top.WaitReplicated(t.Context())
	top.KillPrimary()
	killed := time.Now()
	a.setMark(killed)
	top.WaitFailover(60 * time.Second)
	for i, w := range ws {
		proc.Eventually(t, 90*time.Second, func() bool { return status(t, w, "app.test") == "running" },
			"replica %d never saw the host running after the failover", i)
	}
	stopCrowd()
	t.Logf("running on every replica %s after the primary died; answers: %s", time.Since(killed).Round(time.Millisecond), a.String())
	if n := d.starts(); n != 1 {
		t.Fatalf("the start command ran %d times across 3 replicas, want 1", n)
	}
	if n := a.kinds["no answer"]; n != 0 {
		t.Errorf("%d requests got no answer during the failover (%s)", n, a.String())
	}
	for kind := range a.kinds {
		if kind != "503 waiting page" && kind != "503 store unavailable" && kind != "200" && kind != "no answer" {
			t.Errorf("unexpected answer %q during the failover (%s)", kind, a.String())
		}
	}
}

// BenchmarkSentinelFailover measures, through two waitingroom processes, a
// sleeping host's crowd arriving as the Redis primary dies (SIGKILL): the
// time until the first request is answered with a wake (the waiting page
// of a starting host, not the store-unavailable page), until every replica
// sees the host running, and how the requests of a bounded crowd (4
// clients, one request each per 10 ms) were answered meanwhile. One
// topology per iteration; run it as
//
//	go test -run '^$' -bench SentinelFailover -benchtime 1x -count 5 ./e2e
func BenchmarkSentinelFailover(b *testing.B) {
	for range b.N {
		top := redistest.StartTopology(b)
		d := newDemoHost(b, "app.test", time.Second, "10m")
		ws := make([]*proc.Waitingroom, 2)
		for i := range ws {
			ws[i] = proc.StartWaitingroom(b, bins, b.TempDir(), sentinelConfig(top, d.yaml()))
		}
		for _, w := range ws {
			proc.Eventually(b, 20*time.Second, func() bool { return status(b, w, "app.test") == "stopped" }, "not reconciled")
		}
		stop := make(chan struct{})
		var a answers
		done := make(chan struct{})
		top.KillPrimary()
		killed := time.Now()
		a.setMark(killed)
		go func() {
			defer close(done)
			crowdUntil(ws, "app.test", 4, 5000, 10*time.Millisecond, stop, &a)
		}()
		for _, w := range ws {
			proc.Eventually(b, 90*time.Second, func() bool { return status(b, w, "app.test") == "running" }, "never running")
		}
		running := time.Since(killed)
		close(stop)
		<-done
		if n := d.starts(); n != 1 {
			b.Fatalf("the start command ran %d times, want 1", n)
		}
		a.mu.Lock()
		b.ReportMetric(float64(a.firstWake.Sub(killed).Milliseconds()), "ms-to-first-wake")
		b.ReportMetric(float64(running.Milliseconds()), "ms-to-running")
		b.ReportMetric(float64(a.kinds["503 store unavailable"]), "answers-store-unavailable")
		b.ReportMetric(float64(a.kinds["503 waiting page"]), "answers-waiting-page")
		b.ReportMetric(float64(a.kinds["200"]), "answers-200")
		b.ReportMetric(float64(a.kinds["no answer"]), "no-answer")
		a.mu.Unlock()
		b.Logf("answers: %s", a.String())
	}
}
