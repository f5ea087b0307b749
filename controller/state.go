package controller

import (
	"fmt"
	"time"
)

// State is where a host's backend is in its life cycle.
//
//	unknown ──reconcile──► any
//	stopped ─► starting ─► running ─► stopping ─► stopped
//	starting ─► failed (provider error or start timeout; a later wake retries with backoff)
type State string

// The states of the machine. Their string values are part of the public
// contract (JSON, SSE events, templates).
const (
	StateUnknown  State = "unknown"
	StateStopped  State = "stopped"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateFailed   State = "failed"
)

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool {
	switch s {
	case StateUnknown, StateStopped, StateStarting, StateRunning, StateStopping, StateFailed:
		return true
	}
	return false
}

// Words is the state as a person reads it on the waiting page.
func (s State) Words() string {
	switch s {
	case StateStopped:
		return "asleep"
	case StateStarting:
		return "waking up"
	case StateRunning:
		return "ready"
	case StateStopping:
		return "going to sleep"
	case StateFailed:
		return "failed to start"
	default:
		return "checking"
	}
}

// Record is the stored state of one host. Version makes every transition a
// compare-and-set: a store accepts a new Record only when the stored version
// still equals the version the caller read.
type Record struct {
	Host    string    `json:"host"`
	State   State     `json:"state"`
	Version uint64    `json:"version"` // 0: never stored
	Changed time.Time `json:"changed"` // when State was entered
	Reason  string    `json:"reason,omitempty"`

	// WakeID names the wake that moved the host to starting; it is kept
	// while running so wake history and events can refer to it.
	WakeID string `json:"wake_id,omitempty"`
	// Owner is the replica working on the current transition (a lease
	// holder); empty when nobody is.
	Owner string `json:"owner,omitempty"`
	// WakePending is set when a wake arrives while the host is stopping:
	// the stop finishes, then the host starts again.
	WakePending bool `json:"wake_pending,omitempty"`
	// Failures counts consecutive failed wakes; RetryAt is the earliest
	// time the next wake may try again (exponential backoff).
	Failures int       `json:"failures,omitempty"`
	RetryAt  time.Time `json:"retry_at,omitzero"`

	// Activity is maintained by Store.Touch, outside compare-and-set, so
	// traffic never makes a state transition lose its race.
	LastActivity   time.Time `json:"last_activity,omitzero"`
	ActivitySource string    `json:"activity_source,omitempty"`
}

// Activity is one observation that a host is in use.
type Activity struct {
	At     time.Time
	Source string // "page", "traefik-forwardauth", "traefik-metrics", "heartbeat", "wake", "adopted", ...
}

// WakeResult is how a wake ended.
type WakeResult string

// Wake results.
const (
	WakeRunning WakeResult = "running"
	WakeFailed  WakeResult = "failed"
)

// WakeRecord is one entry of a host's wake history.
type WakeRecord struct {
	ID        string        `json:"id"`
	Host      string        `json:"host"`
	Requested time.Time     `json:"requested"`
	Finished  time.Time     `json:"finished"`
	Duration  time.Duration `json:"duration"`
	Result    WakeResult    `json:"result"`
	Reason    string        `json:"reason,omitempty"`
	// Client describes who triggered the wake, already anonymised
	// (truncated address, user-agent class): never raw request data.
	Client string `json:"client,omitempty"`
	Source string `json:"source,omitempty"` // page, api, dashboard, warm, reconcile
}

// Event is a state change, published through the Store so every replica's
// subscribers see it.
type Event struct {
	Host     string        `json:"host"`
	From     State         `json:"from"`
	To       State         `json:"state"`
	Reason   string        `json:"reason,omitempty"`
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration,omitempty"` // wake duration on starting→running
}

func (e Event) String() string {
	return fmt.Sprintf("%s: %s → %s (%s)", e.Host, e.From, e.To, e.Reason)
}
