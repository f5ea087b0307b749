package gce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/backoff"
)

// Errors callers may branch on (errors.Is). The messages users see are
// carried by the returned errors themselves; these only classify.
var (
	// ErrNotFound: the instance does not exist in that project and zone.
	ErrNotFound = errors.New("instance not found")
	// ErrPermissionDenied: the credentials lack an IAM permission (403).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnauthenticated: the credentials were rejected (401).
	ErrUnauthenticated = errors.New("credentials rejected")
	// ErrZoneExhausted: the zone has no capacity for the VM right now
	// (ZONE_RESOURCE_POOL_EXHAUSTED). Also wraps controller.ErrUnavailable.
	ErrZoneExhausted = errors.New("zone resource pool exhausted")
	// ErrOperationFailed: GCE accepted the request but its operation ended
	// with an error.
	ErrOperationFailed = errors.New("operation failed")
)

// gceError is an error with a message written for the operator and the
// sentinels that classify it.
type gceError struct {
	msg   string
	kinds []error
	cause error
}

func (e *gceError) Error() string { return e.msg }

func (e *gceError) Unwrap() []error {
	out := append([]error(nil), e.kinds...)
	if e.cause != nil {
		out = append(out, e.cause)
	}
	return out
}

// permissions names the IAM permission each API call needs.
var permissions = map[string]string{
	"get":     "compute.instances.get",
	"start":   "compute.instances.start",
	"stop":    "compute.instances.stop",
	"suspend": "compute.instances.suspend",
	"resume":  "compute.instances.resume",
	"poll":    "compute.zoneOperations.get",
}

// kind is how a failed call is handled.
type kind int

const (
	kindFatal     kind = iota // report it
	kindTransient             // retry with backoff, a bounded number of times
	kindCapacity              // retry with backoff until the context ends
	kindNotReady              // the instance changed under us: look again
)

// classify decides how to handle a failed call.
func classify(err error) kind {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return kindFatal
		}
		// No answer from the API at all (connection refused, reset, DNS):
		// the API or the network is down for now.
		return kindTransient
	}
	if isCapacity(ge) {
		return kindCapacity
	}
	switch {
	case ge.Code == http.StatusTooManyRequests, ge.Code >= 500:
		return kindTransient
	case ge.Code == http.StatusForbidden && hasReason(ge, "rateLimitExceeded", "userRateLimitExceeded"):
		// The API's older way of saying 429.
		return kindTransient
	case ge.Code == http.StatusBadRequest && hasReason(ge, "resourceNotReady"):
		return kindNotReady
	}
	return kindFatal
}

func hasReason(ge *googleapi.Error, reasons ...string) bool {
	for _, it := range ge.Errors {
		for _, r := range reasons {
			if it.Reason == r {
				return true
			}
		}
	}
	return false
}

func isCapacity(ge *googleapi.Error) bool {
	if strings.Contains(ge.Message, "ZONE_RESOURCE_POOL_EXHAUSTED") {
		return true
	}
	for _, it := range ge.Errors {
		if strings.HasPrefix(it.Reason, "ZONE_RESOURCE_POOL_EXHAUSTED") || strings.Contains(it.Message, "ZONE_RESOURCE_POOL_EXHAUSTED") {
			return true
		}
	}
	return false
}

// mapError turns a failed call into the message an operator reads on the
// page, in the log and on /readyz, and records API-level problems for Check.
func (p *Provider) mapError(r ref, call string, err error) error {
	out := describe(r, call, err)
	p.noteResult(r, out)
	return out
}

func describe(r ref, call string, err error) error {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GCE %s %s: %w", call, r, err)
		}
		return &gceError{
			msg:   fmt.Sprintf("GCE API unreachable (%s %s): %v", call, r, err),
			kinds: []error{controller.ErrUnavailable}, cause: err,
		}
	}
	apiMsg := ge.Message
	switch {
	case ge.Code == http.StatusNotFound:
		return &gceError{
			msg:   fmt.Sprintf("GCE instance %q not found in project %q zone %q: check instance/zone in the config", r.instance, r.project, r.zone),
			kinds: []error{ErrNotFound}, cause: err,
		}
	case ge.Code == http.StatusForbidden && classify(err) != kindTransient:
		perm := permissions[call]
		resource := r.resource()
		if call == "poll" {
			resource = fmt.Sprintf("projects/%s/zones/%s/operations", r.project, r.zone)
		}
		msg := fmt.Sprintf("GCE permission denied: the credentials lack %s on %s: grant the service account a role that includes it (see docs/providers.md, least-privilege role)",
			perm, resource)
		if !strings.Contains(apiMsg, perm) {
			// The API names something else (an organisation policy, a
			// disabled API): show its words too.
			msg += " (API: " + apiMsg + ")"
		}
		return &gceError{msg: msg, kinds: []error{ErrPermissionDenied}, cause: err}
	case ge.Code == http.StatusUnauthorized:
		return &gceError{
			msg:   fmt.Sprintf("GCE rejected the credentials (401) for %s %s: check credentials_file or Application Default Credentials (API: %s)", call, r, apiMsg),
			kinds: []error{ErrUnauthenticated}, cause: err,
		}
	case isCapacity(ge):
		return &gceError{
			msg:   fmt.Sprintf("GCE zone %q has no capacity for instance %q of project %q right now (ZONE_RESOURCE_POOL_EXHAUSTED): %s", r.zone, r.instance, r.project, apiMsg),
			kinds: []error{ErrZoneExhausted, controller.ErrUnavailable}, cause: err,
		}
	case classify(err) == kindTransient:
		return &gceError{
			msg:   fmt.Sprintf("GCE API unavailable (HTTP %d on %s %s): %s", ge.Code, call, r, apiMsg),
			kinds: []error{controller.ErrUnavailable}, cause: err,
		}
	default:
		return &gceError{msg: fmt.Sprintf("GCE %s %s failed (HTTP %d): %s", call, r, ge.Code, apiMsg), cause: err}
	}
}

// backoff is the pause before attempt n+1 (n ≥ 1): exponential from
// RetryBase, capped at RetryMax, with jitter on the upper half so that
// several waitingroom replicas do not retry in step.
func (p *Provider) backoff(n int) time.Duration {
	return backoff.Policy{Base: p.retryBase, Max: p.retryMax}.Jittered(n)
}
