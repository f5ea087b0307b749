package gce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"
	"google.golang.org/api/googleapi"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/sleep"
)

// Goals a VM is brought to.
const (
	goalRunning   = "running"
	goalStopped   = SleepStop
	goalSuspended = SleepSuspend
)

// maxReissues bounds how often an action is asked again after its
// operation succeeded but the VM went back (someone else stopped it).
const maxReissues = 3

// next says what a VM in status raw needs to reach goal: nothing (done), a
// call (verb), or time (neither: it is between two statuses).
func next(goal, raw string) (verb string, done bool, err error) {
	switch goal {
	case goalRunning:
		switch raw {
		case "RUNNING":
			return "", true, nil
		case "PROVISIONING", "STAGING", "REPAIRING", "STOPPING", "SUSPENDING":
			return "", false, nil
		case "TERMINATED", "STOPPED":
			return "start", false, nil
		case "SUSPENDED":
			// A suspended VM is resumed (memory kept), never started.
			return "resume", false, nil
		}
	case goalStopped:
		switch raw {
		case "TERMINATED", "STOPPED", "SUSPENDED":
			return "", true, nil
		case "STOPPING", "SUSPENDING":
			return "", false, nil
		case "RUNNING", "PROVISIONING", "STAGING", "REPAIRING":
			return "stop", false, nil
		}
	case goalSuspended:
		switch raw {
		case "SUSPENDED", "TERMINATED", "STOPPED":
			return "", true, nil
		case "SUSPENDING", "STOPPING", "PROVISIONING", "STAGING", "REPAIRING":
			// Only a RUNNING VM can be suspended.
			return "", false, nil
		case "RUNNING":
			return "suspend", false, nil
		}
	}
	return "", false, fmt.Errorf("is in status %q, which waitingroom does not handle", raw)
}

// Start starts (or resumes) the VM and returns once it is RUNNING. It is
// idempotent: a RUNNING VM is left alone, a STOPPING one is waited for and
// then started, a SUSPENDED one is resumed.
func (p *Provider) Start(ctx context.Context, t controller.Target) error {
	r, _, err := p.target(t)
	if err != nil {
		return err
	}
	return p.converge(ctx, r, goalRunning)
}

// Stop stops or suspends the VM, following the host's sleep setting (else
// the provider's), and returns once it is TERMINATED or SUSPENDED. A VM
// already asleep either way is left alone.
func (p *Provider) Stop(ctx context.Context, t controller.Target) error {
	r, sleepMode, err := p.target(t)
	if err != nil {
		return err
	}
	return p.converge(ctx, r, sleepMode)
}

// converge reads the VM every PollInterval and issues the one call that
// brings it closer to goal, until it gets there or ctx ends. The operation
// of the call is checked too, because a failed start (no capacity in the
// zone) shows only there: the VM merely goes back to TERMINATED.
func (p *Provider) converge(ctx context.Context, r ref, goal string) error {
	w := &convergence{p: p, r: r, goal: goal, began: time.Now()}
	for {
		if err := w.checkOperation(ctx); err != nil {
			return err
		}
		if w.op == nil && w.pause > 0 {
			if err := sleep.For(ctx, w.pause); err != nil {
				return w.timeout(err)
			}
			w.pause = 0
		}
		inst, err := p.get(ctx, r)
		if err != nil {
			if err := w.failed(ctx, "get", err); err != nil {
				return err
			}
			continue
		}
		w.transient = 0
		w.raw = p.observe(r, inst).raw
		verb, done, err := next(goal, w.raw)
		if err != nil {
			return &gceError{msg: fmt.Sprintf("GCE %s %s", r, err)}
		}
		if done {
			if w.acted {
				p.log.Info("VM is "+w.raw, "host", r.host, "instance", r.instance, "zone", r.zone,
					"after", time.Since(w.began).Round(time.Millisecond))
			}
			return nil
		}
		if verb != "" && w.op == nil {
			if err := w.act(ctx, verb); err != nil {
				return err
			}
		}
		if err := sleep.For(ctx, p.poll); err != nil {
			return w.timeout(err)
		}
	}
}

// convergence is the progress of one converge call.
type convergence struct {
	p     *Provider
	r     ref
	goal  string
	began time.Time
	raw   string // last status read

	op        *compute.Operation
	opVerb    string
	acted     bool
	lastOpOK  bool // the last operation finished without error
	reissues  int
	transient int   // consecutive transient failures
	capacity  int   // zone capacity failures so far
	lastErr   error // last retried problem, for the timeout message
	pause     time.Duration
}

// act issues verb. A request ID makes retries of the same call one
// operation at GCE, even when an earlier attempt's answer was lost.
func (w *convergence) act(ctx context.Context, verb string) error {
	if w.lastOpOK {
		// The last operation succeeded, yet the VM is back where it was.
		w.lastOpOK = false
		w.reissues++
		if w.reissues > maxReissues {
			return &gceError{msg: fmt.Sprintf("GCE %s keeps returning to %s after %s succeeded (%d times): is something else stopping it?",
				w.r, w.raw, w.opVerb, maxReissues)}
		}
	}
	reqID := uuid.NewString()
	for {
		var op *compute.Operation
		err := w.p.timed(ctx, func(ctx context.Context) (err error) {
			op, err = w.call(ctx, verb, reqID)
			return err
		})
		if err == nil {
			w.op, w.opVerb, w.acted = op, verb, true
			w.transient = 0
			w.p.log.Info("asked GCE to "+verb+" the VM", "host", w.r.host, "instance", w.r.instance,
				"zone", w.r.zone, "project", w.r.project, "status", w.raw, "operation", op.Name())
			return nil
		}
		switch classify(err) {
		case kindNotReady:
			// The VM changed status between our read and the call: look
			// again at the next poll.
			return nil
		case kindCapacity:
			return w.noCapacity(ctx, describe(w.r, verb, err))
		}
		if err := w.failed(ctx, verb, err); err != nil {
			return err
		}
	}
}

func (w *convergence) call(ctx context.Context, verb, reqID string) (*compute.Operation, error) {
	p, r := w.p, w.r
	switch verb {
	case "start":
		return p.instances.Start(ctx, &computepb.StartInstanceRequest{
			Project: r.project, Zone: r.zone, Instance: r.instance, RequestId: &reqID}, p.noRetry...)
	case "resume":
		return p.instances.Resume(ctx, &computepb.ResumeInstanceRequest{
			Project: r.project, Zone: r.zone, Instance: r.instance, RequestId: &reqID}, p.noRetry...)
	case "stop":
		return p.instances.Stop(ctx, &computepb.StopInstanceRequest{
			Project: r.project, Zone: r.zone, Instance: r.instance, RequestId: &reqID}, p.noRetry...)
	case "suspend":
		return p.instances.Suspend(ctx, &computepb.SuspendInstanceRequest{
			Project: r.project, Zone: r.zone, Instance: r.instance, RequestId: &reqID}, p.noRetry...)
	}
	return nil, fmt.Errorf("unknown action %q", verb)
}

// checkOperation follows the operation in flight, if any, and handles how
// it ended.
func (w *convergence) checkOperation(ctx context.Context) error {
	if w.op == nil {
		return nil
	}
	if !w.op.Done() {
		// Poll fails when the operation ended with an HTTP error status,
		// but it has stored the operation by then: its error is read below.
		err := w.p.timed(ctx, func(ctx context.Context) error { return w.op.Poll(ctx, w.p.noRetry...) })
		if err != nil && !w.op.Done() {
			var ge *googleapi.Error
			if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
				// GCE keeps operations for a while only; the instance's
				// status tells the rest.
				w.op = nil
				return nil
			}
			return w.failed(ctx, "poll", err)
		}
		if !w.op.Done() {
			return nil
		}
	}
	op := w.op.Proto()
	w.op = nil
	codes, msg := operationError(op)
	if len(codes) == 0 {
		w.lastErr = nil
		w.lastOpOK = true
		return nil
	}
	if isCapacityCode(codes) {
		return w.noCapacity(ctx, &gceError{
			msg:   fmt.Sprintf("GCE zone %q has no capacity for instance %q of project %q right now (ZONE_RESOURCE_POOL_EXHAUSTED): %s", w.r.zone, w.r.instance, w.r.project, msg),
			kinds: []error{ErrZoneExhausted, controller.ErrUnavailable},
		})
	}
	err := &gceError{
		msg:   fmt.Sprintf("GCE %s of %s failed: %s", w.opVerb, w.r, msg),
		kinds: []error{ErrOperationFailed},
	}
	if strings.Contains(msg, "QUOTA_EXCEEDED") {
		err.msg += " (raise the quota in the project, or free some)"
	}
	if w.opVerb == "suspend" {
		err.msg += " (if this VM cannot be suspended, set sleep: stop for this host)"
	}
	w.p.log.Warn("GCE operation failed", "host", w.r.host, "operation", op.GetName(), "err", err.msg)
	return err
}

// operationError returns the error codes of a finished operation and a
// message showing each "CODE: message".
func operationError(op *computepb.Operation) ([]string, string) {
	var codes, parts []string
	for _, e := range op.GetError().GetErrors() {
		codes = append(codes, e.GetCode())
		parts = append(parts, e.GetCode()+": "+e.GetMessage())
	}
	if len(codes) == 0 && op.GetHttpErrorStatusCode() >= 300 {
		codes = append(codes, op.GetHttpErrorMessage())
		parts = append(parts, fmt.Sprintf("HTTP %d %s", op.GetHttpErrorStatusCode(), op.GetHttpErrorMessage()))
	}
	return codes, strings.Join(parts, "; ")
}

func isCapacityCode(codes []string) bool {
	for _, c := range codes {
		if strings.HasPrefix(c, "ZONE_RESOURCE_POOL_EXHAUSTED") {
			return true
		}
	}
	return false
}

// noCapacity arranges the next attempt after a zone capacity error: GCE
// does not queue the start, so we ask again with backoff until the context
// (the host's start_timeout) ends, and say so.
func (w *convergence) noCapacity(ctx context.Context, err error) error {
	w.capacity++
	w.lastErr = err
	w.pause = w.p.backoff(w.capacity)
	w.p.log.Warn("zone has no capacity for the VM; retrying until start_timeout",
		"host", w.r.host, "instance", w.r.instance, "zone", w.r.zone,
		"attempt", w.capacity, "retry_in", w.pause.Round(time.Millisecond))
	if ctx.Err() != nil {
		return w.timeout(ctx.Err())
	}
	return nil
}

// failed handles a failed call: a transient failure is retried after a
// backoff (nil returned), anything else is the final error.
func (w *convergence) failed(ctx context.Context, call string, err error) error {
	if ctx.Err() != nil {
		return w.timeout(ctx.Err())
	}
	mapped := w.p.mapError(w.r, call, err)
	switch classify(err) {
	case kindCapacity:
		return w.noCapacity(ctx, mapped)
	case kindTransient:
	default:
		return mapped
	}
	w.transient++
	w.lastErr = mapped
	if w.transient >= w.p.maxAttempts {
		return &gceError{
			msg:   fmt.Sprintf("%s (gave up after %d attempts)", mapped, w.transient),
			kinds: []error{controller.ErrUnavailable}, cause: err,
		}
	}
	d := w.p.backoff(w.transient)
	w.p.log.Warn("GCE API call failed; retrying", "host", w.r.host, "call", call,
		"attempt", w.transient, "retry_in", d.Round(time.Millisecond), "err", mapped)
	if err := sleep.For(ctx, d); err != nil {
		return w.timeout(err)
	}
	return nil
}

// timeout is the error when ctx ends before the VM gets there.
func (w *convergence) timeout(cause error) error {
	waited := time.Since(w.began).Round(time.Millisecond)
	if errors.Is(w.lastErr, ErrZoneExhausted) {
		return &gceError{
			msg: fmt.Sprintf("GCE zone %q had no capacity for instance %q of project %q (ZONE_RESOURCE_POOL_EXHAUSTED); kept retrying %d times over %s: try again later, or move the VM to another zone",
				w.r.zone, w.r.instance, w.r.project, w.capacity, waited),
			kinds: []error{ErrZoneExhausted, controller.ErrUnavailable}, cause: cause,
		}
	}
	status := w.raw
	if status == "" {
		status = "unread"
	}
	msg := fmt.Sprintf("GCE %s still %s after %s (wanted %s)", w.r, status, waited, w.goal)
	if w.lastErr != nil {
		return &gceError{msg: msg + "; last problem: " + w.lastErr.Error(), kinds: []error{controller.ErrUnavailable}, cause: cause}
	}
	return &gceError{msg: msg, cause: cause}
}
