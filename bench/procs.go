package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/waitingroom/waitingroom/internal/sleep"
)

// Binaries are the commands the harness runs as separate processes.
type Binaries struct {
	Waitingroom string
	DemoBackend string
	Baseline    string
}

// build compiles the commands into dir from the module root; with binDir,
// waitingroom and demo-backend are taken from there instead.
func build(ctx context.Context, root, dir, binDir string) (Binaries, error) {
	pkgs := []string{"./cmd/waitingroom", "./cmd/demo-backend", "./bench/cmd/baseline"}
	if binDir != "" {
		pkgs = pkgs[2:]
	}
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	b := Binaries{
		Waitingroom: filepath.Join(dir, "waitingroom"),
		DemoBackend: filepath.Join(dir, "demo-backend"),
		Baseline:    filepath.Join(dir, "baseline"),
	}
	if binDir != "" {
		abs, err := filepath.Abs(binDir)
		if err != nil {
			return Binaries{}, err
		}
		b.Waitingroom, b.DemoBackend = filepath.Join(abs, "waitingroom"), filepath.Join(abs, "demo-backend")
		for _, f := range []string{b.Waitingroom, b.DemoBackend} {
			if _, err := os.Stat(f); err != nil {
				return Binaries{}, fmt.Errorf("-bin: %w", err)
			}
		}
	}
	return b, nil
}

// moduleRoot finds the directory of go.mod from the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness inside the waitingroom module (scripts/bench does)")
	}
	return filepath.Dir(mod), nil
}

// cleanups runs registered functions in reverse order, once.
type cleanups struct {
	mu  sync.Mutex
	fns []func()
}

func (c *cleanups) add(f func()) {
	c.mu.Lock()
	c.fns = append(c.fns, f)
	c.mu.Unlock()
}

func (c *cleanups) run() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// process is a child the harness started; its output goes to a log file
// (not a pipe, so nothing has to drain it during a load run).
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startProcess runs bin in its own process group; the process group is
// killed by the returned process's kill, which env's cleanups call.
func (e *env) startProcess(name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(e.dir, fmt.Sprintf("%s-%d.log", name, e.seq.Add(1)))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	e.clean.add(p.kill)
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process group and waits for the process.
func (p *process) kill() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// state says how the process ended ("signal: killed", "exit status 1"),
// for error messages: a process killed from outside leaves no output.
func (p *process) state() string {
	if !p.exited() || p.cmd.ProcessState == nil {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// tail is the end of the process's output, for error messages.
func (p *process) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// rssKB reads VmRSS of the process from /proc.
func rssKB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freeAddr() (string, error) {
	p, err := freePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

// waitFor polls cond every 10 ms until it holds, the process dies, or d
// passes.
func waitFor(ctx context.Context, d time.Duration, p *process, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s: %s exited (%s):\n%s", what, p.name, p.state(), p.tail())
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%s: not within %s", what, d)
			if p != nil {
				msg += "; output of " + p.name + ":\n" + p.tail()
			}
			return errors.New(msg)
		}
		if sleep.For(ctx, 10*time.Millisecond) != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
}

// answers reports whether url answers HTTP at all.
func answers(client *http.Client, url string) bool {
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// redisServer is a redis-server owned by the harness.
type redisServer struct {
	proc *process
	addr string
}

// startRedis runs redis-server on a free loopback port with its own data
// directory and no persistence.
func (e *env) startRedis(ctx context.Context) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found on PATH: install it with `apt-get install -y redis-server`")
	}
	dir, err := os.MkdirTemp(e.dir, "redis-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // the free port may be taken before redis binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p, err := e.startProcess("redis-server", bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
			"--databases", "64")
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if lastErr = waitFor(ctx, 10*time.Second, p, "redis-server PING", func() bool { return redisPing(addr) == nil }); lastErr == nil {
			return &redisServer{proc: p, addr: addr}, nil
		}
		p.kill()
	}
	return nil, lastErr
}

// url is the redis:// URL of database db; each scenario takes its own, so
// none sees another's hosts.
func (r *redisServer) url(db int) string { return fmt.Sprintf("redis://%s/%d", r.addr, db) }

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// raiseFileLimit lifts the soft open-file limit to the hard one: the
// stampede and the event-stream scenarios hold thousands of sockets.
// Children (waitingroom, the baseline) inherit it.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}
