package fleet

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/ratelimit"
	"github.com/smsfleet/smsfleet/worker"
)

// buildRates reads the rate-limit configuration; a bad limit or override
// stops the process at start-up, not at the first SMS. With a nil rdb it
// only validates (fleet.New does that before it connects, so a bad limit
// is reported as such even when Redis is down).
func buildRates(cfg config.Config, rdb redis.UniversalClient) (*worker.Rates, error) {
	rc := cfg.Rate
	limits, err := ratelimit.ParseLimits(rc.Limits)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	overrides, err := rc.Overrides()
	if err != nil {
		return nil, err
	}
	ops, err := ratelimit.NewOperators(overrides)
	if err != nil {
		return nil, fmt.Errorf("config: SMSFLEET_RATE_OPERATOR_OVERRIDES: %w", err)
	}
	if rdb == nil {
		return nil, nil
	}
	lim := ratelimit.NewLimiter(rdb, ratelimit.Options{
		OTPShare: rc.OTPShare, DecreaseFactor: rc.Decrease, Floor: rc.Floor, RecoverStep: rc.RecoverStep, RecoverEvery: rc.RecoverEvery,
	})
	return &worker.Rates{Operators: ops, Limits: limits, Limiter: lim, Messages: ratelimit.NewMessageRates(rdb, "", nil),
		MaxInlineWait: rc.MaxInlineWait, MaxWaiters: rc.Waiters}, nil
}
