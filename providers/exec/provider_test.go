package exec

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

func target(cmds map[string][]string) controller.Target {
	return controller.Target{Host: "app.example.com", Provider: "exec", Backend: Target{Start: cmds["start"], Stop: cmds["stop"], Status: cmds["status"]}}
}

func TestStartSucceedsOnExitZero(t *testing.T) {
	p := New(Options{})
	if err := p.Start(context.Background(), target(map[string][]string{"start": {"true"}})); err != nil {
		t.Fatalf("start: %v", err)
	}
}

func TestNonZeroExitReportsCommandCodeAndStderr(t *testing.T) {
	p := New(Options{})
	tg := target(map[string][]string{"stop": {"sh", "-c", "echo 'unit legacy not loaded' >&2; exit 7"}})
	err := p.Stop(context.Background(), tg)
	if err == nil {
		t.Fatal("stop succeeded; want an error for exit code 7")
	}
	for _, want := range []string{`"sh"`, "code 7", "unit legacy not loaded", "stop app.example.com"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestStdoutIsTheReasonWhenStderrIsEmpty(t *testing.T) {
	p := New(Options{})
	err := p.Start(context.Background(), target(map[string][]string{"start": {"sh", "-c", "echo only-on-stdout; exit 1"}}))
	if err == nil || !strings.Contains(err.Error(), "only-on-stdout") {
		t.Fatalf("error %v does not carry stdout", err)
	}
}

func TestLongStderrIsTruncatedToItsTail(t *testing.T) {
	p := New(Options{})
	err := p.Start(context.Background(), target(map[string][]string{"start": helperArgv(t, "fail", "4", "100000")}))
	if err == nil {
		t.Fatal("start succeeded; want exit code 4")
	}
	msg := err.Error()
	if !strings.Contains(msg, "(truncated)") || !strings.HasSuffix(msg, "END") {
		t.Errorf("error does not keep the marked tail of stderr: …%s", msg[max(0, len(msg)-80):])
	}
	if len(msg) > maxOutput+512 {
		t.Errorf("error is %d bytes; want about %d", len(msg), maxOutput)
	}
	if !strings.Contains(msg, "code 4") {
		t.Errorf("error %.200q… lacks the exit code", msg)
	}
}

func TestArgvIsPassedLiterallyWithoutAShell(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "args.json")
	marker := filepath.Join(dir, "marker")
	literal := []string{
		"a b", `"double"`, "'single'", "$(touch " + marker + ")", "`touch " + marker + "`",
		";rm -rf " + dir, "&& touch " + marker, "| cat", "*", "$HOME", "~", "", "new\nline",
	}
	p := New(Options{})
	argv := append(helperArgv(t, "args", out), literal...)
	if err := p.Start(context.Background(), target(map[string][]string{"start": argv})); err != nil {
		t.Fatalf("start: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("helper wrote no arguments: %v", err)
	}
	var got []string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(literal) {
		t.Fatalf("got %d arguments %q; want %d %q", len(got), got, len(literal), literal)
	}
	for i := range literal {
		if got[i] != literal[i] {
			t.Errorf("argument %d = %q; want %q", i, got[i], literal[i])
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a shell interpreted an argument: marker file exists")
	}
}

func TestCommandsThatCannotRun(t *testing.T) {
	tests := []struct {
		name string
		cmds map[string][]string
		want string
	}{
		{"no start command", map[string][]string{"stop": {"true"}}, "no start command configured for app.example.com"},
		{"empty argv", map[string][]string{"start": {}}, "no start command configured"},
		{"empty program", map[string][]string{"start": {""}}, "no start command configured"},
		{"missing binary", map[string][]string{"start": {"waitingroom-no-such-binary", "x"}}, `command "waitingroom-no-such-binary" not found`},
		{"missing path", map[string][]string{"start": {"/nonexistent/bin/start"}}, `command "/nonexistent/bin/start" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New(Options{}).Start(context.Background(), target(tt.cmds))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v; want it to contain %q", err, tt.want)
			}
		})
	}
}

// runAsync runs Start in the background and returns its result channel.
func runAsync(ctx context.Context, p *Provider, tg controller.Target) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx, tg) }()
	return done
}

func waitErr(t *testing.T, done <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("start did not return within %s", within)
		return nil
	}
}

func TestTimeoutKillsTheWholeProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	p := New(Options{Timeout: 2 * time.Second})
	began := time.Now()
	done := runAsync(context.Background(), p, target(map[string][]string{"start": helperArgv(t, "hang", pidFile)}))
	child := waitPidFile(t, pidFile)
	err := waitErr(t, done, 10*time.Second)
	if err == nil {
		t.Fatal("a hanging start succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not finish within 2s") {
		t.Errorf("error = %v; want a timeout naming 2s", err)
	}
	if took := time.Since(began); took > 6*time.Second {
		t.Errorf("start returned after %s; want about 2s", took)
	}
	waitGone(t, child)
}

func TestCancelledContextKillsTheCommand(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := New(Options{})
	done := runAsync(ctx, p, target(map[string][]string{"start": helperArgv(t, "hang", pidFile)}))
	child := waitPidFile(t, pidFile)
	cancel()
	err := waitErr(t, done, 5*time.Second)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("error = %v; want one wrapping context.Canceled", err)
	}
	waitGone(t, child)
}

func TestStartThatDaemonizesReturnsAndLeavesTheDaemonRunning(t *testing.T) {
	tests := []struct {
		name string
		argv func(pidFile string) []string
	}{
		// The daemon keeps the inherited stdout and stderr open and
		// writes to them after start returned.
		{"shell background", func(pidFile string) []string {
			return []string{"sh", "-c", `(while :; do echo tick >&2; sleep 0.05; done) & echo $! > "$0"`, pidFile}
		}},
		{"program that forks", func(pidFile string) []string { return helperArgv(t, "daemonize", pidFile) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "daemon.pid")
			p := New(Options{Timeout: 20 * time.Second})
			tg := target(map[string][]string{"start": tt.argv(pidFile)})
			began := time.Now()
			err := waitErr(t, runAsync(context.Background(), p, tg), 10*time.Second)
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("start took %s; want it to return once the daemon is launched", took)
			}
			daemon := waitPidFile(t, pidFile)
			// The daemon must survive its writes to the inherited
			// stderr after start returned (no SIGPIPE, no kill).
			time.Sleep(300 * time.Millisecond)
			if !alive(daemon) {
				t.Fatalf("daemon %d died after start returned", daemon)
			}
			st, err := p.Status(context.Background(), tg)
			if err != nil || st.State != controller.StateRunning {
				t.Errorf("status = %+v, %v; want running", st, err)
			}
		})
	}
}

func TestStatusExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   controller.State
		reason string
	}{
		{"exit 0 is running", "exit 0", controller.StateRunning, ""},
		{"exit 3 is stopped", "echo inactive; exit 3", controller.StateStopped, ""},
		{"exit 1 is failed", "echo 'unit crashed' >&2; exit 1", controller.StateFailed, "unit crashed"},
		{"exit 4 is failed", "exit 4", controller.StateFailed, "code 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Options{})
			st, err := p.Status(context.Background(), target(map[string][]string{"status": {"sh", "-c", tt.script}}))
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			if st.State != tt.want {
				t.Errorf("state = %s; want %s", st.State, tt.want)
			}
			if !strings.Contains(st.Reason, tt.reason) {
				t.Errorf("reason = %q; want it to contain %q", st.Reason, tt.reason)
			}
		})
	}
}

func TestStatusCommandThatCannotRunIsAnError(t *testing.T) {
	p := New(Options{Timeout: 200 * time.Millisecond})
	for _, argv := range [][]string{{"waitingroom-no-such-binary"}, {"sleep", "10"}} {
		st, err := p.Status(context.Background(), target(map[string][]string{"status": argv}))
		if err == nil || st.State != controller.StateUnknown {
			t.Errorf("status %q = %+v, %v; want unknown and an error", argv, st, err)
		}
	}
}

func TestStatusWithoutCommandFollowsLastStartAndStop(t *testing.T) {
	p := New(Options{})
	ctx := context.Background()
	ok := target(map[string][]string{"start": {"true"}, "stop": {"true"}})
	failing := target(map[string][]string{"start": {"false"}, "stop": {"false"}})
	other := ok
	other.Host = "other.example.com"

	steps := []struct {
		name string
		do   func() error
		tg   controller.Target
		want controller.State
	}{
		{"never started", nil, ok, controller.StateUnknown},
		{"started", func() error { return p.Start(ctx, ok) }, ok, controller.StateRunning},
		{"another host is separate", nil, other, controller.StateUnknown},
		{"stopped", func() error { return p.Stop(ctx, ok) }, ok, controller.StateStopped},
		{"failed start", func() error { return p.Start(ctx, failing) }, failing, controller.StateStopped},
	}
	for _, s := range steps {
		if s.do != nil {
			_ = s.do()
		}
		st, err := p.Status(ctx, s.tg)
		if err != nil || st.State != s.want {
			t.Errorf("%s: status = %+v, %v; want %s", s.name, st, err, s.want)
		}
	}
	// A failed stop leaves a started host running: it may well be.
	if err := p.Start(ctx, ok); err != nil {
		t.Fatal(err)
	}
	stuck := ok
	stuck.Backend = Target{Stop: []string{"false"}}
	if err := p.Stop(ctx, stuck); err == nil {
		t.Fatal("stop with exit 1 succeeded")
	}
	if st, _ := p.Status(ctx, ok); st.State != controller.StateRunning {
		t.Errorf("after a failed stop: %s; want running", st.State)
	}
}

func TestCommandsSeeTheirHostAndAction(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	p := New(Options{})
	tg := target(map[string][]string{"stop": {"sh", "-c", `printf '%s %s' "$WAITINGROOM_HOST" "$WAITINGROOM_ACTION" > "$0"`, out}})
	if err := p.Stop(context.Background(), tg); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if got := string(b); got != "app.example.com stop" {
		t.Errorf("environment = %q; want %q", got, "app.example.com stop")
	}
}
