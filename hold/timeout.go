package hold

import (
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// ExtraTimeout is the controller.Host.Extra key of how long a held request
// for the host waits (a time.Duration); read it with TimeoutOf.
const ExtraTimeout = "hold.timeout"

// DefaultTimeout is how long a held request waits when the host does not
// say (defaults.hold_timeout).
const DefaultTimeout = 60 * time.Second

// TimeoutOf returns how long a held request for the host waits for the
// backend, DefaultTimeout when the host does not say.
func TimeoutOf(h controller.Host) time.Duration {
	if d, ok := h.Extra[ExtraTimeout].(time.Duration); ok && d > 0 {
		return d
	}
	return DefaultTimeout
}
