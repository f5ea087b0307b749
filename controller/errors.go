package controller

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on.
var (
	// ErrUnknownHost: the name is not in the registry. Nothing was started.
	ErrUnknownHost = errors.New("unknown host")
	// ErrBudgetExceeded: a wake budget or rate limit refused the wake.
	// The error is a *BudgetError carrying when to retry.
	ErrBudgetExceeded = errors.New("wake budget exceeded")
	// ErrWakeRefused: the request does not qualify for a wake (a
	// prefetch, a crawler, a blocked client). The page is still shown.
	ErrWakeRefused = errors.New("wake refused")
	// ErrClientBlocked: the client may not wake this host for a while
	// (it followed the page's honeypot link). It wraps ErrWakeRefused; the
	// page tells the visitor why.
	ErrClientBlocked = fmt.Errorf("%w: client blocked", ErrWakeRefused)
	// ErrConflict: the requested transition is not possible from the
	// host's current state (stopping a host that is starting).
	ErrConflict = errors.New("transition not possible in this state")
)

// BudgetError says which budget refused a wake and when it allows one again.
type BudgetError struct {
	Budget     string // "host per day", "client per hour", "concurrent starts", ...
	RetryAfter time.Duration
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("wake budget %q exceeded; retry in %s", e.Budget, e.RetryAfter.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrBudgetExceeded) true.
func (e *BudgetError) Unwrap() error { return ErrBudgetExceeded }

// HTTPStatus is the one map from the errors the controller returns (Wake,
// Status, Stop, ...) to an HTTP status, with how long to wait before
// trying again where that is known: nil 200; an unknown host 404; a spent
// wake budget 429 (until the budget allows a wake again, else a minute); a
// refused wake, blocked clients included, 403; a transition the state does
// not allow 409; the store or a provider unreachable 503; anything else
// 500. The waiting page, held requests and the admin API answer from it;
// where an audience answers otherwise (a visitor whose request does not
// wake sees the page) the caller says so in its own switch on the status.
func HTTPStatus(err error) (status int, retryAfter time.Duration) {
	if err == nil {
		return 200, 0 // before be exists: the page's path allocates nothing here
	}
	var be *BudgetError
	switch {
	case errors.Is(err, ErrUnknownHost):
		return 404, 0
	case errors.As(err, &be):
		return 429, be.RetryAfter
	case errors.Is(err, ErrBudgetExceeded):
		return 429, time.Minute
	case errors.Is(err, ErrWakeRefused):
		return 403, 0
	case errors.Is(err, ErrConflict):
		return 409, 0
	case errors.Is(err, ErrStoreUnavailable), errors.Is(err, ErrUnavailable):
		return 503, 0
	}
	return 500, 0
}
