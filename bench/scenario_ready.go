package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/internal/sleep"
)

// metaRefresh is the page reload interval scenario 3 compares against: a
// page that reloads every 10 s lands on the real site on average 5 s after
// the backend is ready (uniformly 0–10 s, p95 9.5 s).
const metaRefresh = 10 * time.Second

// pollInterval is how often the harness asks the backend whether it
// answers: the resolution of "the backend answered".
const pollInterval = 5 * time.Millisecond

// scenarioReady is scenario 3: for 50 wakes, the gap between the backend
// answering for the first time and the waiting page's event stream saying
// "running" (the moment wait.js turns the page into the real site).
func (e *env) scenarioReady() ([]Row, error) {
	wakes := size(e, 50, 3)
	parallel := size(e, 5, 3)
	hosts := make([]*demoHost, wakes)
	var yaml strings.Builder
	for i := range hosts {
		// Boot times from 0.5 s to 1.5 s, so readiness falls at every
		// phase of the controller's probe interval.
		delay := 500*time.Millisecond + time.Duration(i*173%1000)*time.Millisecond
		if e.opts.Smoke {
			delay = 100 * time.Millisecond
		}
		d, err := e.newDemoHost(fmt.Sprintf("ready%02d.bench.test", i), delay)
		if err != nil {
			return nil, err
		}
		hosts[i] = d
		yaml.WriteString(d.yaml())
	}
	w, err := e.startWaitingroom("", "", yaml.String())
	if err != nil {
		return nil, err
	}
	defer w.proc.kill()
	for _, d := range hosts {
		if err := e.waitState(w, d.name, "stopped", 30*time.Second); err != nil {
			return nil, err
		}
	}

	gaps := make([]time.Duration, 0, wakes)
	var wakeTotal []time.Duration
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, d := range hosts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			gap, total, err := e.measureWake(w, d)
			d.stop() // no need to keep 50 backends running
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			gaps = append(gaps, gap)
			wakeTotal = append(wakeTotal, total)
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	p := percentiles(gaps)
	tot := percentiles(wakeTotal)
	e.detail("3: backend answering → event stream \"running\" over %d wakes: min %s, p50 %s, p90 %s, p95 %s, max %s, mean %s (backend polled every %s)",
		p.N, fmtDur(gaps[0]), fmtDur(p.P50), fmtDur(p.P90), fmtDur(p.P95), fmtDur(p.Max), fmtDur(p.Mean), pollInterval)
	e.detail("3: wake request → \"running\" (boot delays 0.5–1.5 s): p50 %s, p95 %s", fmtDur(tot.P50), fmtDur(tot.P95))
	metaP95 := metaRefresh * 95 / 100
	return []Row{{
		Scenario: fmt.Sprintf("3 ready → on the real site (SSE), %d wakes", wakes),
		Target:   "p95 ≤ 500 ms",
		Measured: fmt.Sprintf("p50 %s, p95 %s, max %s", fmtDur(p.P50), fmtDur(p.P95), fmtDur(p.Max)),
		Baseline: fmt.Sprintf("fixed %s meta refresh: mean %s, p95 %s", fmtDur(metaRefresh), fmtDur(metaRefresh/2), fmtDur(metaP95)),
		Ratio:    fmtRatio(float64(p.P95) / float64(metaP95)),
		Verdict:  verdict(p.P95 <= 500*time.Millisecond),
	}}, nil
}

// measureWake wakes one sleeping host with its event stream open, and
// returns the gap between the backend first answering and the stream
// saying running, and the whole wake's duration.
func (e *env) measureWake(w *instance, d *demoHost) (gap, total time.Duration, err error) {
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	states, err := openEvents(ctx, w.public, d.name)
	if err != nil {
		return 0, 0, err
	}
	if first := <-states; first.state != "stopped" {
		return 0, 0, fmt.Errorf("%s: first event %q, want stopped", d.name, first.state)
	}
	answered := make(chan time.Time, 1)
	go func() {
		c := &http.Client{Timeout: 500 * time.Millisecond}
		for ctx.Err() == nil {
			resp, err := c.Get("http://" + d.addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					answered <- time.Now()
					return
				}
			}
			_ = sleep.For(ctx, pollInterval)
		}
	}()
	woke := time.Now()
	if err := w.wakePage(ctx, d.name); err != nil {
		return 0, 0, err
	}
	var runningAt time.Time
	for runningAt.IsZero() {
		select {
		case ev, ok := <-states:
			if !ok {
				return 0, 0, fmt.Errorf("%s: event stream ended before running", d.name)
			}
			if ev.state == "running" {
				runningAt = ev.at
			}
			if ev.state == "failed" {
				return 0, 0, fmt.Errorf("%s: wake failed", d.name)
			}
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("%s: no running event: %w", d.name, ctx.Err())
		}
	}
	select {
	case at := <-answered:
		return runningAt.Sub(at), runningAt.Sub(woke), nil
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("%s: running, but the backend never answered the harness", d.name)
	}
}

type stateEvent struct {
	state string
	at    time.Time // when the harness read it
}

// openEvents reads /.waitingroom/events of host as a browser's EventSource
// does and sends each state with the time it arrived.
func openEvents(ctx context.Context, public, host string) (<-chan stateEvent, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+public+"/.waitingroom/events", nil)
	if err != nil {
		return nil, err
	}
	req.Host = host
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", host, err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("events of %s: status %d, content type %q", host, resp.StatusCode, ct)
	}
	out := make(chan stateEvent, 16)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data:")
			if !ok {
				continue
			}
			at := time.Now()
			var ev struct {
				State string `json:"state"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(data)), &ev) != nil {
				continue
			}
			select {
			case out <- stateEvent{state: ev.State, at: at}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
