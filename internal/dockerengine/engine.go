// Package dockerengine is what the providers that speak the Docker Engine
// API share (providers/docker for containers, providers/swarm for Swarm
// services; Podman's compatible API too): the client, the verdict "the
// engine is unreachable", and the event-stream follower that resubscribes
// with backoff. It lets the providers reuse one another's engine handling
// without importing one another (docs/ARCHITECTURE.md).
package dockerengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/controller"
)

// NewClient returns a client for the engine at host, or, when host is
// empty, for DOCKER_HOST and the DOCKER_* TLS variables (else the local
// socket). It does not contact the engine: the client dials per request and
// negotiates the API version on the first request that succeeds, so an
// engine that is down at start-up is picked up as soon as it answers.
func NewClient(host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("client for %q: %w", host, err)
	}
	return cli, nil
}

// UnavailableError says the engine could not be reached. It unwraps to
// controller.ErrUnavailable (the page shows a temporary problem) and to the
// transport error.
type UnavailableError struct {
	Op, Host string
	Err      error
}

func (e *UnavailableError) Error() string {
	msg := e.Err.Error()
	if strings.Contains(msg, e.Host) {
		// The client's own words already name the address ("Cannot
		// connect to the Docker daemon at unix://…. Is the docker daemon
		// running?", "permission denied … at unix://…").
		return e.Op + ": docker engine unreachable: " + msg
	}
	return fmt.Sprintf("%s: docker engine at %s is unreachable: %s", e.Op, e.Host, msg)
}

func (e *UnavailableError) Unwrap() []error { return []error{controller.ErrUnavailable, e.Err} }

// Err classifies an error from the client of the engine at host: an
// unreachable engine → *UnavailableError; anything else is wrapped with op.
func Err(host, op string, err error) error {
	if IsUnreachable(err) {
		return &UnavailableError{Op: op, Host: host, Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// IsUnreachable reports whether err means the engine could not be reached
// (refused, gone, cut mid-request), as opposed to an answer.
func IsUnreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if client.IsErrConnectionFailed(err) || cerrdefs.IsUnavailable(err) {
		return true
	}
	// A daemon that dies mid-request (restart) cuts the connection rather
	// than refusing it.
	var opErr *net.OpError
	return errors.As(err, &opErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// CheckHost checks an operator's engine address (a provider's host
// setting); empty is fine (DOCKER_HOST or the local socket).
func CheckHost(host string) error {
	if host == "" {
		return nil
	}
	if u, err := url.Parse(host); err != nil || !slices.Contains([]string{"unix", "tcp", "ssh", "npipe", "http", "https"}, u.Scheme) {
		return fmt.Errorf("host %q is not a Docker address like unix:///var/run/docker.sock or tcp://10.0.0.2:2376", host)
	}
	return nil
}
