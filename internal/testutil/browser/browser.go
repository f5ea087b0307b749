// Package browser starts Debian's headless Chromium for chromedp tests: a
// fresh profile per browser, no background traffic of its own, test host
// names mapped to loopback, and every process it started killed when the
// test ends. Missing Chromium fails the test in CI and skips it elsewhere,
// saying how to install it.
package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/waitingroom/waitingroom/internal/testutil/logbuf"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

// InstallHint is what to run when Chromium is missing.
const InstallHint = "chromium not found: install it with `apt-get install -y chromium`"

// startTimeout bounds how long Chromium may take to start and open its
// first tab on a busy machine.
const startTimeout = 60 * time.Second

// Option changes how the browser is started.
type Option func(*settings)

type settings struct {
	resolverRules []string
	flags         [][2]any
}

// MapHosts makes the browser resolve each host to 127.0.0.1, so a test can
// open http://app.test:PORT/ with the Host a real user would send.
func MapHosts(hosts ...string) Option {
	return func(s *settings) {
		for _, h := range hosts {
			s.resolverRules = append(s.resolverRules, "MAP "+h+" 127.0.0.1")
		}
	}
}

// ResolverRules adds rules to --host-resolver-rules verbatim, e.g.
// "MAP *.test 127.0.0.1".
func ResolverRules(rules string) Option {
	return func(s *settings) { s.resolverRules = append(s.resolverRules, rules) }
}

// Flag sets a Chromium command-line flag: value true for a bare --name,
// false to remove a default, or a string for --name=value.
func Flag(name string, value any) Option {
	return func(s *settings) { s.flags = append(s.flags, [2]any{name, value}) }
}

// Path finds Debian's chromium. Missing, it fails the test when CI=true
// and skips it otherwise, saying how to install it.
func Path(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "/usr/lib/chromium/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal(InstallHint)
	}
	tb.Skip(InstallHint)
	return ""
}

// Browser is a running Chromium.
type Browser struct {
	// Ctx is the chromedp context of the browser's first tab, already
	// started. Derive timeouts from it for single actions
	// (context.WithTimeout); never cancel it yourself.
	Ctx context.Context
	// DataDir is the browser's --user-data-dir.
	DataDir string

	out *logbuf.Buffer
}

// Start runs a headless Chromium with a fresh profile and opens its first
// tab. The browser and every process it forked are killed in tb.Cleanup;
// its output is printed if the test failed.
func Start(tb testing.TB, opts ...Option) *Browser {
	tb.Helper()
	path := Path(tb)
	var s settings
	for _, o := range opts {
		o(&s)
	}
	// Registered before the cleanup below, so it runs after it: the profile
	// is removed once nothing writes to it any more.
	dataDir := tb.TempDir()
	b := &Browser{DataDir: dataDir, out: &logbuf.Buffer{}}

	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dataDir),
		chromedp.Headless,
		chromedp.NoSandbox, // root in containers; the tests load only their own pages
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-domain-reliability", true),
		// An upgrade of http://app.test to https would try TLS against a
		// plain HTTP proxy first and add a fallback's delay to every
		// navigation a test measures.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,MediaRouter,OptimizationHints"),
		chromedp.CombinedOutput(b.out),
	)
	if len(s.resolverRules) > 0 {
		allocOpts = append(allocOpts, chromedp.Flag("host-resolver-rules", strings.Join(s.resolverRules, ", ")))
	}
	for _, f := range s.flags {
		allocOpts = append(allocOpts, chromedp.Flag(f[0].(string), f[1]))
	}

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		stopped := make(chan struct{})
		go func() { cancelBrowser(); cancelAlloc(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(15 * time.Second):
			tb.Logf("chromium did not stop within 15 s; killing what is left")
		}
		killLeftovers(dataDir)
		if tb.Failed() {
			tb.Logf("chromium output:\n%s", b.out.Tail(4000))
		}
	})

	// The first call starts the browser and binds its life to bctx: it must
	// not carry a timeout. A browser that never starts is bounded here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err := <-started:
		if err != nil {
			tb.Fatalf("starting chromium: %v\n%s", err, b.out.Tail(4000))
		}
	case <-time.After(startTimeout):
		cancelBrowser()
		tb.Fatalf("chromium did not start within %s\n%s", startTimeout, b.out.Tail(4000))
	}
	b.Ctx = bctx
	return b
}

// NewTab opens another tab in the browser, closed in tb.Cleanup.
func (b *Browser) NewTab(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.Ctx)
	tb.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab; no timeout here
		tb.Fatalf("opening a tab: %v", err)
	}
	return ctx
}

// Output is what Chromium wrote to stdout and stderr so far.
func (b *Browser) Output() string { return b.out.String() }

// Run runs one action on the tab ctx, bounded by d.
func Run[T any](ctx context.Context, d time.Duration, a chromedp.Action[T]) (T, error) {
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(rctx, a)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		return v, fmt.Errorf("no answer from chromium within %s: %w", d, err)
	}
	return v, err
}

// killLeftovers kills every process started with this profile (Chromium
// passes --user-data-dir to its children: zygote, renderers, network
// service), looking again until none is found a few times in a row, so a
// child forked as its parent died does not write into a removed profile.
func killLeftovers(dataDir string) {
	want := []byte("--user-data-dir=" + dataDir)
	deadline := time.Now().Add(5 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if killProcessesWith(want) == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

// killProcessesWith kills the processes with arg in their command line and
// reports how many it found.
func killProcessesWith(arg []byte) int {
	return proc.KillMatching(func(dir string) bool {
		cmdline, err := os.ReadFile(dir + "/cmdline")
		if err != nil {
			return false
		}
		for a := range bytes.SplitSeq(cmdline, []byte{0}) {
			if bytes.Equal(a, arg) {
				return true
			}
		}
		return false
	})
}
