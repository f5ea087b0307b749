// Command waitingroom is the scale-to-zero waiting-room controller.
//
//	waitingroom serve    --config FILE   run (the default command)
//	waitingroom validate --config FILE   check a configuration file
//	waitingroom traefik  --config FILE   print Traefik's dynamic configuration (YAML)
//	waitingroom hash-password            bcrypt a dashboard password read from stdin
//	waitingroom healthcheck [--url URL]  exit 0 when /healthz answers (container HEALTHCHECK)
//	waitingroom version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code, so tests can
// call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || isHelp(args[0])) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stderr)
	case "validate":
		return validate(args, stdout, stderr)
	case "traefik":
		return traefikCmd(args, stdout, stderr)
	case "hash-password":
		return hashPassword(args, stdin, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, args, stderr)
	case "version":
		fmt.Fprintln(stdout, "waitingroom", version)
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "waitingroom: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
}

// isHelp tells the ways of asking for help, which the flag package would
// otherwise read as serve's flags ("Usage of serve", exit 2).
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: waitingroom <command> [flags]

commands:
  serve    --config FILE   run the controller (default command)
  validate --config FILE   check a configuration file; exit 1 with FILE:LINE errors
  traefik  --config FILE   print the Traefik dynamic configuration (YAML) for the registry
  hash-password            read a password on stdin, print its bcrypt hash for admin.users
  healthcheck [--url URL]  exit 0 when the admin /healthz answers (for container HEALTHCHECKs)
  version                  print the version
`)
}
