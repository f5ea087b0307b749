// Command testserver is the process inside the Docker test images: a tiny
// static HTTP server whose behaviour the tests choose through environment
// variables, and its own health-check client (scratch images have no curl).
//
//	PORT=8080            listen port
//	HEALTHY_AFTER=1s     /healthz answers 503 until this long after start
//	UNHEALTHY=message    /healthz always answers 503 with this message
//	IGNORE_TERM=1        ignore SIGTERM (a stop must end in SIGKILL)
//	EXIT_CODE=n          exit at once with code n (a crash loop)
//
// SIGTERM and SIGINT exit 0; SIGUSR1 exits 42, so a test can tell which
// signal stopped the container.
//
//	testserver -check URL   GET URL; exit 0 on 2xx, 1 otherwise (HEALTHCHECK)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	check := flag.String("check", "", "probe this URL and exit 0 when it answers 2xx")
	flag.Parse()
	if *check != "" {
		os.Exit(probe(*check))
	}
	if code := os.Getenv("EXIT_CODE"); code != "" {
		n, _ := strconv.Atoi(code)
		fmt.Fprintf(os.Stderr, "exiting with code %d as asked\n", n)
		os.Exit(n)
	}
	if err := serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func probe(url string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Println("healthz unreachable:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	fmt.Printf("healthz answered %d: %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode/100 != 2 {
		return 1
	}
	return 0
}

func serve() error {
	started := time.Now()
	var healthyAfter time.Duration
	if v := os.Getenv("HEALTHY_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("HEALTHY_AFTER: %w", err)
		}
		healthyAfter = d
	}
	unhealthy := os.Getenv("UNHEALTHY")
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case unhealthy != "":
			http.Error(w, unhealthy, http.StatusServiceUnavailable)
		case time.Since(started) < healthyAfter:
			http.Error(w, "warming up", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ok")
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		host, _ := os.Hostname()
		fmt.Fprintln(w, "hello from", host)
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	sigs := make(chan os.Signal, 4)
	if os.Getenv("IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGUSR1)
	} else {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case s := <-sigs:
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if s == syscall.SIGUSR1 {
			os.Exit(42)
		}
		return nil
	}
}
