package worker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/ratelimit"
	"github.com/smsfleet/smsfleet/worker/route"
)

// Rates is the fleet-wide per-operator rate limiting of the send path.
type Rates struct {
	Operators *ratelimit.Operators
	Limits    ratelimit.Limits
	Limiter   *ratelimit.Limiter
	// Messages holds each message's SMS to its send_rate (nil: the
	// send_rate is not enforced, as in a fleet without Redis).
	Messages *ratelimit.MessageRates
	// MaxInlineWait is the longest a handler waits for the limiter while
	// holding its concurrency slot, and MaxWaiters how many handlers of
	// one process may wait for one limiter key at once. Every other SMS
	// to that operator goes back to the queue, so one saturated operator
	// never fills the slots that other operators' SMS need (no head-of-line
	// blocking), while the few waiters keep it saturated between the
	// waves in which asynq brings deferred tasks back (its retry times
	// have one-second resolution).
	MaxInlineWait time.Duration
	MaxWaiters    int

	mu      sync.Mutex
	waiters map[string]chan struct{}
}

// waiterSlot takes one of key's waiter slots, if one is free; release
// gives it back.
func (r *Rates) waiterSlot(key string) (release func(), ok bool) {
	r.mu.Lock()
	if r.waiters == nil {
		r.waiters = map[string]chan struct{}{}
	}
	ch := r.waiters[key]
	if ch == nil {
		ch = make(chan struct{}, max(r.MaxWaiters, 1))
		r.waiters[key] = ch
	}
	r.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, true
	default:
		return nil, false
	}
}

// admit charges an SMS of cost segments of message code to its message's
// send_rate (sendRate SMS per second; 0: none) and then to its operator's
// budget (for the provider that will take it first). It returns nil when
// the SMS may go now, or a *Deferred when it must wait: the task then
// comes back after the limiter's delay without using an attempt.
//
// The two limits are checked one after the other, not atomically: an SMS
// the message's rate lets through and its operator then defers has spent
// one of its message's slots, so a message may go a little slower than
// its send_rate while its operator is saturated, never faster.
func (r *Rates) admit(ctx context.Context, op ratelimit.Operator, first *route.Member, typ sms.Type, cost int, code string, sendRate int) error {
	if r == nil {
		return nil
	}
	if sendRate > 0 && r.Messages != nil {
		err := r.wait(ctx, ratelimit.MessageKey(code), func(ctx context.Context) (ratelimit.Decision, error) {
			return r.Messages.Allow(ctx, code, sendRate)
		})
		if err != nil {
			return err
		}
	}
	if r.Limiter == nil {
		return nil
	}
	key, lim, ok := r.Limits.For(first.Name(), op)
	if !ok {
		return nil // no limit applies: unlimited
	}
	req := ratelimit.Request{Key: key, Limit: lim, Cost: cost, Marketing: typ == sms.Marketing}
	return r.wait(ctx, key, func(ctx context.Context) (ratelimit.Decision, error) { return r.Limiter.Allow(ctx, req) })
}

// wait asks allow for the limiter key until it admits the SMS (nil) or the
// SMS must go back to the queue (a *Deferred). The limiters do not
// reserve: every denied caller hears the same short wait (the next
// token). A handler that holds one of the key's few waiter slots polls
// until it gets a token or MaxInlineWait runs out; the others go back to
// the queue at once, so a key that is out of budget (an operator, or a
// message at its send_rate) never holds the slots other SMS need.
func (r *Rates) wait(ctx context.Context, key string, allow func(context.Context) (ratelimit.Decision, error)) error {
	var release func()
	waited := time.Duration(0)
	for {
		d, err := allow(ctx)
		if err != nil {
			if release != nil {
				release()
			}
			return fmt.Errorf("rate limit %s: %w", key, err)
		}
		if d.Allowed {
			if release != nil {
				release()
			}
			metrics.RateLimitWait.WithLabelValues(groupKey(key), "admitted").Observe(waited.Seconds())
			return nil
		}
		// A little jitter keeps the waiters from coming back as one herd.
		wait := d.RetryAfter + rand.N(d.RetryAfter/4+time.Millisecond)
		if release == nil {
			var ok bool
			if noInlineWait(ctx) {
				ok = false // a batch defers its rate-limited SMS to follow-ups
			} else {
				release, ok = r.waiterSlot(groupKey(key))
			}
			if !ok {
				return r.deferred(key, wait, waited)
			}
		}
		if waited+wait > r.MaxInlineWait {
			release()
			return r.deferred(key, wait, waited)
		}
		select {
		case <-ctx.Done():
			release()
			return ctx.Err()
		case <-time.After(wait):
		}
		waited += wait
	}
}

// deferred is the *Deferred of an SMS that key's limiter did not admit
// after waited: it comes back after the limiter's wait (at least
// deferFloor), with jitter.
func (r *Rates) deferred(key string, wait, waited time.Duration) error {
	metrics.RateLimitWait.WithLabelValues(groupKey(key), "deferred").Observe(waited.Seconds())
	delay := max(wait, deferFloor)
	return &Deferred{Delay: delay + rand.N(delay/2+time.Millisecond), Reason: "rate limit of " + key}
}

// groupKey is the waiter slots and the metric label of a limiter key:
// every message's own key shares one, "msg", so the slot map and the
// metric's series stay bounded however many messages pass through a
// process (an operator key is its own).
func groupKey(key string) string {
	if strings.HasPrefix(key, ratelimit.MessageKey("")) {
		return "msg"
	}
	return key
}

// deferFloor is the shortest time a rate-limited task stays out of the
// queue. asynq brings a deferred task back on its forwarder's next tick
// (SMSFLEET_WORKER_DELAYED_CHECK_INTERVAL) once the task's retry second
// has come, so a short floor keeps a backlog cycling at the forwarder's
// pace, which the few waiters bridge; a shorter one would only spin the
// limiter.
const deferFloor = 200 * time.Millisecond

// throttled lowers the effective rate of the operator at the provider that
// throttled us, fleet-wide.
func (r *Rates) throttled(ctx context.Context, op ratelimit.Operator, providerName string, log *zap.Logger) {
	if r == nil || r.Limiter == nil {
		return
	}
	key, lim, ok := r.Limits.For(providerName, op)
	if !ok {
		return
	}
	if err := r.Limiter.Throttled(ctx, key, lim); err != nil {
		log.Warn("could not lower the effective rate", zap.String("key", key), zap.Error(err))
		return
	}
	log.Info("provider throttled: effective rate lowered", zap.String("key", key), zap.String("provider", providerName))
}

// operatorOf detects the recipient's operator ("" without rate limiting).
func (r *Rates) operatorOf(phone string) ratelimit.Operator {
	if r == nil || r.Operators == nil {
		return ratelimit.Operator{}
	}
	return r.Operators.Of(phone)
}

// isThrottle reports whether a provider call was throttled.
func isThrottle(err error) bool { return err != nil && provider.ClassOf(err) == provider.Throttled }
