package worker

import (
	"context"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/worker/route"
)

// admit lets an SMS go only when a provider of its route is available and
// its operator's rate limit has room (Rates). One that may not go waits
// without using an attempt: it has not been begun yet.
func (s *Sender) admit(ctx context.Context, items []*item) {
	for _, it := range items {
		if s.paused(it) {
			continue
		}
		it.cands = s.candidates(it)
		first := firstAvailable(it.cands)
		if first == nil {
			// Not begun: the SMS stays queued (or, if sticky, sending with
			// its attempts as they were) and uses no attempt.
			it.verdict = verdict{fate: fateWait, reason: "every provider of the route is refused by its breaker"}
			if it.sticky != "" {
				it.verdict.reason = "waiting for " + it.sticky + ", which may have accepted the SMS (ambiguous failure)"
			}
			continue
		}
		it.op = s.Rates.operatorOf(it.l.To)
		if err := s.Rates.admit(ctx, it.op, first, it.l.Type, it.msg.parts, sms.MessageCodeOf(it.l.ID), it.l.SendRate); err != nil {
			// A *Deferred (the operator's budget) or a limiter error: either
			// way the task comes back, and waiting never uses an attempt.
			it.verdict, it.err = verdict{fate: fateHeld}, err
		}
	}
}

// candidates are the providers an SMS may go to. After an ambiguous
// failure at provider P (P may have accepted it) that is P alone, until P
// answers or the SMS's validity ends: any other provider could put it on
// the phone a second time, and only P can recognise the retry by its
// idempotency key. While P's breaker is open the SMS waits (decision 17).
func (s *Sender) candidates(it *item) []*route.Member {
	if it.l.LastAmbiguous && it.l.LastProvider != "" {
		if m := s.Router.Member(it.l.LastProvider); m != nil {
			it.sticky = m.Name()
			return []*route.Member{m}
		}
		// P is no longer configured: nobody can answer for it.
		it.log.Warn("the provider of an ambiguous attempt is no longer configured; the route takes the SMS", zap.String("provider", it.l.LastProvider))
	}
	return s.Router.Candidates(it.l.App, it.l.To, "")
}
