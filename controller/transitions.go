package controller

import "time"

// Transition is one change of a host's state as the store keeps it: the
// timeline of the dashboard and what sleeping saves are computed from these
// records, never estimated.
type Transition struct {
	Host string    `json:"host"`
	At   time.Time `json:"at"`
	From State     `json:"from"`
	To   State     `json:"to"`
	// Reason says why ("idle for 15m0s", "stopped from the dashboard by
	// alice", "found stopped", a wake's failure).
	Reason string `json:"reason,omitempty"`
	// By is who asked for it, already anonymised (a wake's client, the
	// source of the wake); empty when waitingroom decided by itself.
	By string `json:"by,omitempty"`
	// Took is how long the wake or stop that this transition ends lasted
	// (starting → running or failed, stopping → stopped); 0 otherwise.
	Took time.Duration `json:"took,omitempty"`
}

// Retention of the transition records: the dashboard looks 30 days back,
// so a day more is kept; a host changing state every few minutes all month
// is cut at TransitionCap records, the oldest going first.
const (
	TransitionRetention = 31 * 24 * time.Hour
	TransitionCap       = 5000
)
