package bench

import (
	"fmt"
	"time"
)

// rounds is how many times compare alternates between the contenders.
func (e *env) rounds() int { return size(e, 5, 1) }

// pageLoad is one round's keep-alive load of scenario 1 (and of the
// throughput part of scenario 6).
func (e *env) pageLoad(addr string, req []byte, want int) Load {
	return Load{
		Addrs: []string{addr}, Request: req, WantStatus: want,
		Conns:       size(e, 256, 16),
		Warmup:      size(e, 500*time.Millisecond, 100*time.Millisecond),
		Duration:    size(e, 1500*time.Millisecond, 200*time.Millisecond),
		MaxRequests: size(e, 1_000_000, 20_000),
	}
}

// scenarioPage is scenario 1: the waiting page of a sleeping (waking)
// host under 256 keep-alive connections, with the memory and the Redis
// store, against the baseline answering the same bytes.
func (e *env) scenarioPage() ([]Row, error) {
	const host = "app.bench.test"
	closed, err := freeAddr()
	if err != nil {
		return nil, err
	}
	req := httpRequest("GET", "/some/page", host, browserHeaders...)
	conns := e.pageLoad("", nil, 0).Conns
	target := "≥ 0.5× baseline req/s; p99 reported"

	// All three servers run side by side (the two waitingrooms idle but
	// for a readiness probe every 300 ms) and take the load in turns.
	redisURL, redisErr := e.redisURL()
	type server struct {
		name string
		w    *instance
	}
	var servers []server
	for _, s := range []struct{ name, store string }{{"memory store", ""}, {"Redis store", redisURL}} {
		if s.store == "" && s.name != "memory store" {
			continue // Redis is missing: its row says so below
		}
		w, err := e.startWaitingroom(s.store, "", sleepingHostYAML(host, closed))
		if err != nil {
			return nil, err
		}
		defer w.proc.kill()
		if err := w.wakePage(e.ctx, host); err != nil {
			return nil, err
		}
		if err := e.waitState(w, host, "starting", 10*time.Second); err != nil {
			return nil, err
		}
		servers = append(servers, server{s.name, w})
	}
	// The baseline answers exactly what this crowd gets.
	ans, err := capture(servers[0].w.public, req)
	if err != nil {
		return nil, err
	}
	e.detail("1: the waiting page is %d bytes of body with %d headers, status %d", len(ans.Body), len(ans.Header), ans.Status)
	baddr, err := e.startBaseline(ans)
	if err != nil {
		return nil, err
	}
	cs := []contender{{"baseline", e.pageLoad(baddr, req, ans.Status)}}
	for _, s := range servers {
		cs = append(cs, contender{s.name, e.pageLoad(s.w.public, req, 503)})
	}
	res, err := e.compare(e.rounds(), cs...)
	if err != nil {
		return nil, err
	}
	base := res[0]
	for _, c := range res {
		e.detail("1: %s: %s; rounds: %s", c.name, describeLoad(c.pooled), describeRounds(c))
	}
	var rows []Row
	for _, c := range res[1:] {
		row := Row{Scenario: fmt.Sprintf("1 waiting page, %d conns, %s", conns, c.name), Target: target}
		row.Measured = fmt.Sprintf("%s; p50 %s, p99 %s", fmtRPS(c.pooled.RPS()), fmtDur(c.pooled.Latency.P50), fmtDur(c.pooled.Latency.P99))
		row.Baseline = fmt.Sprintf("%s; p99 %s", fmtRPS(base.pooled.RPS()), fmtDur(base.pooled.Latency.P99))
		row.Ratio = fmtRatio(c.ratio)
		row.Verdict = verdict(c.ratio >= 0.5)
		if c.pooled.BadStatus > 0 || c.pooled.Errors > 0 {
			row.Measured += fmt.Sprintf("; %d wrong status, %d errors", c.pooled.BadStatus, c.pooled.Errors)
			row.Verdict = Miss
		}
		rows = append(rows, row)
	}
	if redisErr != nil {
		rows = append(rows, Row{Scenario: fmt.Sprintf("1 waiting page, %d conns, Redis store", conns), Target: target,
			Measured: redisErr.Error(), Verdict: Failed})
	}
	return rows, nil
}

func describeLoad(r LoadResult) string {
	return fmt.Sprintf("%d answers in %s = %s; latency p50 %s, p90 %s, p99 %s, max %s; %d errors, %d wrong status",
		r.Requests, r.Elapsed.Round(time.Millisecond), fmtRPS(r.RPS()), fmtDur(r.Latency.P50), fmtDur(r.Latency.P90),
		fmtDur(r.Latency.P99), fmtDur(r.Latency.Max), r.Errors, r.BadStatus)
}

func verdict(ok bool) string {
	if ok {
		return Pass
	}
	return Miss
}
