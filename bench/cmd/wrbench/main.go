// Command wrbench runs waitingroom's benchmark harness (package bench):
// every scenario of issue 11 against a baseline measured in the same run,
// one table on stdout, and the table written into BENCHMARKS.md.
//
//	wrbench                   full run (under ten minutes), writes BENCHMARKS.md
//	wrbench -smoke            every scenario tiny (seconds), writes nothing
//	wrbench -only 1,6         some scenarios only
//	wrbench -profile DIR      also CPU and allocation profiles of the micro-benchmarks
//	wrbench -quiet 10m        first wait (up to 10 min) for the machine to be idle
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/waitingroom/waitingroom/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	smoke := flag.Bool("smoke", false, "run every scenario tiny, to prove the harness works; numbers mean nothing")
	short := flag.Bool("short", false, "same as -smoke")
	only := flag.String("only", "", "comma-separated scenario numbers to run (default: all)")
	out := flag.String("out", "", "markdown file to write the results into (default: BENCHMARKS.md in the module root for a full run, nothing for a smoke run)")
	profile := flag.String("profile", "", "directory for CPU and allocation profiles of the Go micro-benchmarks")
	keep := flag.Bool("keep", false, "keep the temporary directory with configurations and logs")
	quiet := flag.Duration("quiet", 0, "wait up to this long for the machine to calm down (1-minute load average below half the CPUs) before measuring")
	binDir := flag.String("bin", "", "directory with prebuilt waitingroom and demo-backend to measure (default: build them from this tree)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "wrbench: unexpected arguments %v\n", flag.Args())
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := bench.Options{Smoke: *smoke || *short, Progress: os.Stderr, ProfileDir: *profile, KeepDir: *keep, BinDir: *binDir}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "wrbench:", err)
			return 1
		}
	}
	if *quiet > 0 {
		waitQuiet(ctx, *quiet)
	}
	rep, err := bench.Run(ctx, opts)
	if rep == nil {
		fmt.Fprintln(os.Stderr, "wrbench:", err)
		return 1
	}
	fmt.Print(rep.Table())
	if err != nil {
		fmt.Fprintln(os.Stderr, "wrbench: interrupted:", err)
		return 1
	}
	path := *out
	if path == "" && !opts.Smoke && *only == "" {
		path = filepath.Join(rep.Root, "BENCHMARKS.md")
	}
	if path != "" {
		if err := rep.WriteMarkdown(path); err != nil {
			fmt.Fprintln(os.Stderr, "wrbench:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "wrbench: results written to %s\n", path)
	}
	for _, r := range rep.Rows {
		if r.Verdict == bench.Failed {
			return 1
		}
	}
	return 0
}

// waitQuiet waits until the 1-minute load average drops below half the
// CPUs, or d passes: other builds and tests on the machine skew every
// number, and the baseline only partly corrects for them.
func waitQuiet(ctx context.Context, d time.Duration) {
	limit := float64(runtime.NumCPU()) / 2
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile("/proc/loadavg")
		if err != nil {
			return
		}
		var load float64
		if _, err := fmt.Sscanf(string(b), "%f", &load); err != nil || load < limit {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "wrbench: load average still %.1f after %s; measuring anyway\n", load, d)
			return
		}
		fmt.Fprintf(os.Stderr, "wrbench: load average %.1f, waiting for it to drop below %.1f\n", load, limit)
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
}
