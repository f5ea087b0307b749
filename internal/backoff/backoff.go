// Package backoff is the one exponential backoff: the controller's retry of
// a failed wake, the event relay's resubscription, webhook retries, the GCE
// API's retries and the Docker event stream's reconnects all wait by it.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy doubles the wait from Base at each attempt, up to Max.
type Policy struct {
	Base, Max time.Duration
}

// Delay is the wait before attempt n+1, after n failures (n ≥ 1):
// Base·2^(n-1), at most Max. n below 1 counts as 1.
func (p Policy) Delay(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return max(min(d, p.Max), 0)
}

// Jittered is Delay spread over its upper half, [d/2, d], so replicas
// and clients that failed together do not retry in step.
func (p Policy) Jittered(n int) time.Duration {
	d := p.Delay(n)
	return d/2 + rand.N(d/2+1)
}
