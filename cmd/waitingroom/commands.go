package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/providers/kinds"
)

// newFlags is a command's flag set: errors and -h go to stderr, and -h
// names the command rather than the flag package's "Usage of NAME".
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: waitingroom %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses a command's arguments; it accepts no positional ones
// and says what a stray configuration file name was meant to be. On
// failure it returns the exit code: 0 for -h, 2 for a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false // the flag package has printed the error and usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "waitingroom %s: unexpected arguments: %v", fs.Name(), fs.Args())
		if fs.Lookup("config") != nil && looksLikeConfig(fs.Arg(0)) {
			fmt.Fprintf(stderr, " (the file is given with --config: waitingroom %s --config %s)", fs.Name(), fs.Arg(0))
		}
		fmt.Fprintln(stderr)
		return 2, false
	}
	return 0, true
}

// looksLikeConfig tells whether a stray argument is a configuration file:
// a YAML name, or a file that exists.
func looksLikeConfig(arg string) bool {
	if ext := strings.ToLower(filepath.Ext(arg)); ext == ".yaml" || ext == ".yml" {
		return true
	}
	st, err := os.Stat(arg)
	return err == nil && st.Mode().IsRegular()
}

// openConfig loads the configuration file a command runs on. A file
// without any setting is refused: it is almost always the wrong file, and
// serving it would listen on every interface with no host.
func openConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path, kinds.All())
	if err != nil {
		return nil, err
	}
	if cfg.Empty() {
		return nil, fmt.Errorf("%s: the file has no settings (it is empty or only comments): is it the right file? examples/demo.yaml is a starting point", path)
	}
	return cfg, nil
}

// loadConfig reads the command's --config flag and loads that file. When
// it fails it has told stderr why and returns the exit code: 0 for -h, 2
// for a usage error, 1 for a configuration with problems (every one as
// FILE:LINE).
func loadConfig(name string, args []string, stderr io.Writer) (cfg *config.Config, path string, code int) {
	fs := newFlags(name, "--config FILE", stderr)
	p := fs.String("config", "waitingroom.yaml", "configuration file")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return nil, "", code
	}
	cfg, err := openConfig(*p)
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
	fmt.Fprintf(stdout, "%s: ok (%s, %s)\n", path, count(len(cfg.File.Hosts), "host"), count(len(cfg.File.Providers), "provider"))
	return 0
}

// count writes n and the noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// healthcheck is the container HEALTHCHECK: the image has no shell or curl.
func healthcheck(ctx context.Context, args []string, stderr io.Writer) int {
	fs := newFlags("healthcheck", "[--url URL]", stderr)
	url := fs.String("url", "http://127.0.0.1:8081/healthz", "health endpoint")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
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
