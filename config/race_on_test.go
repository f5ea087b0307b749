//go:build race

package config

// raceEnabled: the race detector slows parsing several times over; time
// bounds in tests allow for it.
const raceEnabled = true
