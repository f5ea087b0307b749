package bench

import (
	"fmt"
	"net/http"
	"time"
)

// touchPath is where the public listener serves the ForwardAuth activity
// endpoint when traefik.forward_auth is true.
const touchPath = "/.waitingroom/touch"

// scenarioForwardAuth is scenario 6: the ForwardAuth activity endpoint
// that Traefik calls before every request to a running site. Throughput
// under 256 keep-alive connections against the baseline, and p99 at a fixed
// request rate (open loop: what each proxied request waits for it, without
// the queueing a saturated closed loop adds on two shared cores).
func (e *env) scenarioForwardAuth() ([]Row, error) {
	const host = "app.bench.test"
	closed, err := freeAddr()
	if err != nil {
		return nil, err
	}
	w, err := e.startWaitingroom("", "traefik:\n  forward_auth: true\n", sleepingHostYAML(host, closed))
	if err != nil {
		return nil, err
	}
	defer w.proc.kill()
	// As Traefik sends it: the auth server's address as Host, the
	// site's host in X-Forwarded-*.
	req := httpRequest("GET", touchPath, w.public,
		"X-Forwarded-Host", host, "X-Forwarded-Proto", "https", "X-Forwarded-Method", "GET",
		"X-Forwarded-Uri", "/some/page", "X-Forwarded-For", "198.51.100.7",
		"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0")
	ans, err := capture(w.public, req)
	if err != nil {
		return nil, err
	}
	rowT := Row{Scenario: "6 ForwardAuth /.waitingroom/touch, 256 conns", Target: "≥ 0.5× baseline req/s"}
	rowL := Row{Scenario: "6 ForwardAuth /.waitingroom/touch, p99 at fixed rate", Target: "p99 ≤ 2 ms"}
	if ans.Status != http.StatusOK {
		msg := fmt.Sprintf("not wired yet: %s answers %d (traefik.forward_auth: true)", touchPath, ans.Status)
		rowT.Measured, rowT.Verdict = msg, Pending
		rowL.Measured, rowL.Verdict = msg, Pending
		return []Row{rowT, rowL}, nil
	}
	baddr, err := e.startBaseline(ans)
	if err != nil {
		return nil, err
	}
	rate := size(e, 5000.0, 200.0)
	paced := func(addr string) Load {
		return Load{
			Addrs: []string{addr}, Request: req, WantStatus: http.StatusOK,
			Conns: size(e, 32, 4), Rate: rate,
			Warmup:   size(e, 500*time.Millisecond, 100*time.Millisecond),
			Duration: size(e, 1500*time.Millisecond, 200*time.Millisecond),
		}
	}
	thr, err := e.compare(e.rounds(),
		contender{"baseline, 256 conns", e.pageLoad(baddr, req, http.StatusOK)},
		contender{"waitingroom, 256 conns", e.pageLoad(w.public, req, http.StatusOK)})
	if err != nil {
		return nil, err
	}
	lat, err := e.compare(e.rounds(),
		contender{fmt.Sprintf("baseline, %.0f req/s", rate), paced(baddr)},
		contender{fmt.Sprintf("waitingroom, %.0f req/s", rate), paced(w.public)})
	if err != nil {
		return nil, err
	}
	for _, c := range append(thr, lat...) {
		e.detail("6: %s: %s; rounds: %s", c.name, describeLoad(c.pooled), describeRounds(c))
	}
	b, m := thr[0].pooled, thr[1].pooled
	rowT.Measured = fmt.Sprintf("%s; p99 %s", fmtRPS(m.RPS()), fmtDur(m.Latency.P99))
	rowT.Baseline = fmt.Sprintf("%s; p99 %s", fmtRPS(b.RPS()), fmtDur(b.Latency.P99))
	rowT.Ratio = fmtRatio(thr[1].ratio)
	rowT.Verdict = verdict(thr[1].ratio >= 0.5 && m.BadStatus == 0)
	b, m = lat[0].pooled, lat[1].pooled
	rowL.Scenario = fmt.Sprintf("6 ForwardAuth /.waitingroom/touch, p99 at %.0f req/s", rate)
	rowL.Measured = fmt.Sprintf("p50 %s, p99 %s", fmtDur(m.Latency.P50), fmtDur(m.Latency.P99))
	rowL.Baseline = fmt.Sprintf("p50 %s, p99 %s", fmtDur(b.Latency.P50), fmtDur(b.Latency.P99))
	rowL.Ratio = fmtRatio(float64(m.Latency.P99) / float64(b.Latency.P99))
	rowL.Verdict = verdict(m.Latency.P99 <= 2*time.Millisecond && m.BadStatus == 0)
	if rowL.Verdict == Miss && b.Latency.P99 > 2*time.Millisecond {
		// Then the tail is the machine's (scheduling on shared cores),
		// which the row must say rather than blame the handler.
		rowL.Measured += "; the baseline misses it too"
	}
	return []Row{rowT, rowL}, nil
}
