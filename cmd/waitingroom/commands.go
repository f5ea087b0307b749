package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/waitingroom/waitingroom/config"
)

// loadConfig reads the command's --config flag and loads that file. When
// it fails it has told stderr why and returns the exit code: 2 for a usage
// error, 1 for a configuration with problems (every one as FILE:LINE).
func loadConfig(name string, args []string, stderr io.Writer) (cfg *config.Config, path string, code int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := fs.String("config", "waitingroom.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return nil, "", 2 // the flag package has printed the error and usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "waitingroom %s: unexpected arguments: %v\n", name, fs.Args())
		return nil, "", 2
	}
	cfg, err := config.Load(*p)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, *p, 1
	}
	return cfg, *p, 0
}

// validate checks a configuration file: exit 0, or 1 with every problem as
// FILE:LINE: message.
func validate(args []string, stdout, stderr io.Writer) int {
	cfg, path, code := loadConfig("validate", args, stderr)
	if cfg == nil {
		return code
	}
	fmt.Fprintf(stdout, "%s: ok (%d hosts, %d providers)\n", path, len(cfg.File.Hosts), len(cfg.File.Providers))
	return 0
}

// healthcheck is the container HEALTHCHECK: the image has no shell or curl.
func healthcheck(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8081/healthz", "health endpoint")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck:", resp.Status)
		return 1
	}
	return 0
}
