// Command demo-backend is the sleeping app of the quick start and of the
// end-to-end tests: a tiny HTTP server that the exec provider starts and
// stops like a system service.
//
//	demo-backend start  --addr 127.0.0.1:9000 --pidfile F [--delay 2s] [--count-file F]
//	demo-backend stop   --pidfile F
//	demo-backend status --pidfile F      (exit 0 running, 3 stopped)
//	demo-backend serve  --addr ...       (foreground)
//
// start launches "serve" in a new session and returns at once, the way
// `systemctl start` returns before the service answers; --delay makes the
// server wait before listening, like an app that takes a while to boot.
package main

import (
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: demo-backend start|stop|status|serve [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "listen address")
	pidfile := fs.String("pidfile", "", "pid file")
	delay := fs.Duration("delay", 0, "wait this long before listening")
	countFile := fs.String("count-file", "", "append a line to this file on every start")
	name := fs.String("name", "demo", "name shown on the page")
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
	var err error
	code := 1
	switch cmd {
	case "start":
		err = start(*addr, *pidfile, *delay, *countFile, *name)
	case "stop":
		err = stop(*pidfile)
	case "status":
		if running(*pidfile) {
			fmt.Println("running")
			return
		}
		fmt.Println("stopped")
		os.Exit(3)
	case "serve":
		err = serve(*addr, *delay, *name)
	default:
		err, code = fmt.Errorf("unknown command %q", cmd), 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-backend:", err)
		os.Exit(code)
	}
}

func start(addr, pidfile string, delay time.Duration, countFile, name string) error {
	if pidfile == "" {
		return errors.New("--pidfile is required")
	}
	if countFile != "" {
		f, err := os.OpenFile(countFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintf(f, "start %d\n", time.Now().UnixNano())
		f.Close()
	}
	if running(pidfile) {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c := exec.Command(self, "serve", "--addr", addr, "--delay", delay.String(), "--name", name)
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// No inherited pipes: the caller must not wait on the daemon's output.
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	c.Stdin, c.Stdout, c.Stderr = devnull, devnull, devnull
	if err := c.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(c.Process.Pid)), 0o644); err != nil {
		_ = c.Process.Kill()
		return err
	}
	return c.Process.Release()
}

func pid(pidfile string) int {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

// running reports whether the pid file names a live demo-backend: once
// the server has ended, its pid may be given to any other process, which
// must be neither reported running nor stopped.
func running(pidfile string) bool {
	p := pid(pidfile)
	if p <= 0 {
		return false
	}
	if syscall.Kill(p, 0) != nil {
		return false
	}
	// A zombie still answers kill(0); it is not running.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
	if err == nil {
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	return sameProgram(p)
}

// sameProgram reports whether process p runs this program's executable
// (as os.Executable names it: without " (deleted)" once replaced). Where
// /proc cannot say even for this process (no procfs), it trusts the pid.
func sameProgram(p int) bool {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return true
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
	return err == nil && strings.TrimSuffix(exe, " (deleted)") == strings.TrimSuffix(self, " (deleted)")
}

func stop(pidfile string) error {
	p := pid(pidfile)
	if p <= 0 || !running(pidfile) {
		_ = os.Remove(pidfile)
		return nil
	}
	_ = syscall.Kill(p, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for running(pidfile) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if running(pidfile) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	return os.Remove(pidfile)
}

func serve(addr string, delay time.Duration, name string) error {
	time.Sleep(delay)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	started := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		// A long response for activity tests: one line a second for ?seconds=N.
		n, _ := strconv.Atoi(r.URL.Query().Get("seconds"))
		for i := 0; i < n && r.Context().Err() == nil; i++ {
			fmt.Fprintf(w, "tick %d\n", i)
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			time.Sleep(time.Second)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(b)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>%[1]s</title><h1 id=app>Hello from %[1]s</h1><p>up since %[2]s</p>\n",
			html.EscapeString(name), started.Format(time.RFC3339))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.Serve(ln)
}
