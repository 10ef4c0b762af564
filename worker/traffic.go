package worker

import (
	"context"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/traffic"
	"github.com/smsfleet/smsfleet/worker/route"
)

// pausedDelay is how long an SMS of a paused application waits before its
// task looks again: a resume takes effect within it (plus the watcher's
// poll). Waiting uses no attempt (a Deferred is not a failure).
const pausedDelay = 5 * time.Second

// paused holds the SMS of an application the operator paused
// (POST /api/v1/admin/applications/{code}): deferred, not failed, as a
// rate limit defers them. It reports whether it held it.
func (s *Sender) paused(it *item) bool {
	if s.Paused == nil || !s.Paused(it.l.App) {
		return false
	}
	d := pausedDelay + rand.N(pausedDelay/4)
	it.verdict, it.err = verdict{fate: fateHeld}, &Deferred{Delay: d, Reason: "application " + it.l.App + " paused by the operator"}
	return true
}

// acceptances are the batch's SMS a provider accepted in this run.
func (s *Sender) acceptances(items []*item) []traffic.Accept {
	if s.Quality == nil {
		return nil
	}
	var as []traffic.Accept
	at := s.Now()
	for _, it := range items {
		if it.verdict.fate == fateSent && it.sent.err == nil && it.sent.res.Ref != "" {
			as = append(as, traffic.Accept{Provider: it.sent.res.Provider, Ref: it.sent.res.Ref, Country: route.CountryOf(it.l.To), At: at})
		}
	}
	return as
}

// noteAccepted counts acceptances for the delivery quality of their
// providers (one round trip), after the SMS's own writes: a receipt that
// comes first is counted all the same (traffic.Quality). A failure only
// costs the figures these SMS: it is logged, and the SMS go on.
func (s *Sender) noteAccepted(ctx context.Context, as []traffic.Accept) {
	if s.Quality == nil || len(as) == 0 {
		return
	}
	if err := s.Quality.Accepted(ctx, as); err != nil {
		s.Log.Warn("delivery quality: acceptances not counted", zap.Int("sms", len(as)), zap.Error(err))
	}
}
