package worker

import (
	"context"
)

// admit lets an SMS go only when a provider of its route is available and
// its operator's rate limit has room (Rates). One that may not go waits
// without using an attempt: it has not been begun yet.
func (s *Sender) admit(ctx context.Context, items []*item) {
	for _, it := range items {
		sticky := ""
		if it.l.LastAmbiguous {
			// A retry after an ambiguous failure goes back to that provider.
			sticky = it.l.LastProvider
		}
		it.cands = s.Router.Candidates(it.l.App, it.l.To, sticky)
		first := firstAvailable(it.cands)
		if first == nil {
			it.verdict = verdict{fate: fateWait, reason: "every provider of the route is refused by its breaker"}
			continue
		}
		it.op = s.Rates.operatorOf(it.l.To)
		if err := s.Rates.admit(ctx, it.op, first, it.l.Type, it.msg.parts); err != nil {
			// A *Deferred (the operator's budget) or a limiter error: either
			// way the task comes back, and waiting never uses an attempt.
			it.verdict, it.err = verdict{fate: fateHeld}, err
		}
	}
}
