package guard

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/ratelimit"
)

// ratePrefix starts the intake token buckets' keys.
const ratePrefix = "sf:gr:"

// Rate is the intake rate limit of every application: a token bucket per
// application (GCRA, ratelimit.Limiter on Redis time), shared by every
// intake pod on the Redis.
type Rate struct{ l *ratelimit.Limiter }

// NewRate makes the intake rate limit on rdb.
func NewRate(rdb redis.UniversalClient) *Rate {
	return &Rate{l: ratelimit.NewLimiter(rdb, ratelimit.Options{Prefix: ratePrefix})}
}

// Burst is the bucket's size: the configured one, else max(1, ceil(rate)).
func Burst(g config.Guards) int {
	if g.Burst > 0 {
		return g.Burst
	}
	return max(1, int(math.Ceil(g.Rate)))
}

// Take takes one request of app from its bucket: nil, or the refusal
// naming the limit and the wait until a request would be allowed.
func (r *Rate) Take(ctx context.Context, app string, rules Rules) (*Refusal, time.Duration, error) {
	if rules.Rate <= 0 {
		return nil, 0, nil
	}
	d, err := r.l.Allow(ctx, ratelimit.Request{Key: app, Limit: ratelimit.Limit{Rate: rules.Rate, Burst: Burst(rules.Guards)}, Cost: 1})
	if err != nil {
		return nil, 0, fmt.Errorf("guard: intake rate of %s: %w", app, err)
	}
	if d.Allowed {
		return nil, 0, nil
	}
	return refuse(RuleRate, "rate limit of application %s exceeded: guards.rate %g requests per second, guards.burst %d; retry after %d seconds",
		app, rules.Rate, Burst(rules.Guards), RetryAfterSeconds(d.RetryAfter)), d.RetryAfter, nil
}

// RetryAfterSeconds is a wait in whole seconds, rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }
