// Package bench is waitingroom's benchmark harness: it builds the real
// binaries, runs them as separate processes on loopback next to a minimal
// net/http baseline answering the same bytes, drives them with its own
// bounded load generator, runs the Go micro-benchmarks, and reports one
// table (issue 11). cmd/wrbench is its command line; scripts/bench runs it.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Options configures a harness run.
type Options struct {
	// Smoke runs every scenario tiny (seconds) to prove it works; its
	// numbers mean nothing.
	Smoke bool
	// Only limits the run to these scenario numbers ("1".."7"); empty:
	// all of them.
	Only []string
	// Progress receives one line per step; nil: discarded.
	Progress io.Writer
	// ProfileDir, when set, makes the Go micro-benchmarks write CPU and
	// allocation profiles there (go test -cpuprofile/-memprofile), one
	// pair per package.
	ProfileDir string
	// KeepDir keeps the temporary directory (configurations, logs).
	KeepDir bool
	// BinDir, when set, holds prebuilt waitingroom and demo-backend
	// binaries to measure instead of building them from the tree (a
	// release, or a build from before a change).
	BinDir string
}

// Verdicts of a row.
const (
	Pass    = "pass"
	Miss    = "MISS"
	Info    = "info"
	Pending = "pending"
	Failed  = "error"
)

// Row is one line of the table.
type Row struct {
	Scenario string
	Target   string
	Measured string
	Baseline string
	Ratio    string
	Verdict  string
	// Correctness marks targets about behaviour (exactly one start, every
	// request answered), which the smoke test holds even when tiny.
	Correctness bool
}

// Report is a whole run.
type Report struct {
	Started time.Time
	Took    time.Duration
	Command string
	Smoke   bool
	// Root is the module root the binaries were built from.
	Root    string
	Machine Machine
	Rows    []Row
	// Details are extra lines per scenario (distributions, settings).
	Details []string
}

// scenario is one numbered scenario of issue 11.
type scenario struct {
	id   string
	name string
	run  func(*env) ([]Row, error)
}

// env is what scenarios share during one run.
type env struct {
	ctx   context.Context
	opts  Options
	root  string
	dir   string
	bins  Binaries
	clean cleanups
	seq   atomic.Int64

	redis   *redisServer
	redisDB int
	details []string
}

func (e *env) progress(format string, args ...any) {
	if e.opts.Progress != nil {
		fmt.Fprintf(e.opts.Progress, "bench: "+format+"\n", args...)
	}
}

func (e *env) detail(format string, args ...any) {
	e.details = append(e.details, fmt.Sprintf(format, args...))
}

// size picks the full or the smoke value.
func size[T any](e *env, full, smoke T) T {
	if e.opts.Smoke {
		return smoke
	}
	return full
}

// redisURL starts the run's redis-server on first use and hands out a
// fresh database per call.
func (e *env) redisURL() (string, error) {
	if e.redis == nil {
		r, err := e.startRedis(e.ctx)
		if err != nil {
			return "", err
		}
		e.redis = r
	}
	e.redisDB++
	if e.redisDB >= 64 {
		return "", errors.New("more than 63 redis databases requested")
	}
	return e.redis.url(e.redisDB), nil
}

func scenarios() []scenario {
	return []scenario{
		{"1", "waiting page under load", (*env).scenarioPage},
		{"2", "wake stampede", (*env).scenarioStampede},
		{"3", "ready to real site", (*env).scenarioReady},
		{"4", "idle sweep", (*env).scenarioSweep},
		{"5", "resident memory", (*env).scenarioMemory},
		{"6", "ForwardAuth endpoint", (*env).scenarioForwardAuth},
		{"7", "micro-benchmarks", (*env).scenarioMicro},
	}
}

// Run builds the binaries and runs the scenarios, one after another (they
// share two cores with the load generator; running them side by side would
// measure each other). A scenario that fails becomes an "error" row; Run
// returns an error only when nothing could run at all.
func Run(ctx context.Context, opts Options) (*Report, error) {
	rep := &Report{Started: time.Now(), Smoke: opts.Smoke, Command: commandLine()}
	e := &env{ctx: ctx, opts: opts}
	defer e.clean.run()

	if _, err := raiseFileLimit(); err != nil {
		return nil, fmt.Errorf("raise the open-file limit: %w", err)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	e.root = root
	rep.Root = root
	dir, err := os.MkdirTemp("", "waitingroom-bench-")
	if err != nil {
		return nil, err
	}
	e.dir = dir
	if !opts.KeepDir {
		e.clean.add(func() { os.RemoveAll(dir) })
	} else {
		e.progress("keeping %s", dir)
	}
	e.progress("building waitingroom, demo-backend and baseline")
	if e.bins, err = build(ctx, root, dir, opts.BinDir); err != nil {
		return nil, err
	}
	rep.Machine = describeMachine(ctx)

	for _, s := range scenarios() {
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, s.id) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		e.progress("scenario %s: %s", s.id, s.name)
		began := time.Now()
		rows, err := s.run(e)
		if err != nil {
			msg := strings.TrimSpace(err.Error())
			e.progress("scenario %s failed: %s", s.id, msg)
			if first, _, cut := strings.Cut(msg, "\n"); cut {
				e.detail("%s (%s) error, full message: %s", s.id, s.name, msg)
				msg = first
			}
			rows = append(rows, Row{Scenario: s.id + " " + s.name, Measured: msg, Verdict: Failed})
		}
		rep.Rows = append(rep.Rows, rows...)
		e.progress("scenario %s took %s", s.id, time.Since(began).Round(100*time.Millisecond))
	}
	rep.Details = e.details
	rep.Took = time.Since(rep.Started)
	rep.Machine.LoadEnd = loadAvg()
	return rep, ctx.Err()
}

func commandLine() string {
	if len(os.Args) == 0 {
		return "scripts/bench"
	}
	if strings.HasSuffix(os.Args[0], ".test") {
		return "go test ./bench/ (smoke)"
	}
	return "scripts/bench " + strings.Join(os.Args[1:], " ")
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPUs      int
	CPUModel  string
	MemoryMB  int
	GoVersion string
	Kernel    string
	Redis     string
	// LoadStart and LoadEnd are /proc/loadavg at the start and the end of
	// the run: anything else running on the machine skews the numbers.
	LoadStart, LoadEnd string
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func describeMachine(ctx context.Context) Machine {
	m := Machine{CPUs: numCPU(), LoadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int
				fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
				m.MemoryMB = kb / 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.GoVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if out, err := exec.CommandContext(ctx, "redis-server", "--version").Output(); err == nil {
		m.Redis = strings.TrimSpace(string(out))
	}
	return m
}
