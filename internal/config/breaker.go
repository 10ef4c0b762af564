package config

import (
	"fmt"
	"time"
)

// Breaker tunes the circuit breaker in front of each provider (one per
// provider per process).
type Breaker struct {
	// Window is the rolling window failures are counted over (ten
	// buckets). It is short so that minutes of earlier success cannot hide
	// an outage from the ratio (docs/decisions.md#17).
	Window time.Duration `env:"WINDOW" envDefault:"10s"`
	// ConsecutiveFailures opens the breaker after that many transient
	// failures in a row, whatever the window holds: at any traffic an
	// outage is seen within that many calls. 0 turns the rule off (the
	// ratio alone decides).
	ConsecutiveFailures uint32 `env:"CONSECUTIVE_FAILURES" envDefault:"5"`
	// MinRequests is how many calls the window needs before it may trip.
	MinRequests uint32 `env:"MIN_REQUESTS" envDefault:"10"`
	// FailureRatio trips the breaker (transient failures / calls).
	FailureRatio float64 `env:"FAILURE_RATIO" envDefault:"0.5"`
	// OpenTimeout is how long an open breaker refuses calls before it lets
	// probes through.
	OpenTimeout time.Duration `env:"OPEN_TIMEOUT" envDefault:"10s"`
	// Probes is how many calls a half-open breaker lets through; all must
	// succeed to close it.
	Probes uint32 `env:"PROBES" envDefault:"3"`
}

func (b Breaker) validate() error {
	switch {
	case b.Window < time.Second:
		return fmt.Errorf("config: SMSFLEET_BREAKER_WINDOW must be at least 1s, got %s", b.Window)
	case b.MinRequests < 1:
		return fmt.Errorf("config: SMSFLEET_BREAKER_MIN_REQUESTS must be positive")
	case b.FailureRatio <= 0 || b.FailureRatio > 1:
		return fmt.Errorf("config: SMSFLEET_BREAKER_FAILURE_RATIO must be in (0, 1], got %v", b.FailureRatio)
	case b.OpenTimeout <= 0:
		return fmt.Errorf("config: SMSFLEET_BREAKER_OPEN_TIMEOUT must be positive")
	case b.Probes < 1:
		return fmt.Errorf("config: SMSFLEET_BREAKER_PROBES must be positive")
	}
	return nil
}
