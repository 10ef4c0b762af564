package config

import (
	"fmt"
	"strings"
	"time"
)

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
