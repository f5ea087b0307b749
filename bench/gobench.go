package bench

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// benchResult is one line of `go test -bench` output.
type benchResult struct {
	Name    string // without the -GOMAXPROCS suffix
	N       int
	Metrics map[string]float64 // unit → value: "ns/op", "B/op", "allocs/op", ...
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads the result lines of `go test -bench -benchmem` output.
func parseBench(out string) map[string]benchResult {
	res := map[string]benchResult{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		r := benchResult{Name: procsSuffix.ReplaceAllString(f[0], ""), N: n, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			r.Metrics[f[i+1]] = v
		}
		res[r.Name] = r
	}
	return res
}

// goBench runs the benchmarks of one package matching pattern, with
// allocation counts, and optionally CPU and allocation profiles.
func (e *env) goBench(pkg, pattern string) (map[string]benchResult, error) {
	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-count", "1",
		"-benchtime", size(e, "1s", "1x"), "-timeout", "5m"}
	if e.opts.ProfileDir != "" {
		base := filepath.Join(e.opts.ProfileDir, strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "-"))
		args = append(args, "-cpuprofile", base+".cpu.pprof", "-memprofile", base+".mem.pprof",
			"-o", base+".test")
	}
	args = append(args, pkg)
	cmd := exec.CommandContext(e.ctx, "go", args...)
	cmd.Dir = e.root
	began := time.Now()
	out, err := cmd.CombinedOutput()
	e.progress("  go test -bench %s %s: %s", pattern, pkg, time.Since(began).Round(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tailString(string(out), 2000))
	}
	return parseBench(string(out)), nil
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// scenarioSweep is scenario 4: one idle sweep over 10,000 registered
// hosts, from controller's BenchmarkSweepIdle.
func (e *env) scenarioSweep() ([]Row, error) {
	res, err := e.goBench("./controller/", "^BenchmarkSweepIdle$")
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, c := range []struct {
		store, name string
		limit       time.Duration
	}{{"memory", "memory", 50 * time.Millisecond}, {"redis", "Redis", 500 * time.Millisecond}} {
		row := Row{Scenario: "4 idle sweep, 10,000 hosts, " + c.name + " store", Target: "≤ " + fmtDur(c.limit) + " per sweep"}
		r, ok := res["BenchmarkSweepIdle/"+c.store]
		if !ok {
			row.Measured, row.Verdict = "BenchmarkSweepIdle/"+c.store+" not in the output", Failed
			rows = append(rows, row)
			continue
		}
		d := time.Duration(r.Metrics["ns/op"])
		row.Measured = fmt.Sprintf("%s per sweep; %s allocs/op, %s/op", fmtDur(d),
			groupThousands(int64(r.Metrics["allocs/op"])), fmtBytes(r.Metrics["B/op"]))
		row.Baseline, row.Ratio = "—", fmtRatio(float64(d)/float64(c.limit))
		row.Verdict = verdict(d <= c.limit)
		rows = append(rows, row)
	}
	return rows, nil
}

// micro is one row of scenario 7.
type micro struct {
	pkg, bench, label string
	zeroAlloc         bool
}

var micros = []micro{
	{"./web/", "BenchmarkWaitingPage/html", "page render, HTML, memory store", false},
	{"./web/", "BenchmarkWaitingPage/json", "page render, JSON, memory store", false},
	{"./web/", "BenchmarkWaitingPageStore/memory/parallel", "page handler, memory store, parallel", false},
	{"./web/", "BenchmarkWaitingPageStore/redis/serial", "page handler, Redis store", false},
	{"./web/", "BenchmarkWaitingPageStore/redis/parallel", "page handler, Redis store, parallel", false},
	{"./web/", "BenchmarkParseHost/app.example.com", "Host parse, app.example.com", true},
	{"./web/", "BenchmarkParseHost/app.example.com:443", "Host parse, app.example.com:443", true},
	{"./web/", "BenchmarkParseHost/App.Example.COM", "Host parse, App.Example.COM", true},
	{"./web/", "BenchmarkParseHost/[2001:db8::1]:443", "Host parse, [2001:db8::1]:443", true},
	{"./controller/", "BenchmarkStatus/memory", "state read (Status), memory store", false},
	{"./controller/", "BenchmarkStatus/redis", "state read (Status), Redis store", false},
	{"./controller/", "BenchmarkWakeStarting/memory", "Wake of a waking host, memory store", false},
	{"./controller/", "BenchmarkWakeStarting/redis", "Wake of a waking host, Redis store", false},
	{"./controller/", "BenchmarkTouch/memory", "touch (store write), memory store", false},
	{"./controller/", "BenchmarkTouch/redis", "touch (store write), Redis store", false},
	{"./traefik/", "BenchmarkForwardAuth/coalesced", "touch, ForwardAuth handler", false},
	{"./traefik/", "BenchmarkForwardAuth/parallel", "touch, ForwardAuth handler, parallel", false},
}

// scenarioMicro is scenario 7: the Go micro-benchmarks of the hot paths.
func (e *env) scenarioMicro() ([]Row, error) {
	patterns := map[string]string{
		"./web/":        "^Benchmark(WaitingPage|WaitingPageStore|ParseHost)$",
		"./controller/": "^Benchmark(Status|WakeStarting|Touch)$",
		"./traefik/":    "^BenchmarkForwardAuth$",
	}
	results := map[string]map[string]benchResult{}
	errs := map[string]error{}
	for _, pkg := range []string{"./web/", "./controller/", "./traefik/"} {
		results[pkg], errs[pkg] = e.goBench(pkg, patterns[pkg])
		if errs[pkg] != nil {
			e.detail("7: %s: %s", pkg, errs[pkg])
		}
	}
	var rows []Row
	for _, m := range micros {
		row := Row{Scenario: "7 " + m.label, Target: "ns/op, allocs/op reported", Baseline: "—", Ratio: "—", Verdict: Info}
		if m.zeroAlloc {
			row.Target = "0 allocs/op"
		}
		if err := errs[m.pkg]; err != nil {
			row.Measured, row.Verdict = "go test "+m.pkg+" failed: "+firstLine(err), Failed
			rows = append(rows, row)
			continue
		}
		r, ok := results[m.pkg][m.bench]
		if !ok {
			row.Measured, row.Verdict = m.bench+" not in the output", Failed
			rows = append(rows, row)
			continue
		}
		allocs := r.Metrics["allocs/op"]
		row.Measured = fmt.Sprintf("%s/op, %s allocs/op, %s/op", fmtDur(time.Duration(r.Metrics["ns/op"])),
			groupThousands(int64(allocs)), fmtBytes(r.Metrics["B/op"]))
		if r.Metrics["ns/op"] < 1000 {
			row.Measured = fmt.Sprintf("%.1f ns/op, %s allocs/op, %s/op", r.Metrics["ns/op"],
				groupThousands(int64(allocs)), fmtBytes(r.Metrics["B/op"]))
		}
		if m.zeroAlloc {
			row.Verdict = verdict(allocs == 0)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<20:
		return strconv.FormatFloat(b/(1<<20), 'f', 1, 64) + " MB"
	case b >= 1<<10:
		return strconv.FormatFloat(b/(1<<10), 'f', 1, 64) + " KB"
	default:
		return strconv.FormatFloat(b, 'f', 0, 64) + " B"
	}
}
