// Package backoff is the one retry-delay algorithm of the repository:
// exponential with jitter. Task retries (worker), component restarts
// (internal/lifecycle) and in-process retry loops (the receipts consumer,
// the forwarder, the outcome relay) all wait with it, so a change in how
// smsfleet backs off is made in one place.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is exponential backoff with jitter: retry n (from 0) waits
// between half and all of Base·2ⁿ, capped at Max, so that many retriers
// that failed together (a provider outage, a Redis failover) do not come
// back at the same instant.
type Policy struct {
	Base, Max time.Duration
}

// Delay is how long retry n waits.
func (p Policy) Delay(n int) time.Duration {
	d := p.Base << min(max(n, 0), 30)
	if d <= 0 || d > p.Max {
		d = p.Max
	}
	return d/2 + rand.N(d/2+1)
}

// Wait sleeps for retry n's delay, or until ctx is done; it reports
// whether the full delay passed (false: ctx ended first).
func (p Policy) Wait(ctx context.Context, n int) bool {
	t := time.NewTimer(p.Delay(n))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
