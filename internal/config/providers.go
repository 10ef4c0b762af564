package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Route is where an application's SMS go: providers in order (the first
// healthy one takes the send, the next ones are fallbacks), optionally a
// weighted split of first choices among the healthy ones, and overrides
// for countries (ISO code, "NG") or number prefixes ("+234803"); the
// longest matching prefix wins, then the country.
type Route struct {
	Providers []string            `yaml:"providers"`
	Weights   map[string]int      `yaml:"weights"`
	Overrides map[string][]string `yaml:"overrides"`
}

var (
	countryCode = regexp.MustCompile(`^[A-Z]{2}$`)
	prefixCode  = regexp.MustCompile(`^\+[0-9]{1,15}$`)
)

func (r Route) validate(where string, known map[string]bool) error {
	if len(r.Providers) == 0 {
		return fmt.Errorf("%s: route has no providers", where)
	}
	check := func(list []string, what string) error {
		seen := map[string]bool{}
		for _, p := range list {
			if !known[p] {
				return fmt.Errorf("%s: %s names unknown provider %q", where, what, p)
			}
			if seen[p] {
				return fmt.Errorf("%s: %s lists %q twice", where, what, p)
			}
			seen[p] = true
		}
		return nil
	}
	if err := check(r.Providers, "providers"); err != nil {
		return err
	}
	for p, w := range r.Weights {
		if !known[p] {
			return fmt.Errorf("%s: weights name unknown provider %q", where, p)
		}
		if w < 0 {
			return fmt.Errorf("%s: weight of %s must not be negative", where, p)
		}
	}
	for key, list := range r.Overrides {
		if !countryCode.MatchString(key) && !prefixCode.MatchString(key) {
			return fmt.Errorf("%s: override key %q must be a country (NG) or a number prefix (+234)", where, key)
		}
		if len(list) == 0 {
			return fmt.Errorf("%s: override %s has no providers", where, key)
		}
		if err := check(list, "override "+key); err != nil {
			return err
		}
	}
	return nil
}

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

// parseRoute reads SMSFLEET_ROUTE: provider names in order, comma-separated.
func parseRoute(s string) Route {
	var r Route
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			r.Providers = append(r.Providers, p)
		}
	}
	return r
}

// Rate tunes the fleet-wide per-operator rate limiter (ratelimit/).
type Rate struct {
	// Limits is SMSFLEET_RATE_LIMITS: "key=rate[/burst]" entries, e.g.
	// "DE:T-Mobile=50,FR:SFR=20/40,US=100,default=500" (segments/s).
	Limits string `env:"LIMITS"`
	// OperatorOverrides maps number prefixes to operators for ported
	// ranges and MVNOs: "+4915112=DE:Telekom,+234803=NG:MTN".
	OperatorOverrides string `env:"OPERATOR_OVERRIDES"`
	// OTPShare of every operator's rate is kept from marketing.
	OTPShare float64 `env:"OTP_SHARE" envDefault:"0.2"`
	// On a provider's throttle the effective rate is multiplied by
	// Decrease, never below Floor × the configured rate, and recovers by
	// RecoverStep × the configured rate every RecoverEvery.
	Decrease     float64       `env:"DECREASE" envDefault:"0.5"`
	Floor        float64       `env:"FLOOR" envDefault:"0.1"`
	RecoverStep  float64       `env:"RECOVER_STEP" envDefault:"0.1"`
	RecoverEvery time.Duration `env:"RECOVER_EVERY" envDefault:"1s"`
	// MaxInlineWait is the longest a worker waits for the limiter while
	// holding its slot, and Waiters how many of a process's slots may wait
	// for one operator at once; every other SMS to a saturated operator
	// goes back to the queue (no head-of-line blocking).
	MaxInlineWait time.Duration `env:"MAX_INLINE_WAIT" envDefault:"1500ms"`
	Waiters       int           `env:"WAITERS" envDefault:"8"`
}

func (r Rate) validate() error {
	switch {
	case r.OTPShare <= 0 || r.OTPShare >= 1:
		// The limiter's marketing sub-limit needs a share strictly inside.
		return fmt.Errorf("config: SMSFLEET_RATE_OTP_SHARE must be in (0, 1), got %v", r.OTPShare)
	case r.Decrease <= 0 || r.Decrease >= 1:
		return fmt.Errorf("config: SMSFLEET_RATE_DECREASE must be in (0, 1), got %v", r.Decrease)
	case r.Floor <= 0 || r.Floor > 1:
		return fmt.Errorf("config: SMSFLEET_RATE_FLOOR must be in (0, 1], got %v", r.Floor)
	case r.RecoverStep <= 0 || r.RecoverStep > 1:
		return fmt.Errorf("config: SMSFLEET_RATE_RECOVER_STEP must be in (0, 1], got %v", r.RecoverStep)
	case r.RecoverEvery <= 0:
		return fmt.Errorf("config: SMSFLEET_RATE_RECOVER_EVERY must be positive")
	case r.MaxInlineWait < 0 || r.MaxInlineWait > 5*time.Second:
		return fmt.Errorf("config: SMSFLEET_RATE_MAX_INLINE_WAIT must be from 0 to 5s")
	case r.Waiters < 1:
		return fmt.Errorf("config: SMSFLEET_RATE_WAITERS must be positive")
	}
	return nil
}

// Overrides parses OperatorOverrides into prefix -> operator key.
func (r Rate) Overrides() (map[string]string, error) {
	out := map[string]string{}
	for i, e := range strings.Split(r.OperatorOverrides, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			return nil, fmt.Errorf("config: SMSFLEET_RATE_OPERATOR_OVERRIDES entry %d %q: want +PREFIX=OPERATOR", i+1, e)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// Kafka is where receipts travel.
type Kafka struct {
	// Brokers, comma-separated; empty: no receipts role.
	Brokers []string `env:"BROKERS" envSeparator:","`
}

// Receipts tunes the receipts consumer.
type Receipts struct {
	Group string `env:"GROUP" envDefault:"smsfleet-receipts"`
	// ParkTTL is how long a receipt whose SMS is not marked sent yet waits
	// for it before it is dropped.
	ParkTTL time.Duration `env:"PARK_TTL" envDefault:"1h"`
}
