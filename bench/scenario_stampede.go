package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// stampedeResult is what a burst of first requests got.
type stampedeResult struct {
	Sent, Answered, WrongStatus, Errors int
	Statuses                            map[int]int // answers by status
	FirstErr                            error
	Elapsed                             time.Duration
	Latency                             Percentiles
}

func (r stampedeResult) rps() float64 { return float64(r.Answered) / r.Elapsed.Seconds() }

// stampede sends n requests, each on a fresh connection (first requests of
// n different visitors), at most inflight at a time, round robin over addrs.
// Latency includes the TCP connect. Connections are closed with an RST
// (linger 0) once answered, so tens of thousands of them leave no
// TIME_WAIT sockets behind to exhaust the loopback ports. An answer with
// a status not in want counts as wrong.
func stampede(ctx context.Context, addrs []string, req []byte, n, inflight int, want ...int) stampedeResult {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, n)
		res  = stampedeResult{Sent: n, Statuses: map[int]int{}}
		sem  = make(chan struct{}, inflight)
		dial = net.Dialer{Timeout: ioTimeout}
	)
	began := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			status, err := func() (int, error) {
				c, err := dial.DialContext(ctx, "tcp", addrs[i%len(addrs)])
				if err != nil {
					return 0, err
				}
				defer func() {
					if tc, ok := c.(*net.TCPConn); ok {
						_ = tc.SetLinger(0)
					}
					c.Close()
				}()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := c.Write(req); err != nil {
					return 0, err
				}
				status, _, err := readResponse(bufio.NewReaderSize(c, 16<<10))
				return status, err
			}()
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors++
				if res.FirstErr == nil {
					res.FirstErr = err
				}
				return
			}
			res.Answered++
			lat = append(lat, took)
			res.Statuses[status]++
			if !slices.Contains(want, status) {
				res.WrongStatus++
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(began)
	res.Latency = percentiles(lat)
	if ctx.Err() != nil && res.FirstErr == nil {
		res.FirstErr = ctx.Err()
	}
	return res
}

func describeStampede(r stampedeResult) string {
	codes := slices.Sorted(maps.Keys(r.Statuses))
	var by []string
	for _, c := range codes {
		by = append(by, fmt.Sprintf("%s × %d", groupThousands(int64(r.Statuses[c])), c))
	}
	s := fmt.Sprintf("%d of %d answered in %s (%s; %s), %d wrong status, %d errors; latency incl. connect p50 %s, p90 %s, p99 %s, max %s",
		r.Answered, r.Sent, r.Elapsed.Round(time.Millisecond), fmtRPS(r.rps()), strings.Join(by, ", "), r.WrongStatus, r.Errors,
		fmtDur(r.Latency.P50), fmtDur(r.Latency.P90), fmtDur(r.Latency.P99), fmtDur(r.Latency.Max))
	if r.FirstErr != nil {
		s += "; first error: " + r.FirstErr.Error()
	}
	return s
}

// scenarioStampede is scenario 2: 10,000 concurrent first requests for one
// sleeping host, on 1 and 3 replicas sharing Redis (and on the memory
// store), must make exactly one provider start and all be answered.
func (e *env) scenarioStampede() ([]Row, error) {
	n := size(e, 10_000, 200)
	inflight := size(e, 1_000, 50)
	target := "exactly 1 provider start; every request answered; p99 reported"
	var rows []Row
	var base *stampedeResult
	for i, r := range []struct {
		name     string
		replicas int
		redis    bool
	}{
		{"1 replica, Redis", 1, true},
		{"3 replicas, Redis", 3, true},
		{"1 replica, memory store", 1, false},
	} {
		row := Row{Scenario: fmt.Sprintf("2 wake stampede, %s first requests, %s", groupThousands(int64(n)), r.name),
			Target: target, Correctness: true}
		storeURL := ""
		if r.redis {
			u, err := e.redisURL()
			if err != nil {
				row.Measured, row.Verdict = err.Error(), Failed
				rows = append(rows, row)
				continue
			}
			storeURL = u
		}
		d, err := e.newDemoHost(fmt.Sprintf("crowd%d.bench.test", i), time.Second)
		if err != nil {
			return rows, err
		}
		var ws []*instance
		var addrs []string
		for range r.replicas {
			w, err := e.startWaitingroom(storeURL, "", d.yaml())
			if err != nil {
				return rows, err
			}
			ws = append(ws, w)
			addrs = append(addrs, w.public)
		}
		for _, w := range ws {
			// Reconcile at boot finds the backend stopped.
			if err := e.waitState(w, d.name, "stopped", 20*time.Second); err != nil {
				return rows, err
			}
		}
		req := httpRequest("GET", "/", d.name, browserHeaders...)
		e.progress("  %s: %d first requests, %d in flight", r.name, n, inflight)
		// The waiting page (503) until the backend answers, then the
		// backend's own page (200) through waitingroom's handoff: the
		// demo backend boots in 1 s, within the burst.
		res := stampede(e.ctx, addrs, req, n, inflight, 503, 200)
		e.detail("2: %s: %s", r.name, describeStampede(res))
		// The wake finishes (or fails) in the background: wait for it, so
		// a second start would have happened by the time we count.
		runErr := e.waitState(ws[0], d.name, "running", 30*time.Second)
		starts := d.starts()
		if base == nil {
			ans, err := capture(ws[0].public, req)
			if err != nil {
				return rows, err
			}
			baddr, err := e.startBaseline(ans)
			if err != nil {
				return rows, err
			}
			b := stampede(e.ctx, []string{baddr}, req, n, inflight, ans.Status)
			e.detail("2: baseline: %s", describeStampede(b))
			base = &b
		}
		for _, w := range ws {
			w.proc.kill()
		}
		d.stop()
		if e.ctx.Err() != nil {
			return rows, e.ctx.Err()
		}
		plural := "s"
		if starts == 1 {
			plural = ""
		}
		row.Measured = fmt.Sprintf("%d provider start%s; %s/%s answered; p50 %s, p99 %s; %s",
			starts, plural, groupThousands(int64(res.Answered-res.WrongStatus)), groupThousands(int64(n)),
			fmtDur(res.Latency.P50), fmtDur(res.Latency.P99), fmtRPS(res.rps()))
		row.Baseline = fmt.Sprintf("p99 %s; %s", fmtDur(base.Latency.P99), fmtRPS(base.rps()))
		row.Ratio = fmtRatio(res.rps() / base.rps())
		ok := starts == 1 && res.Answered == n && res.WrongStatus == 0 && runErr == nil
		row.Verdict = verdict(ok)
		if runErr != nil {
			row.Measured += "; never running: " + firstLine(runErr)
		}
		if res.FirstErr != nil && !errors.Is(res.FirstErr, context.Canceled) {
			row.Measured += "; first error: " + firstLine(res.FirstErr)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func firstLine(err error) string {
	s := err.Error()
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
