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
